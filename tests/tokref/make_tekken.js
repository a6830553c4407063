#!/usr/bin/env node
'use strict';
// make_tekken.js OUTDIR: a small, valid Mistral tekken.json and its Hugging Face twin.
//
//   OUTDIR/tekken/tekken.json         the tekken file (tokfs reads it as tokenizer=PATH/tekken.json)
//   OUTDIR/hf-tekken/tokenizer.json   the same tokenizer as a tokenizer.json, for the corpus files
//                                     where npm tiktoken cannot be the reference (tokref.sh
//                                     TOKREF_TIKTOKEN_FROM_HF)
//
// No real tekken.json is on npm, so this one is built from cl100k_base's ranks in the format
// mistral-common reads (src/mistral_common/tokens/tokenizers/tekken.py, Tekkenizer.from_file and
// _reload_mergeable_ranks):
//   {"version": 7, "type": "Tekkenizer",
//    "config": {"pattern", "num_vocab_tokens", "default_vocab_size", "default_num_special_tokens", "version": "v7"},
//    "vocab": [{"rank", "token_bytes" (base64), "token_str" (the text, or null when not UTF-8)}...],
//    "special_tokens": [{"rank", "token_str", "is_control"}...]}
// Its rules, which this file exercises:
//   - vocab[i].rank == i and ranks 0..255 are the single bytes 0..255 in order (cl100k's
//     single-byte tokens are moved to the front; the multi-byte ones follow in cl100k's order, so
//     BPE merges the same way);
//   - only vocab[:default_vocab_size - default_num_special_tokens] is used (here 90000 of
//     100256: the rest is cut off);
//   - special_tokens lists fewer than default_num_special_tokens entries; mistral-common pads the
//     list with "<SPECIAL_i>" fillers, so every text id is tiktoken's id + default_num_special_tokens
//     (1000); encode never matches special-token text (tiktoken with no special tokens).
// The pattern is the one Mistral's tekken files carry (Nemo / Pixtral).
const { need, loadEncoding, bytesToUnicode, byteLevelString, deriveMerges, fs, path, mkdirp } = require('./lib');

const PATTERN = '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|' +
  '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}|' +
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const NUM_SPECIAL = 1000;
const INNER = 90000;
const SPECIALS = ['<unk>', '<s>', '</s>', '[INST]', '[/INST]', '[AVAILABLE_TOOLS]', '[/AVAILABLE_TOOLS]',
  '[TOOL_RESULTS]', '[/TOOL_RESULTS]', '[TOOL_CALLS]', '[IMG]', '<pad>', '[IMG_BREAK]', '[IMG_END]',
  '[PREFIX]', '[MIDDLE]', '[SUFFIX]', '[SYSTEM_PROMPT]', '[/SYSTEM_PROMPT]', '[TOOL_CONTENT]'];

function utf8OrNull(buf) {
  try { return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf); } catch (e) { return null; }
}

const SAMPLE = 'Hello world! It\'s a TEST of McDonald\'s iPhone: 1234567 3.14\n\n  indented\r\n\tcode() {}\n' +
  'émigré naïve Ελληνικά русский 中文字符 日本語 عربي हिन्दी 👩‍👩‍👧‍👦 e\u0301 a\u0308 [INST] <s> x';

async function main() {
  const out = process.argv[2];
  if (!out || out === '-h' || out === '--help') {
    process.stderr.write('usage: make_tekken.js OUTDIR\n');
    process.exit(out ? 0 : 2);
  }
  const c = loadEncoding('cl100k_base');
  const single = [];
  for (let b = 0; b < 256; b++) {
    const r = c.byBytes.get(Buffer.from([b]).toString('latin1'));
    if (r === undefined) throw new Error(`cl100k_base has no token for the byte ${b}`);
    single.push(c.tokens[r]);
  }
  const tokens = single.concat(c.tokens.filter((t) => t.length > 1));
  const vocab = tokens.map((t, rank) => ({ rank, token_bytes: t.toString('base64'), token_str: utf8OrNull(t) }));
  const tekken = {
    version: 7,
    type: 'Tekkenizer',
    config: {
      pattern: PATTERN, num_vocab_tokens: tokens.length, default_vocab_size: INNER + NUM_SPECIAL,
      default_num_special_tokens: NUM_SPECIAL, version: 'v7',
    },
    vocab,
    special_tokens: SPECIALS.map((token_str, rank) => ({ rank, token_str, is_control: true })),
  };
  const tekFile = path.join(out, 'tekken', 'tekken.json');
  mkdirp(path.dirname(tekFile));
  fs.writeFileSync(tekFile, JSON.stringify(tekken));

  // The twin: byte-level BPE over the first INNER ranks, ids shifted by NUM_SPECIAL.
  const map = bytesToUnicode();
  const inner = tokens.slice(0, INNER);
  const e = { tokens: inner, byBytes: new Map(inner.map((t, r) => [t.toString('latin1'), r])) };
  const hfVocab = {};
  inner.forEach((t, r) => { hfVocab[byteLevelString(t, map)] = r + NUM_SPECIAL; });
  const hf = {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null, decoder: null,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab: hfVocab,
      merges: deriveMerges(e, map).map(([a, b]) => `${a} ${b}`),
    },
  };
  const hfFile = path.join(out, 'hf-tekken', 'tokenizer.json');
  mkdirp(path.dirname(hfFile));
  fs.writeFileSync(hfFile, JSON.stringify(hf));

  // Both must agree with each other and with the tekken ids read the way ref_encode.js reads them.
  const { Tiktoken } = need('tiktoken');
  const { Tokenizer } = need('tokenizers');
  const compact = ['!', '0'].concat(inner.map((t) => t.toString('base64'))).join(' ');
  const enc = new Tiktoken(compact, {}, PATTERN);
  const want = Array.from(enc.encode_ordinary(SAMPLE), (id) => id + NUM_SPECIAL);
  enc.free();
  const got = (await Tokenizer.fromFile(hfFile).encode(SAMPLE, null, { addSpecialTokens: false })).getIds();
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${hfFile} differs from tiktoken over ${tekFile} on the sample:\n hf  ${got}\n tik ${want}`);
  }
  if (want.some((id) => id < NUM_SPECIAL || id >= NUM_SPECIAL + INNER)) throw new Error('an id outside the text range');
  process.stderr.write(`make_tekken.js: ${tekFile} (${tokens.length} vocab, ${INNER} used, ${NUM_SPECIAL} special ids) ` +
    `and its twin agree on the sample (${want.length} ids)\n`);
}

main().catch((e) => { process.stderr.write(`make_tekken.js: ${e.stack || e}\n`); process.exit(1); });
