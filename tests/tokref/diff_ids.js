#!/usr/bin/env node
'use strict';
// diff_ids.js (--tiktoken NAME | --hf TOKENIZER_JSON) EXPECTED.ids GOT.ids [SOURCE_FILE]
//   Exit 0 when the two id lists are equal. Otherwise print the first differing index, about ten
//   ids of context on both sides with each token's text, the decoded text around the difference
//   and the source bytes there, and exit 1.
// decode_ids.js is this script's decoding half: diff_ids.js --decode (--tiktoken NAME | --hf FILE) ID...
//   prints each id's token text and the whole decoded text (JSON-quoted; invalid UTF-8 as \xNN).
const { loadEncoding, bytesToUnicode, parseIds, fs } = require('./lib');

// id -> Buffer of token bytes (undefined for an unknown id)
function vocabulary(kind, arg) {
  const v = new Map();
  if (kind === 'tiktoken') {
    const e = loadEncoding(arg);
    e.tokens.forEach((t, r) => v.set(r, t));
    for (const [text, id] of Object.entries(e.special)) v.set(id, Buffer.from(text));
    return v;
  }
  const j = JSON.parse(fs.readFileSync(arg, 'utf8'));
  const back = new Map(bytesToUnicode().map((ch, b) => [ch, b]));
  for (const [s, id] of Object.entries(j.model.vocab)) {
    const cps = [...s];
    v.set(id, cps.every((c) => back.has(c)) ? Buffer.from(cps.map((c) => back.get(c))) : Buffer.from(s));
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
  if (args.length < 2 || (args[0] !== '--tiktoken' && args[0] !== '--hf')) {
    process.stderr.write('usage: diff_ids.js (--tiktoken NAME | --hf TOKENIZER_JSON) EXPECTED.ids GOT.ids [SOURCE]\n' +
      '       diff_ids.js --decode (--tiktoken NAME | --hf TOKENIZER_JSON) ID...\n');
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
