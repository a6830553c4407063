#!/usr/bin/env node
// tests/tokref/norm_diff.js — differential check of tokfs's normalizers (core/tokenize/normalize.c,
// through tests/unit/test_normalize --apply) against the reference, npm tokenizers' own normalizers
// (a tokenizer.json with the normalizer under test, Tokenizer.fromString(..).getNormalizer()).
//
//   node tests/tokref/norm_diff.js TEST_NORMALIZE CORPUS_DIR [CHARSMAP...]
//
// TEST_NORMALIZE: the built tests/unit/test_normalize (build/test_normalize); CORPUS_DIR: texts (tests/tokref/make_corpus.js makes
// them); CHARSMAP: SentencePiece precompiled charsmap blobs (a .model's normalizer_spec
// precompiled_charsmap), each tried as a Precompiled normalizer. Besides the corpus, every
// normalizer sees generated texts: every code point (one per line), the reference's NFD of that
// (to exercise composition), random runs of combining marks (canonical ordering) and random
// grapheme-cluster material (Precompiled). Prints one line per normalizer and text that
// differs, with the first difference; exits 1 if any. NORM_DIFF_ONLY=WORD: only the normalizers
// whose JSON contains WORD.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const t = require('tokenizers');

const [driver, corpusDir, ...charsmaps] = process.argv.slice(2);
if (!driver || !corpusDir) {
  console.error('usage: norm_diff.js TEST_NORMALIZE CORPUS_DIR [CHARSMAP...]');
  process.exit(2);
}

function refNormalizer(spec) {
  const j = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: spec,
    pre_tokenizer: null, post_processor: null, decoder: null,
    model: { type: 'WordLevel', vocab: { '[UNK]': 0 }, unk_token: '[UNK]' } };
  return t.Tokenizer.fromString(JSON.stringify(j)).getNormalizer();
}

const specs = [
  { type: 'NFC' }, { type: 'NFD' }, { type: 'NFKC' }, { type: 'NFKD' },
  { type: 'Lowercase' }, { type: 'StripAccents' }, { type: 'Nmt' },
  { type: 'Strip', strip_left: true, strip_right: true },
  { type: 'Strip', strip_left: false, strip_right: true },
  { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: false },
  { type: 'BertNormalizer', clean_text: false, handle_chinese_chars: false, strip_accents: true, lowercase: false },
  { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
  { type: 'Replace', pattern: { String: 'th' }, content: '' },
  { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
  { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
  { type: 'Replace', pattern: { Regex: 'e*' }, content: '-' },
  { type: 'Prepend', prepend: '\u2581' },
  { type: 'Sequence', normalizers: [] },
  { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
  { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] },
  { type: 'ByteLevel' },
];
for (const f of charsmaps) {
  const b64 = fs.readFileSync(f).toString('base64');
  specs.push({ type: 'Precompiled', precompiled_charsmap: b64 });
  specs.push({ type: 'Sequence', normalizers: [{ type: 'Precompiled', precompiled_charsmap: b64 },
    { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] });
}

// deterministic pseudo-random numbers (splitmix32-like)
let seed = 12345;
function rnd(n) {
  seed = (seed + 0x9e3779b9) | 0;
  let z = seed;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return ((z ^ (z >>> 16)) >>> 0) % n;
}

const texts = {};
for (const f of fs.readdirSync(corpusDir).sort()) {
  const buf = fs.readFileSync(path.join(corpusDir, f));
  texts[f] = new TextDecoder('utf-8').decode(buf); // the caller repairs invalid UTF-8 the same way
}
const all = [];
for (let cp = 0; cp < 0x110000; cp++) {
  if (cp >= 0xd800 && cp < 0xe000) continue;
  if (cp === 10) continue;
  all.push(String.fromCodePoint(cp));
}
texts['gen:every_code_point'] = all.join('\n');
texts['gen:every_code_point_nfd'] = t.nfdNormalizer().normalizeString(texts['gen:every_code_point']);
texts['gen:every_code_point_nfkd'] = t.nfkdNormalizer().normalizeString(texts['gen:every_code_point']);
const marks = all.filter((c) => /\p{M}/u.test(c));
const bases = 'aeiouAEIOUnNcCsSzZ\u03b1\u03c9\u0391\u0415\u0627\u05d0\u0915\u1100\u1161\u11a8\uac00 '.split('');
let s = '';
for (let i = 0; i < 60000; i++) {
  s += bases[rnd(bases.length)];
  const k = rnd(5);
  for (let j = 0; j < k; j++) s += marks[rnd(marks.length)];
}
texts['gen:marks'] = s;
const gm = ['a', 'e', 'A', '\r', '\n', '\r\n', ' ', '\u0301', '\u0308', '\u0327', '\u200d', '\u200c',
  '\u0600', '\u0903', '\u093f', '\u094d', '\u0915', '\u1100', '\u1161', '\u11a8', '\uac00', '\uac01',
  '\ud83d\ude00', '\ud83c\udde6', '\ud83c\uddf7', '\u2764', '\ufe0f', '\uff21', '\uff71', '\uff9e',
  '\u2160', '\u00bd', '\u0130', '\u1e9b', '\u0345', '\t', '\u00a0', '\u3000', '\u2581', '\ufb01',
  '\u1f70', '\u212b', '\u0344'];
s = '';
for (let i = 0; i < 200000; i++) s += gm[rnd(gm.length)];
texts['gen:clusters'] = s;

if (process.env.NORM_DIFF_ONLY)
  specs.splice(0, specs.length, ...specs.filter((x) => JSON.stringify(x).includes(process.env.NORM_DIFF_ONLY)));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'norm_diff-'));
let bad = 0, runs = 0;
for (const spec of specs) {
  const ref = refNormalizer(spec);
  const specFile = path.join(tmp, 'spec.json');
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const label = JSON.stringify(spec).slice(0, 90);
  for (const [name, text] of Object.entries(texts)) {
    const inFile = path.join(tmp, 'in.txt'), outFile = path.join(tmp, 'out.txt');
    fs.writeFileSync(inFile, text);
    const want = Buffer.from(ref.normalizeString(text), 'utf8');
    execFileSync(driver, ['--apply', specFile, inFile, '-o', outFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    const got = fs.readFileSync(outFile);
    runs++;
    if (Buffer.compare(want, got) !== 0) {
      bad++;
      let i = 0;
      while (i < want.length && i < got.length && want[i] === got[i]) i++;
      const ctx = (b) => JSON.stringify(b.subarray(Math.max(0, i - 12), i + 12).toString('utf8'));
      console.log(`DIFF ${label} on ${name}: byte ${i} (len want ${want.length} got ${got.length}) ` +
        `want ${ctx(want)} got ${ctx(got)}`);
    }
  }
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`norm_diff: ${specs.length} normalizers x ${Object.keys(texts).length} texts: ${runs - bad} same, ${bad} differ`);
process.exit(bad ? 1 : 0);
