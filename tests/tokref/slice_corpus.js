#!/usr/bin/env node
'use strict';
// slice_corpus.js SRC_DIR DST_DIR KB: DST_DIR/NAME = the first KB kB of every SRC_DIR/NAME, cut
// back to the start of a UTF-8 sequence (a valid file stays valid; invalid_utf8.txt keeps its
// invalid bytes). The smaller corpus of the configurations whose reference is slow or many
// (tests/lib/tokref.sh tokref_hf_data).
const fs = require('fs');
const path = require('path');

const [src, dst, kb] = process.argv.slice(2);
if (!src || !dst || !/^[0-9]+$/.test(kb || '')) {
  process.stderr.write('usage: slice_corpus.js SRC_DIR DST_DIR KB\n');
  process.exit(2);
}
fs.mkdirSync(dst, { recursive: true });
for (const name of fs.readdirSync(src).sort()) {
  const b = fs.readFileSync(path.join(src, name));
  let n = Math.min(b.length, Number(kb) * 1000);
  if (n < b.length) while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
  fs.writeFileSync(path.join(dst, name), b.subarray(0, n));
}
