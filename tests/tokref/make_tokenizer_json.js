#!/usr/bin/env node
'use strict';
// make_tokenizer_json.js OUTDIR: write Hugging Face tokenizer.json files built from tiktoken ranks.
//
//   OUTDIR/hf-gpt2-strings/tokenizer.json  GPT-2 style, merges as "a b" strings
//   OUTDIR/hf-gpt2-pairs/tokenizer.json    the same, merges as ["a", "b"] pairs
//   OUTDIR/hf-cl100k/tokenizer.json        Llama-3 / Qwen2 style: Split(cl100k regex, Isolated) then
//                                          ByteLevel(use_regex=false), BPE with ignore_merges
//   OUTDIR/hf-o200k/tokenizer.json         the same from o200k_base (the tests use it as the reference
//                                          for o200k on the 1 MB pieces, where tiktoken npm fails)
//
// Vocab keys are token bytes through GPT-2's bytes_to_unicode; ids are tiktoken ranks. Merges are
// derived from the ranks: for every token of two or more bytes and every split of it into two
// tokens both in the vocab, a merge; ordered by the merged token's rank, then the left part's rank.
// Special tokens are added_tokens (special: true).
//
// Each file is then loaded with the npm tokenizers package (Tokenizer.fromFile) and must give the
// same ids as tiktoken's encode_ordinary on a sample text.
const { need, loadEncoding, loadEncoderJson, bytesToUnicode, deriveMerges, vocabOf, fs, path, mkdirp } = require('./lib');

function addedTokens(e, normalized) {
  return Object.entries(e.special)
    .sort((a, b) => a[1] - b[1])
    .map(([content, id]) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true,
    }));
}

function bpeModel(vocab, merges, ignoreMerges) {
  return {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
    end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: ignoreMerges,
    vocab, merges,
  };
}

function tokenizerJson({ added, preTokenizer, model }) {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    // What GPT-2's and Llama-3's published files carry; it changes no ids (no special tokens
    // are added by a ByteLevel post-processor).
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model,
  };
}

function write(file, obj) {
  mkdirp(path.dirname(file));
  fs.writeFileSync(file, JSON.stringify(obj));
}

const SAMPLE = [
  'Hello world! It\'s a test: they\'re, we\'ve, I\'m, you\'ll, he\'d. DON\'T SHOUT\'S \'LL',
  '  indented\tcode() {\r\n\treturn 42;   \n}\n\n\n   ',
  'Numbers 1234567890 3.14159 and 2024-05-01; émigré naïve Ελληνικά русский 中文字符 日本語のテキスト',
  'عربي हिन्दी 👩‍👩‍👧‍👦 🇺🇸 e\u0301 a\u0308\u0301 \u00a0\u0085\u3000\u001c\u001d x',
  'The <|endoftext|> marker is plain text here. <|fim_prefix|> too.',
].join('\n');

async function check(file, name, sample) {
  const { Tokenizer } = need('tokenizers');
  const { get_encoding } = need('tiktoken');
  const tok = Tokenizer.fromFile(file);
  const enc = get_encoding(name);
  const want = Array.from(enc.encode_ordinary(sample));
  enc.free();
  // Special added tokens would be matched inside the text by HF; the sample's special-token
  // text is compared without them (see ref_encode.js), so strip them for the check.
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  j.added_tokens = j.added_tokens.filter((t) => !t.special);
  const plain = Tokenizer.fromString(JSON.stringify(j));
  const got = (await plain.encode(sample, null, { addSpecialTokens: false })).getIds();
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${file}: ids differ from tiktoken ${name} on the sample:\n hf  ${got}\n tik ${want}`);
  }
  // With the specials present, the literal marker is one id.
  const withSpecial = (await tok.encode('a<|endoftext|>b', null, { addSpecialTokens: false })).getIds();
  const eot = loadEncoderJson(name).special_tokens['<|endoftext|>'];
  if (withSpecial.length !== 3 || withSpecial[1] !== eot) {
    throw new Error(`${file}: HF gives <|endoftext|> the ids ${withSpecial}, expected ${eot} in the middle`);
  }
  return { n: got.length, withSpecial };
}

async function main() {
  const out = process.argv[2];
  if (!out || out === '--help' || out === '-h') {
    process.stderr.write('usage: make_tokenizer_json.js OUTDIR\n');
    process.exit(out ? 0 : 2);
  }
  const map = bytesToUnicode();

  const g = loadEncoding('gpt2');
  const gMerges = deriveMerges(g, map);
  const gVocab = vocabOf(g, map);
  gVocab['<|endoftext|>'] = g.special['<|endoftext|>']; // as in GPT-2's published vocab
  const gpt2Pre = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const gFiles = {
    'hf-gpt2-strings': gMerges.map(([a, b]) => `${a} ${b}`),
    'hf-gpt2-pairs': gMerges,
  };
  for (const [dir, merges] of Object.entries(gFiles)) {
    const file = path.join(out, dir, 'tokenizer.json');
    write(file, tokenizerJson({
      added: addedTokens(g, true), preTokenizer: gpt2Pre, model: bpeModel(gVocab, merges, false),
    }));
    const r = await check(file, 'gpt2', SAMPLE);
    process.stderr.write(`${file}: ${Object.keys(gVocab).length} vocab, ${merges.length} merges; ` +
      `sample ${r.n} ids equal to tiktoken gpt2; "a<|endoftext|>b" with specials: ${r.withSpecial}\n`);
  }

  for (const [name, dir] of [['cl100k_base', 'hf-cl100k'], ['o200k_base', 'hf-o200k']]) {
    const c = loadEncoding(name);
    const cMerges = deriveMerges(c, map);
    // The specials are in the model's vocab too: HF keeps an added token's id from the file only
    // when the model knows the token; otherwise it numbers added tokens from the vocab size on
    // (cl100k has a hole at 100256, so <|endoftext|> would become 100256 instead of 100257).
    const cVocab = vocabOf(c, map);
    for (const [t, id] of Object.entries(c.special)) cVocab[t] = id;
    const file = path.join(out, dir, 'tokenizer.json');
    write(file, tokenizerJson({
      added: addedTokens(c, false),
      preTokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: c.patStr }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      model: bpeModel(cVocab, cMerges.map(([a, b]) => `${a} ${b}`), true),
    }));
    const r = await check(file, name, SAMPLE);
    process.stderr.write(`${file}: ${Object.keys(cVocab).length} vocab, ${cMerges.length} merges; ` +
      `sample ${r.n} ids equal to tiktoken ${name}; "a<|endoftext|>b" with specials: ${r.withSpecial}\n`);
  }
}

main().catch((e) => { process.stderr.write(`${e.stack || e}\n`); process.exit(1); });
