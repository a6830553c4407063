#!/usr/bin/env node
'use strict';
// diff_ids.js VOCAB EXPECTED.ids GOT.ids [SOURCE_FILE]
//   VOCAB: --tiktoken NAME | --hf TOKENIZER_JSON | --tekken TEKKEN_JSON | --pieces PIECES_JSON
//   (--pieces: a JSON array of every id's piece, as spm_ref.py train writes NAME.pieces.json).
//   Token texts: byte-level vocabularies map back to bytes, "<0xNN>" pieces are the byte NN, other
//   pieces are shown as written (with their "▁" or "##"); the byte offset is then approximate.
//   Exit 0 when the two id lists are equal. Otherwise print the first differing index, about ten
//   ids of context on both sides with each token's text, the decoded text around the difference
//   and the source bytes there, and exit 1.
// decode_ids.js is this script's decoding half: diff_ids.js --decode (--tiktoken NAME | --hf FILE) ID...
//   prints each id's token text and the whole decoded text (JSON-quoted; invalid UTF-8 as \xNN).
const { loadEncoding, bytesToUnicode, parseIds, fs } = require('./lib');

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
function pieceBytes(p) {
  const m = BYTE_PIECE.exec(p);
  return m ? Buffer.from([parseInt(m[1], 16)]) : Buffer.from(p);
}

// id -> Buffer of token bytes (undefined for an unknown id)
function vocabulary(kind, arg) {
  const v = new Map();
  if (kind === 'pieces') {
    JSON.parse(fs.readFileSync(arg, 'utf8')).forEach((p, id) => v.set(id, pieceBytes(p)));
    return v;
  }
  if (kind === 'tekken') {
    const j = JSON.parse(fs.readFileSync(arg, 'utf8'));
    const n = j.config.default_num_special_tokens;
    (j.special_tokens || []).forEach((t) => v.set(t.rank, Buffer.from(t.token_str)));
    j.vocab.slice(0, j.config.default_vocab_size - n).forEach((t) => v.set(t.rank + n, Buffer.from(t.token_bytes, 'base64')));
    return v;
  }
  if (kind === 'tiktoken') {
    const e = loadEncoding(arg);
    e.tokens.forEach((t, r) => v.set(r, t));
    for (const [text, id] of Object.entries(e.special)) v.set(id, Buffer.from(text));
    return v;
  }
  const j = JSON.parse(fs.readFileSync(arg, 'utf8'));
  const back = new Map(bytesToUnicode().map((ch, b) => [ch, b]));
  const byteLevel = JSON.stringify([j.pre_tokenizer, j.decoder]).includes('"ByteLevel"');
  const entries = Array.isArray(j.model.vocab) ? j.model.vocab.map(([p], id) => [p, id]) : Object.entries(j.model.vocab);
  for (const [s, id] of entries) {
    const cps = [...s];
    if (byteLevel && cps.every((c) => back.has(c))) v.set(id, Buffer.from(cps.map((c) => back.get(c))));
    else v.set(id, pieceBytes(s));
  }
  for (const t of j.added_tokens || []) v.set(t.id, Buffer.from(t.content));
  return v;
}

// JSON-like quoting of bytes: valid UTF-8 as text, invalid bytes as \xNN.
function quote(buf) {
  let s = '';
  const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let i = 0;
  while (i < buf.length) {
    let n = 0;
    const b = buf[i];
    if (b < 0x80) n = 1; else if (b >= 0xc2 && b <= 0xdf) n = 2; else if (b >= 0xe0 && b <= 0xef) n = 3; else if (b >= 0xf0 && b <= 0xf4) n = 4;
    let ch = null;
    if (n && i + n <= buf.length) { try { ch = dec.decode(buf.subarray(i, i + n)); } catch (e) { ch = null; } }
    if (ch === null) { s += '\\x' + b.toString(16).padStart(2, '0'); i++; continue; }
    s += JSON.stringify(ch).slice(1, -1);
    i += n;
  }
  return '"' + s + '"';
}

function tok(v, id) { const b = v.get(id); return b === undefined ? '<unknown id>' : quote(b); }

function decodeRange(v, ids) { return Buffer.concat(ids.map((id) => v.get(id) || Buffer.from('\u2047'))); }

function main() {
  const args = process.argv.slice(2);
  const decodeOnly = args[0] === '--decode';
  if (decodeOnly) args.shift();
  if (args.length < 2 || !['--tiktoken', '--hf', '--tekken', '--pieces'].includes(args[0])) {
    process.stderr.write('usage: diff_ids.js (--tiktoken NAME | --hf TOKENIZER_JSON | --tekken TEKKEN_JSON | --pieces PIECES_JSON) EXPECTED.ids GOT.ids [SOURCE]\n' +
      '       diff_ids.js --decode (--tiktoken NAME | --hf TOKENIZER_JSON | --tekken TEKKEN_JSON | --pieces PIECES_JSON) ID...\n');
    process.exit(2);
  }
  const v = vocabulary(args[0].slice(2), args[1]);
  if (decodeOnly) {
    const ids = args.slice(2).map(Number);
    ids.forEach((id) => console.log(`${id}\t${tok(v, id)}`));
    console.log(quote(decodeRange(v, ids)));
    return;
  }
  const [expFile, gotFile, src] = args.slice(2);
  const exp = parseIds(fs.readFileSync(expFile, 'utf8'));
  const got = parseIds(fs.readFileSync(gotFile, 'utf8'));
  let i = 0;
  while (i < exp.length && i < got.length && exp[i] === got[i]) i++;
  if (i === exp.length && i === got.length) return;
  const offset = decodeRange(v, exp.slice(0, i)).length;
  const lines = [];
  lines.push(`ids differ at index ${i} (expected ${exp.length} ids, got ${got.length}); byte offset ${offset} of the text (UTF-8 after U+FFFD repair)`);
  const lo = Math.max(0, i - 10);
  for (const [name, ids] of [['expected', exp], ['got', got]]) {
    lines.push(`  ${name} [${lo}..${Math.min(ids.length, i + 10) - 1}]:`);
    for (let k = lo; k < Math.min(ids.length, i + 10); k++) lines.push(`    ${k === i ? '>' : ' '} ${k}\t${ids[k]}\t${tok(v, ids[k])}`);
  }
  lines.push(`  expected decodes to: ${quote(decodeRange(v, exp.slice(lo, i + 10)))}`);
  lines.push(`  got decodes to:      ${quote(decodeRange(v, got.slice(lo, i + 10)))}`);
  if (src) {
    const b = Buffer.from(new TextDecoder('utf-8', { ignoreBOM: true }).decode(fs.readFileSync(src)), 'utf8');
    const from = Math.max(0, offset - 40);
    lines.push(`  text of ${src} at [${from}..${Math.min(b.length, offset + 40)}): ${quote(b.subarray(from, offset))} | ${quote(b.subarray(offset, offset + 40))}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  process.exit(1);
}

main();
