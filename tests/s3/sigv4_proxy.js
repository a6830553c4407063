// sigv4_proxy.js: an HTTP proxy in front of s3rver that checks every request's AWS Signature V4
// with an independent signer (npm aws4), because s3rver itself checks only the access key id
// (its V4 check is unimplemented: lib/middleware/authentication.js).
//
//   startProxy({target: 'http://127.0.0.1:PORT', log: FILE, key, secret, region, token,
//               anonymous}) -> Promise<port>   (listens on 127.0.0.1, a free port)
//
// Signed mode: a request whose Authorization header does not verify (wrong key id, region,
// secret, missing x-amz-content-sha256, missing or wrong x-amz-security-token, or a signature
// that differs from aws4's over the headers the client says it signed) gets 403 with S3's
// SignatureDoesNotMatch document and is not forwarded. Anonymous mode: a request carrying any
// Authorization is refused the same way. Every request is logged as one JSON line:
// {"method","url","verdict":"ok"|"bad","why"}; the port it listens on is written to the port file
// once it listens.
'use strict';
const http = require('http');
const fs = require('fs');
const aws4 = require('aws4');

// null when the request's signature is right, else why not.
function verify(req, args) {
  const auth = req.headers.authorization;
  if (args.anonymous)
    return auth ? 'an anonymous request carries Authorization' : null;
  if (!auth) return 'no Authorization header';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'malformed Authorization: ' + auth.replace(/Signature=\w+/, 'Signature=...');
  const [, keyId, day, region, signedList, signature] = m;
  if (keyId !== args.key) return 'key id ' + keyId + ' is not ' + args.key;
  if (region !== args.region) return 'signed for region ' + region + ', not ' + args.region;
  const date = req.headers['x-amz-date'];
  if (!date || date.slice(0, 8) !== day) return 'x-amz-date missing or not of the credential day';
  if (!req.headers['x-amz-content-sha256']) return 'no x-amz-content-sha256 header';
  if (args.token && req.headers['x-amz-security-token'] !== args.token)
    return 'x-amz-security-token missing or wrong';
  const names = signedList.split(';');
  for (const need of ['host', 'x-amz-date', 'x-amz-content-sha256'])
    if (!names.includes(need)) return need + ' is not signed';
  if (args.token && !names.includes('x-amz-security-token'))
    return 'x-amz-security-token is not signed';
  const headers = {};
  const include = {};
  for (const n of names) {
    if (req.headers[n] === undefined) return 'signed header ' + n + ' is absent';
    headers[n] = req.headers[n];
    include[n] = true;
  }
  const opts = {
    method: req.method, path: req.url, service: 's3', region, headers,
    extraHeadersToInclude: include,
  };
  const creds = { accessKeyId: args.key, secretAccessKey: args.secret };
  if (args.token) creds.sessionToken = args.token;
  aws4.sign(opts, creds);
  const expect = /Signature=([0-9a-f]{64})/.exec(opts.headers.Authorization)[1];
  const expectSigned = /SignedHeaders=([^,]+)/.exec(opts.headers.Authorization)[1];
  if (expectSigned !== signedList) return 'signed headers ' + signedList + ', aws4 signs ' + expectSigned;
  if (expect !== signature) return 'signature differs from aws4\'s';
  return null;
}

function makeProxy(args) {
const target = new URL(args.target);
const log = fs.openSync(args.log, 'a');
function record(req, verdict, why) {
  fs.writeSync(log, JSON.stringify({ method: req.method, url: req.url, verdict, why }) + '\n');
}
const server = http.createServer((req, res) => {
  const why = verify(req, args);
  if (why) {
    record(req, 'bad', why);
    res.writeHead(403, { 'Content-Type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>' +
            '<Message>' + why.replace(/[<&>]/g, ' ') + '</Message></Error>');
    req.resume();
    return;
  }
  record(req, 'ok', '');
  const up = http.request({
    host: target.hostname, port: target.port, method: req.method, path: req.url,
    headers: req.headers,
  }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
  req.pipe(up);
});
server.keepAliveTimeout = 30000;
return new Promise((resolve, reject) => {
  server.on('error', reject);
  server.listen(0, '127.0.0.1', () => resolve(server.address().port));
});
}

module.exports = { startProxy: makeProxy };
