// node encode_docs.js ENCODING DOCS_JSON OUT
// The ids a mount with a tiktoken encoding must serve: for each document of DOCS_JSON (a JSON
// array of strings, as tests/lib/corpus.py writes it) tiktoken's encode_ordinary, then the
// end-of-text id. Written to OUT as little-endian uint16 (uint32 when the ids need it: name OUT
// *.u32).
"use strict";
const fs = require("fs");
const { get_encoding } = require("tiktoken");

const [encName, docsPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: node encode_docs.js ENCODING DOCS_JSON OUT(.u16|.u32)");
  process.exit(2);
}
const enc = get_encoding(encName);
const eot = { gpt2: 50256, r50k_base: 50256, p50k_base: 50256, cl100k_base: 100257,
              o200k_base: 199999 }[encName];
const docs = JSON.parse(fs.readFileSync(docsPath, "utf8"));
const ids = [];
for (const d of docs) {
  for (const id of enc.encode_ordinary(d)) ids.push(id);
  ids.push(eot);
}
const wide = outPath.endsWith(".u32");
const arr = wide ? Uint32Array.from(ids) : Uint16Array.from(ids);
fs.writeFileSync(outPath, Buffer.from(arr.buffer));
console.log(`encode_docs: ${docs.length} documents, ${ids.length} ids (${encName})`);
