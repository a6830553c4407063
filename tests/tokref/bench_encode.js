#!/usr/bin/env node
'use strict';
// bench_encode.js (--tiktoken NAME | --hf TOKENIZER_JSON) [--runs N] [--ids OUT] FILE
//   Times the reference tokenizers for bench/tokenizer.sh. Loads the tokenizer and decodes FILE
//   (UTF-8, U+FFFD repair) outside the clock, then times only the encode call
//   (tiktoken encode_ordinary / HF encode without special tokens, as ref_encode.js does), best of
//   --runs (default 1). Prints one JSON line: {"bytes", "seconds", "ids", "load_seconds"}.
//   --ids OUT writes the ids as `tokfs encode` prints them (not timed).
const { need, formatIds, fs, hfSpecialsAsText } = require('./lib');

async function main() {
  const a = process.argv.slice(2);
  let kind = null, arg = null, runs = 1, idsOut = null, file = null;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--tiktoken' || a[i] === '--hf') { kind = a[i].slice(2); arg = a[++i]; }
    else if (a[i] === '--runs') runs = Math.max(1, Number(a[++i]));
    else if (a[i] === '--ids') idsOut = a[++i];
    else file = a[i];
  }
  if (!kind || !file) {
    process.stderr.write('usage: bench_encode.js (--tiktoken NAME | --hf TOKENIZER_JSON) [--runs N] [--ids OUT] FILE\n');
    process.exit(2);
  }
  const buf = fs.readFileSync(file);
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
  const l0 = process.hrtime.bigint();
  let encode;
  if (kind === 'tiktoken') {
    const enc = need('tiktoken').get_encoding(arg);
    encode = async () => enc.encode_ordinary(text);
  } else {
    // Special added tokens kept as text, as in ref_encode.js (lib.js hfSpecialsAsText).
    const { tok } = hfSpecialsAsText(arg);
    encode = async () => (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
  }
  const load = Number(process.hrtime.bigint() - l0) / 1e9;
  let best = Infinity, ids = null;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    ids = await encode();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  if (idsOut) fs.writeFileSync(idsOut, formatIds(ids));
  process.stdout.write(JSON.stringify({ bytes: buf.length, seconds: best, ids: ids.length, load_seconds: load }) + '\n');
}

main().catch((e) => { process.stderr.write(`bench_encode.js: ${e.stack || e}\n`); process.exit(1); });
