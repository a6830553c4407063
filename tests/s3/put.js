// put.js PORT BUCKET KEY FILE: replace one object in s3rver (straight to its port, signed with its
// default key), as another writer of the bucket would.
'use strict';
const fs = require('fs');
const http = require('http');
const aws4 = require('aws4');

const [port, bucket, key, file] = process.argv.slice(2);
const body = fs.readFileSync(file);
const opts = {
  host: '127.0.0.1', port: Number(port), method: 'PUT', service: 's3', region: 'us-east-1',
  path: '/' + bucket + '/' + key.split('/').map(encodeURIComponent).join('/'),
  headers: { 'Content-Length': body.length }, body,
};
aws4.sign(opts, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
const req = http.request(opts, (res) => {
  res.resume();
  res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1));
});
req.on('error', (e) => { console.error('put.js: ' + e.message); process.exit(1); });
req.end(body);
