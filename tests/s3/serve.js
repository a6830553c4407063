// serve.js: an S3-compatible store for tokfs's tests, on loopback, in one process (stop it with
// SIGTERM or SIGKILL to its PID: it starts no other process): s3rver (npm) on a free port, with
// BUCKET created and the files under DATA_DIR uploaded into it (key = path below DATA_DIR), and
// in front of it two verifying proxies (sigv4_proxy.js): one that accepts only requests signed with --key/--secret/--region (and
// --token when given), one that accepts only anonymous requests.
//
//   node serve.js --dir DIR --bucket NAME --data DATA_DIR --port-file FILE --log FILE
//        --key ID --secret SECRET --region R [--token T]
//
// s3rver answers virtual-hosted requests for NAME.s3.localhost (its service endpoint is set to
// "localhost"). Once everything listens, FILE holds "SIGNED_PORT ANON_PORT S3RVER_PORT".
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const { startProxy } = require('./sigv4_proxy.js');
const aws4 = require('aws4');
const S3rver = require('s3rver');

const args = {};
for (let i = 2; i < process.argv.length; i++) args[process.argv[i].replace(/^--/, '')] = process.argv[++i];

function walk(root, rel = '') {
  const out = [];
  for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? rel + '/' + name : name;
    const st = fs.statSync(path.join(root, r));
    if (st.isDirectory()) out.push(...walk(root, r));
    else out.push(r);
  }
  return out;
}

// PUT one object straight to s3rver (it knows the access key S3RVER and checks only the key id;
// put.js does the same from the command line).
function put(port, bucket, key, body) {
  return new Promise((resolve, reject) => {
    const opts = {
      host: '127.0.0.1', port, method: 'PUT', service: 's3', region: 'us-east-1',
      path: '/' + bucket + '/' + key.split('/').map(encodeURIComponent).join('/'),
      headers: { 'Content-Length': body.length }, body,
    };
    aws4.sign(opts, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    const req = http.request(opts, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('PUT ' + key + ': ' + res.statusCode))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const server = new S3rver({
    address: '127.0.0.1', port: 0, silent: !process.env.S3RVER_VERBOSE, directory: args.dir,
    serviceEndpoint: 'localhost', configureBuckets: [{ name: args.bucket, configs: [] }],
  });
  const { port } = await server.run();
  const keys = walk(args.data);
  for (let i = 0; i < keys.length; i += 16)
    await Promise.all(keys.slice(i, i + 16).map((k) => put(port, args.bucket, k, fs.readFileSync(path.join(args.data, k)))));
  const target = 'http://127.0.0.1:' + port;
  const signed = await startProxy({ target, log: args.log + '.signed', key: args.key,
                                    secret: args.secret, region: args.region, token: args.token });
  const anon = await startProxy({ target, log: args.log + '.anonymous', anonymous: true });
  fs.writeFileSync(args['port-file'], signed + ' ' + anon + ' ' + port + '\n');
}

main().catch((e) => { console.error('serve.js: ' + e.message); process.exit(1); });
