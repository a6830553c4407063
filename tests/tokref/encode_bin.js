#!/usr/bin/env node
'use strict';
// encode_bin.js --tiktoken NAME IN OUT [--docs] [--eot ID]
//
// The reference ids of test_bigtext.sh, written as little-endian uint16 (the mount's dtype for
// these vocabularies) so that large files compare with cmp, not as decimal text:
//   default  IN is one text file: tiktoken (npm) get_encoding(NAME).encode_ordinary of its
//            UTF-8 text (invalid sequences as U+FFFD, as ref_encode.js), then --eot ID if given
//   --docs   IN holds documents as records (4-byte LE length, bytes; tests/lib/bigtext.py docs):
//            each encoded on its own, each followed by --eot ID
const { need, fs } = require('./lib');

const args = process.argv.slice(2);
let name = null, docs = false, eot = null;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tiktoken') name = args[++i];
  else if (args[i] === '--docs') docs = true;
  else if (args[i] === '--eot') eot = Number(args[++i]);
  else files.push(args[i]);
}
if (!name || files.length !== 2) {
  process.stderr.write('usage: encode_bin.js --tiktoken NAME IN OUT [--docs] [--eot ID]\n');
  process.exit(2);
}
const { get_encoding } = need('tiktoken');
const enc = get_encoding(name);
const out = fs.openSync(files[1], 'w');
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function put(ids) {
  const buf = Buffer.alloc(ids.length * 2);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] > 0xffff) throw new Error(`id ${ids[i]} does not fit uint16`);
    buf.writeUInt16LE(ids[i], 2 * i);
  }
  fs.writeSync(out, buf);
}

const data = fs.readFileSync(files[0]);
if (!docs) {
  put(enc.encode_ordinary(decoder.decode(data)));
  if (eot !== null) put([eot]);
} else {
  for (let at = 0; at < data.length;) {
    const len = data.readUInt32LE(at);
    put(enc.encode_ordinary(decoder.decode(data.subarray(at + 4, at + 4 + len))));
    if (eot !== null) put([eot]);
    at += 4 + len;
  }
}
fs.closeSync(out);
enc.free();
