#!/usr/bin/env node
'use strict';
// ref_encode.js (--tiktoken NAME | --hf TOKENIZER_JSON) [-o OUTDIR] [--time] FILE...
//
// The reference side of tokfs's exactness tests. For each FILE: read its bytes, decode them as
// UTF-8 with U+FFFD for each maximal invalid subpart (TextDecoder, the same as Python's
// errors='replace'; ignoreBOM so that a leading U+FEFF stays text, as tokfs keeps it), and encode:
//   --tiktoken NAME  tiktoken (npm) get_encoding(NAME).encode_ordinary(text)
//   --hf FILE        Hugging Face tokenizers (npm, native) encode(text, null, {addSpecialTokens: false})
// and write the ids the way `tokfs encode` prints them (decimal, single spaces, a newline) to
// OUTDIR/BASENAME.ids, or to stdout without -o. --time prints seconds per file (encode only) to
// stderr.
//
// HF matches the text of *special* added tokens (e.g. "<|endoftext|>") inside the input and emits
// their ids; tokfs treats special-token text in documents as ordinary text (like tiktoken's
// encode_ordinary), so the HF reference loads a copy of the tokenizer.json whose added_tokens keep
// only the non-special entries. Everything else (model, pre-tokenizer, non-special added tokens)
// is HF's own behaviour.
const { need, formatIds, fs, path, mkdirp } = require('./lib');

function usage(code) {
  process.stderr.write('usage: ref_encode.js (--tiktoken gpt2|cl100k_base|o200k_base | --hf TOKENIZER_JSON) [-o OUTDIR] [--time] FILE...\n');
  process.exit(code);
}

function decodeUtf8(buf) {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
}

function hfWithoutSpecials(file) {
  const { Tokenizer } = need('tokenizers');
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  j.added_tokens = (j.added_tokens || []).filter((t) => !t.special);
  return Tokenizer.fromString(JSON.stringify(j));
}

// Returns async (text) => Uint32Array|number[] and a release function.
function makeEncoder(kind, arg) {
  if (kind === 'tiktoken') {
    const { get_encoding } = need('tiktoken');
    const enc = get_encoding(arg);
    return { encode: async (text) => enc.encode_ordinary(text), free: () => enc.free() };
  }
  const tok = hfWithoutSpecials(arg);
  return {
    encode: async (text) => (await tok.encode(text, null, { addSpecialTokens: false })).getIds(),
    free: () => {},
  };
}

async function main() {
  const args = process.argv.slice(2);
  let kind = null, arg = null, out = null, time = false;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--tiktoken' || a === '--hf') { kind = a.slice(2); arg = args[++i]; }
    else if (a === '-o') out = args[++i];
    else if (a === '--time') time = true;
    else if (a === '-h' || a === '--help') usage(0);
    else files.push(a);
  }
  if (!kind || !arg || files.length === 0) usage(2);
  if (out) mkdirp(out);
  const enc = makeEncoder(kind, arg);
  try {
    for (const f of files) {
      const text = decodeUtf8(fs.readFileSync(f));
      const t0 = process.hrtime.bigint();
      const ids = await enc.encode(text);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (time) process.stderr.write(`${path.basename(f)}\t${s.toFixed(3)}\t${ids.length}\n`);
      const line = formatIds(ids);
      if (out) fs.writeFileSync(path.join(out, `${path.basename(f)}.ids`), line);
      else process.stdout.write(line);
    }
  } finally {
    enc.free();
  }
}

main().catch((e) => { process.stderr.write(`ref_encode.js: ${e.stack || e}\n`); process.exit(1); });
