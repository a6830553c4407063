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

module.exports = {
  need, ENCODINGS, loadEncoderJson, parseCompactRanks, loadEncoding, bytesToUnicode,
  byteLevelString, formatIds, parseIds, mkdirp, path, fs,
};
