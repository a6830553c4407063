// node encode_docs_hf.js TOKENIZER_JSON EOT_ID DOCS_JSON OUT(.u16|.u32)
// The ids a mount with this tokenizer.json must serve (special_tokens=text, tokfs's default):
// for each document of DOCS_JSON (a JSON array of strings, as tests/lib/corpus.py writes it)
// Hugging Face tokenizers' encode without special tokens — special added tokens as text, through
// lib.js hfSpecialsAsText — then EOT_ID. Written to OUT as little-endian uint16, or uint32 when
// OUT ends in .u32.
'use strict';
const { hfSpecialsAsText, checkNoPlaceholder, fs } = require('./lib');

async function main() {
  const [file, eotText, docsPath, outPath] = process.argv.slice(2);
  if (!outPath) {
    process.stderr.write('usage: node encode_docs_hf.js TOKENIZER_JSON EOT_ID DOCS_JSON OUT(.u16|.u32)\n');
    process.exit(2);
  }
  const eot = Number(eotText);
  const { tok, placeholders } = hfSpecialsAsText(file);
  const docs = JSON.parse(fs.readFileSync(docsPath, 'utf8'));
  const ids = [];
  for (const d of docs) {
    checkNoPlaceholder(placeholders, d, 'a document');
    for (const id of (await tok.encode(d, null, { addSpecialTokens: false })).getIds()) ids.push(id);
    ids.push(eot);
  }
  const wide = outPath.endsWith('.u32');
  const arr = wide ? Uint32Array.from(ids) : Uint16Array.from(ids);
  if (!wide && ids.some((i) => i > 0xffff)) throw new Error('ids above 65535: write a .u32 file');
  fs.writeFileSync(outPath, Buffer.from(arr.buffer));
  process.stdout.write(`encode_docs_hf: ${docs.length} documents, ${ids.length} ids (${file})\n`);
}

main().catch((e) => { process.stderr.write(`encode_docs_hf.js: ${e.stack || e}\n`); process.exit(1); });
