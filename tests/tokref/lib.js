'use strict';
// Shared helpers for tokfs's reference-tokenizer scripts (tests/tokref/*.js).
// The npm packages (tiktoken, tokenizers) are installed outside the source tree by
// tests/lib/tokref.sh, which exports NODE_PATH=<build>/tokref/node_modules.

const fs = require('fs');
const path = require('path');

function need(name) {
  try {
    return require(name);
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND') {
      process.stderr.write(`tokref: cannot load the npm package "${name}": install the references with ` +
        `tests/lib/tokref.sh (tokref_install) and set NODE_PATH to its node_modules\n`);
      process.exit(2);
    }
    throw e;
  }
}

const ENCODINGS = ['gpt2', 'cl100k_base', 'o200k_base'];

// tiktoken's encoders/NAME.json: {pat_str, special_tokens, bpe_ranks}. bpe_ranks is a compact
// form of a .tiktoken file: one line of space-separated fields; "!" followed by a decimal number
// sets the rank of the next token, and every other field is base64(token bytes) with the rank one
// more than the previous token's. (The three files used here have a single "! 0" at the start:
// ranks are contiguous from 0.)
function loadEncoderJson(name) {
  const file = require.resolve(`tiktoken/encoders/${name}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function parseCompactRanks(compact) {
  const fields = compact.split(/\s+/).filter((f) => f.length > 0);
  const tokens = []; // tokens[rank] = Buffer
  let rank = null;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f === '!') {
      const n = fields[++i];
      if (!/^[0-9]+$/.test(n || '')) throw new Error(`bpe_ranks: "!" not followed by a rank at field ${i}`);
      rank = Number(n);
      continue;
    }
    if (rank === null) throw new Error('bpe_ranks: a token before any "! RANK"');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(f)) throw new Error(`bpe_ranks: field ${i} is not base64: ${f}`);
    if (tokens[rank] !== undefined) throw new Error(`bpe_ranks: rank ${rank} given twice`);
    tokens[rank] = Buffer.from(f, 'base64');
    rank++;
  }
  return tokens;
}

// {name, patStr, special: {text: id}, tokens: Buffer[] by rank (no holes, checked)}
function loadEncoding(name) {
  const j = loadEncoderJson(name);
  const tokens = parseCompactRanks(j.bpe_ranks);
  const seen = new Map();
  for (let r = 0; r < tokens.length; r++) {
    if (tokens[r] === undefined) throw new Error(`${name}: rank ${r} missing`);
    const k = tokens[r].toString('latin1');
    if (seen.has(k)) throw new Error(`${name}: ranks ${seen.get(k)} and ${r} have the same bytes`);
    seen.set(k, r);
  }
  return { name, patStr: j.pat_str, special: j.special_tokens, tokens, byBytes: seen };
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100, U+0101, ... in byte order.
function bytesToUnicode() {
  const keep = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const map = new Array(256);
  for (const b of keep) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

function byteLevelString(buf, map) {
  let s = '';
  for (const b of buf) s += map[b];
  return s;
}

// ids as `tokfs encode` prints them: decimal, single spaces, one newline.
function formatIds(ids) {
  return Array.prototype.join.call(ids, ' ') + '\n';
}

function parseIds(text) {
  const t = text.trim();
  return t.length === 0 ? [] : t.split(/\s+/).map(Number);
}

function mkdirp(dir) {
  fs.mkdirSync(dir, { recursive: true });
}


// ---------------------------------------------------------------- HF added tokens, special as text
//
// tokfs's default (special_tokens=text) keeps the text of *special* added tokens as ordinary text,
// like tiktoken's encode_ordinary. In Hugging Face tokenizers that is
// `Tokenizer::set_encode_special_tokens(true)` (added_vocabulary.rs find_matches: a trie match
// whose token is special is skipped, `continue`), which the npm binding does not expose. The
// exact equivalent built here, from a copy of the tokenizer.json:
//  - a special token whose content the model's vocab has keeps that id without taking a number
//    (AddedVocabulary::add_tokens: token_to_id first): it is dropped;
//  - a special token not in the model's vocab took the next free id (vocab size, then counting up
//    in file order), which the later non-vocab tokens' ids depend on: its content becomes a
//    placeholder that cannot occur in the text (checked by the caller on every input), so the
//    numbering stays the same and it never matches;
//  - a skipped match still consumed its span in the leftmost-longest scan, so a non-special token
//    of the same trie starting inside a special's text was not matched there; after dropping the
//    special it would be. hfSpecialsAsText refuses a file where that can happen (a non-special
//    pattern that is a substring of a special's, or that starts with a proper suffix of one) —
//    none of the files tested has one.
// Checked after loading: every remaining added token has the same id as in the original file.
const PLACEHOLDER = (i) => `\u{10FFFE}tokfs-special-${i}\u{10FFFF}`;

function readJsonFile(file) { return JSON.parse(fs.readFileSync(file, 'utf8')); }

function hfSpecialsAsText(file) {
  const { Tokenizer } = need('tokenizers');
  const raw = fs.readFileSync(file, 'utf8');
  const j = JSON.parse(raw);
  const orig = Tokenizer.fromString(raw);
  const added = j.added_tokens || [];
  if (!added.some((t) => t.special)) return { tok: orig, placeholders: [] };
  const seen = new Set();
  for (const t of added) {
    if (seen.has(t.content)) throw new Error(`${file}: added token ${JSON.stringify(t.content)} is listed twice; hfSpecialsAsText does not model that`);
    seen.add(t.content);
  }
  const modelVocab = orig.getVocab(false);
  const norm = orig.getNormalizer();
  const pattern = (t) => (t.normalized && norm ? norm.normalizeString(t.content) : t.content);
  for (const s of added.filter((t) => t.special)) {
    const sp = pattern(s);
    for (const n of added.filter((t) => !t.special && !!t.normalized === !!s.normalized)) {
      const np = pattern(n);
      let clash = np.length > 0 && sp.includes(np);
      for (let k = 1; !clash && k < sp.length; k++) if (np.startsWith(sp.slice(k)) && np.length > sp.length - k) clash = true;
      if (clash) {
        throw new Error(`${file}: the non-special added token ${JSON.stringify(n.content)} can start inside the special ${JSON.stringify(s.content)}: ` +
          'HF skips the special match and resumes after it, which dropping the special would not reproduce');
      }
    }
  }
  const placeholders = [];
  j.added_tokens = [];
  for (const t of added) {
    if (!t.special) j.added_tokens.push(t);
    else if (!Object.prototype.hasOwnProperty.call(modelVocab, t.content)) {
      const p = PLACEHOLDER(placeholders.length);
      if (Object.prototype.hasOwnProperty.call(modelVocab, p)) throw new Error(`${file}: the vocab has the placeholder ${p}`);
      placeholders.push(p);
      j.added_tokens.push({ ...t, content: p, normalized: false, special: true, single_word: false, lstrip: false, rstrip: false });
    }
  }
  const tok = Tokenizer.fromString(JSON.stringify(j));
  let pi = 0;
  for (const t of added) {
    const want = orig.tokenToId(t.content);
    let got;
    if (!t.special) got = tok.tokenToId(t.content);
    else if (!Object.prototype.hasOwnProperty.call(modelVocab, t.content)) got = tok.tokenToId(placeholders[pi++]);
    else continue;
    if (got !== want) throw new Error(`${file}: added token ${JSON.stringify(t.content)} has id ${got} without the specials, ${want} in the file`);
  }
  return { tok, placeholders };
}

// Throws when text contains one of hfSpecialsAsText's placeholders (the reference would be wrong).
function checkNoPlaceholder(placeholders, text, what) {
  for (const p of placeholders) if (text.includes(p)) throw new Error(`${what} contains the placeholder ${JSON.stringify(p)}`);
}

// ---------------------------------------------------------------- merges from ranks
// For every token of two or more bytes and every split of it into two tokens both in the vocab, a
// merge; ordered by the merged token's rank, then the left part's rank. e: {tokens, byBytes}.
function deriveMerges(e, map) {
  const merges = [];
  e.tokens.forEach((t, r) => {
    for (let i = 1; i < t.length; i++) {
      const lr = e.byBytes.get(t.subarray(0, i).toString('latin1'));
      const rr = e.byBytes.get(t.subarray(i).toString('latin1'));
      if (lr !== undefined && rr !== undefined) merges.push([r, lr, rr]);
    }
  });
  merges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const s = (r) => byteLevelString(e.tokens[r], map);
  return merges.map(([, lr, rr]) => [s(lr), s(rr)]);
}

// vocab keys: token bytes through bytes_to_unicode; ids: rank + offset.
function vocabOf(e, map, offset = 0) {
  const v = {};
  e.tokens.forEach((t, r) => { v[byteLevelString(t, map)] = r + offset; });
  return v;
}

module.exports = {
  hfSpecialsAsText, checkNoPlaceholder, readJsonFile, deriveMerges, vocabOf,
  need, ENCODINGS, loadEncoderJson, parseCompactRanks, loadEncoding, bytesToUnicode,
  byteLevelString, formatIds, parseIds, mkdirp, path, fs,
};
