// kat.js: the verifier of sigv4_proxy.js (npm aws4) against AWS's own published Signature V4
// examples for S3 ("Examples of signature calculations", GET Object with a Range, and a
// ListObjects GET Bucket), so that the proxy's check is itself checked against known answers.
// Exits 1 on any difference.
'use strict';
const aws4 = require('aws4');

const creds = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
                secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const cases = [
  { name: 'GET Object with Range', path: '/test.txt',
    headers: { Range: 'bytes=0-9', 'x-amz-content-sha256': empty, 'x-amz-date': '20130524T000000Z' },
    include: { range: true },
    signed: 'host;range;x-amz-content-sha256;x-amz-date',
    signature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41' },
  { name: 'GET Bucket (list objects)', path: '/?max-keys=2&prefix=J',
    headers: { 'x-amz-content-sha256': empty, 'x-amz-date': '20130524T000000Z' },
    include: {},
    signed: 'host;x-amz-content-sha256;x-amz-date',
    signature: '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7' },
];
let bad = 0;
for (const c of cases) {
  const opts = { host: 'examplebucket.s3.amazonaws.com', path: c.path, method: 'GET',
                 service: 's3', region: 'us-east-1', headers: Object.assign({}, c.headers),
                 extraHeadersToInclude: c.include };
  aws4.sign(opts, creds);
  const auth = opts.headers.Authorization;
  const want = 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
               'SignedHeaders=' + c.signed + ', Signature=' + c.signature;
  if (auth !== want) {
    console.error('kat.js: ' + c.name + ':\n  got  ' + auth + '\n  want ' + want);
    bad++;
  }
}
if (bad) process.exit(1);
console.log('kat.js: aws4 gives AWS\'s published signatures (' + cases.length + ' examples)');
