#!/usr/bin/env node
'use strict';
// probe_unicode.js [DERIVED_AGE_TXT]: which Unicode version do the references' regex engines use?
//
// For characters newly assigned (as letters or numbers) in each Unicode version, and for the
// White_Space edge cases, asks each engine whether the character is in \p{L}, \p{N}, \s:
//   tiktoken (npm; Rust fancy-regex / regex-syntax tables): a Tiktoken built with a custom
//     pattern and a vocabulary holding every substring of the probe text, so encode_ordinary
//     returns exactly one token per pre-token piece;
//   HF tokenizers (npm; Oniguruma tables): a Split(Regex, Isolated) pre-tokenizer's pieces.
// Then shows the pieces of the real gpt2 / cl100k_base / o200k_base patterns on " " + c + c + "!"
// in both engines, marking any disagreement. node's own /\p{L}/u (process.versions.unicode) gives
// the expected categories; DerivedAge.txt (Debian unicode-data, default path below) the versions
// up to the one it describes; later versions use the ranges listed in LATER.
const { need, loadEncoderJson, fs } = require('./lib');

const DERIVED_AGE = process.argv[2] || '/usr/share/unicode/DerivedAge.txt';
const LATER = { // characters assigned after Unicode 15.0 (from the Unicode 15.1, 16.0, 17.0 charts)
  '15.1': [0x2ebf0, 0x2ec00, 0x2ee5d],                // CJK Ext I
  '16.0': [0x10d4a, 0x10d50, 0x10d70, 0x10d40,        // Garay: letters (Lo, Lu, Ll), digit
    0x105c0, 0x105d0, 0x11bc0, 0x11bf0, 0x16d43, 0x16d70, 0x1e5d0, 0x1e5f1], // Todhri, Sunuwar, Kirat Rai, Ol Onal
  '17.0': [0x10940, 0x11db0, 0x11de0, 0x16ea0, 0x1e6c0, 0x323b0], // Sidetic, Tolong Siki (+digit), Beria Erfe, Tai Yo, CJK Ext J
};
const SPACES = [0x09, 0x0b, 0x0c, 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x180e, 0x2000, 0x200a,
  0x200b, 0x2028, 0x2029, 0x202f, 0x205f, 0x2060, 0x3000, 0xfeff];

const hex = (cp) => 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
function nodeCat(c) {
  for (const k of ['Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Cn']) {
    if (k === 'Cn' ? /\p{Cn}/u.test(c) : new RegExp(`\\p{${k}}`, 'u').test(c)) return k;
  }
  return 'other';
}
const nodeWS = (c) => /\p{White_Space}/u.test(c);

function readAges(file) {
  const ages = [];
  if (!fs.existsSync(file)) return ages;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*([0-9.]+)/.exec(line);
    if (m) ages.push([parseInt(m[1], 16), parseInt(m[2] || m[1], 16), m[3]]);
  }
  return ages;
}

// Pieces per engine ------------------------------------------------------------------------
const { Tiktoken } = need('tiktoken');
const { Tokenizer } = need('tokenizers');

function tiktokenPieces(pat, text) {
  const b = Buffer.from(text, 'utf8');
  const toks = new Set();
  for (let i = 0; i < 256; i++) toks.add(Buffer.from([i]).toString('base64'));
  for (let i = 0; i < b.length; i++) for (let j = i + 2; j <= b.length; j++) toks.add(b.subarray(i, j).toString('base64'));
  const ranks = [...toks].map((t, r) => `${t} ${r}`).join('\n');
  const enc = new Tiktoken(ranks, {}, pat);
  try {
    return Array.from(enc.encode_ordinary(text)).map((id) => Buffer.from(enc.decode_single_token_bytes(id)).toString('utf8'));
  } finally { enc.free(); }
}

const hfCache = new Map();
function hfPieces(pat, text) {
  if (!hfCache.has(pat)) {
    const j = {
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
      pre_tokenizer: { type: 'Split', pattern: { Regex: pat }, behavior: 'Isolated', invert: false },
      post_processor: null, decoder: null, model: { type: 'BPE', vocab: {}, merges: [] },
    };
    hfCache.set(pat, Tokenizer.fromString(JSON.stringify(j)).getPreTokenizer());
  }
  return hfCache.get(pat).preTokenizeString(text).map(([p]) => p);
}

// Class membership: the probe text is one piece iff c is in the class.
const CLASS = {
  L: ['\\p{L}+|[^\\p{L}]', (c) => 'a' + c + 'a'],
  N: ['\\p{N}+|[^\\p{N}]', (c) => '1' + c + '1'],
  s: ['\\s+|\\S', (c) => ' ' + c + ' '],
};
function member(engine, cls, c) {
  const [pat, mk] = CLASS[cls];
  return (engine === 'tik' ? tiktokenPieces : hfPieces)(pat, mk(c)).length === 1;
}

const PATS = Object.fromEntries(['gpt2', 'cl100k_base', 'o200k_base'].map((n) => [n, loadEncoderJson(n).pat_str]));
function realPieces(c) {
  const text = ' ' + c + c + '!';
  const out = [];
  for (const [n, pat] of Object.entries(PATS)) {
    const t = tiktokenPieces(pat, text), h = hfPieces(pat, text);
    const same = JSON.stringify(t) === JSON.stringify(h);
    out.push(`${n.replace('_base', '')}:${same ? t.length : `tik ${t.length}/hf ${h.length} DIFFER`}`);
  }
  return out.join(' ');
}

function row(label, cp) {
  const c = String.fromCodePoint(cp);
  const cat = nodeCat(c);
  const cls = ['L', 'N', 's'].map((k) => `${k}:${+member('tik', k, c)}/${+member('hf', k, c)}`).join(' ');
  console.log(`${label.padEnd(5)} ${hex(cp).padEnd(8)} node:${cat}${nodeWS(c) ? ',WS' : '   '}  tik/hf ${cls}   pieces of " cc!": ${realPieces(c)}`);
}

function main() {
  console.log(`node ${process.version}, node regex Unicode ${process.versions.unicode}; columns: class membership tiktoken/HF (1 = in class)`);
  const ages = readAges(DERIVED_AGE);
  const versions = [...new Set(ages.map((a) => a[2]))].filter((v) => parseFloat(v) >= 9);
  for (const v of versions) {
    let nL = 0, nN = 0;
    for (const [lo, hi, av] of ages) {
      if (av !== v) continue;
      for (let cp = lo; cp <= hi && (nL < 2 || nN < 1); cp++) {
        const cat = nodeCat(String.fromCodePoint(cp));
        if (cat[0] === 'L' && nL < 2 && (cp === lo || cp === hi)) { row(v, cp); nL++; }
        else if (cat[0] === 'N' && nN < 1) { row(v, cp); nN++; }
      }
    }
  }
  for (const [v, cps] of Object.entries(LATER)) for (const cp of cps) row(v, cp);
  console.log('-- White_Space edge cases');
  for (const cp of SPACES) row('ws', cp);
  console.log('-- contraction case folding (U+017F LONG S, U+212A KELVIN SIGN): pieces');
  for (const text of ['x\'ſt', 'x\'St', ' \'ſ', 'x\'ſ']) {
    for (const [n, pat] of Object.entries(PATS)) {
      const t = tiktokenPieces(pat, text), h = hfPieces(pat, text);
      console.log(`   ${JSON.stringify(text)} ${n}: tiktoken ${JSON.stringify(t)}${JSON.stringify(t) === JSON.stringify(h) ? ' = hf' : ` hf ${JSON.stringify(h)} DIFFER`}`);
    }
  }
}

main();
