#!/usr/bin/env node
'use strict';
// ref_encode.js (--tiktoken NAME | --hf TOKENIZER_JSON | --hf-match TOKENIZER_JSON | --tekken TEKKEN_JSON)
//               [-o OUTDIR] [--time] FILE...
//
// The reference side of tokfs's exactness tests. For each FILE: read its bytes, decode them as
// UTF-8 with U+FFFD for each maximal invalid subpart (TextDecoder, the same as Python's
// errors='replace'; ignoreBOM so that a leading U+FEFF stays text, as tokfs keeps it), and encode:
//   --tiktoken NAME  tiktoken (npm) get_encoding(NAME).encode_ordinary(text)
//   --hf FILE        Hugging Face tokenizers (npm, native) encode(text, null, {addSpecialTokens: false})
//                    with special added tokens kept as text (tokfs's special_tokens=text)
//   --hf-match FILE  the same with the file as it is: special added tokens in the text are matched
//                    (HF's default; tokfs's special_tokens=match)
//   --tekken FILE    Mistral's tekken.json as mistral-common's Tekkenizer.encode(text, bos=False,
//                    eos=False): tiktoken (npm) over the first default_vocab_size -
//                    default_num_special_tokens ranks with config.pattern and no special tokens,
//                    every id plus default_num_special_tokens
// and write the ids the way `tokfs encode` prints them (decimal, single spaces, a newline) to
// OUTDIR/BASENAME.ids, or to stdout without -o. --time prints seconds per file (encode only) to
// stderr.
//
// --hf: HF matches the text of *special* added tokens (e.g. "<|endoftext|>") inside the input and
// emits their ids; tokfs by default treats special-token text in documents as ordinary text (like
// tiktoken's encode_ordinary). lib.js hfSpecialsAsText loads the exact equivalent of HF's
// set_encode_special_tokens(true) (see there; the npm binding has no such call).
const { need, formatIds, fs, path, mkdirp, hfSpecialsAsText, checkNoPlaceholder, readJsonFile } = require('./lib');

function usage(code) {
  process.stderr.write('usage: ref_encode.js (--tiktoken gpt2|cl100k_base|o200k_base | --hf TOKENIZER_JSON | --hf-match TOKENIZER_JSON | --tekken TEKKEN_JSON) [-o OUTDIR] [--time] FILE...\n');
  process.exit(code);
}

function decodeUtf8(buf) {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
}

// Mistral tekken.json -> tiktoken's compact rank form and the id offset (mistral-common tekken.py:
// _reload_mergeable_ranks keeps vocab[:default_vocab_size - default_num_special_tokens], checks
// rank == index and that ranks 0..255 are the single bytes in order; encode adds the number of
// special tokens, which is default_num_special_tokens once the list is padded with fillers).
function tekkenRanks(file) {
  const j = readJsonFile(file);
  const c = j.config;
  const inner = c.default_vocab_size - c.default_num_special_tokens;
  if (!(inner > 256) || j.vocab.length < inner) throw new Error(`${file}: ${j.vocab.length} vocab entries, config wants ${inner}`);
  const fields = ['!', '0'];
  for (let i = 0; i < inner; i++) {
    const v = j.vocab[i];
    if (v.rank !== i) throw new Error(`${file}: vocab[${i}] has rank ${v.rank}`);
    if (i < 256 && !Buffer.from(v.token_bytes, 'base64').equals(Buffer.from([i]))) throw new Error(`${file}: rank ${i} is not the byte ${i}`);
    fields.push(v.token_bytes);
  }
  return { compact: fields.join(' '), pattern: c.pattern, offset: c.default_num_special_tokens };
}

// Returns async (text) => Uint32Array|number[] and a release function.
function makeEncoder(kind, arg) {
  if (kind === 'tiktoken') {
    const { get_encoding } = need('tiktoken');
    const enc = get_encoding(arg);
    return { encode: async (text) => enc.encode_ordinary(text), free: () => enc.free() };
  }
  if (kind === 'tekken') {
    const { Tiktoken } = need('tiktoken');
    const r = tekkenRanks(arg);
    const enc = new Tiktoken(r.compact, {}, r.pattern);
    return { encode: async (text) => Array.from(enc.encode_ordinary(text), (id) => id + r.offset), free: () => enc.free() };
  }
  const { Tokenizer } = need('tokenizers');
  const { tok, placeholders } = kind === 'hf' ? hfSpecialsAsText(arg) : { tok: Tokenizer.fromFile(arg), placeholders: [] };
  return {
    encode: async (text) => {
      checkNoPlaceholder(placeholders, text, 'the input');
      return (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
    },
    free: () => {},
  };
}

async function main() {
  const args = process.argv.slice(2);
  let kind = null, arg = null, out = null, time = false;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (['--tiktoken', '--hf', '--hf-match', '--tekken'].includes(a)) { kind = a.slice(2); arg = args[++i]; }
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
