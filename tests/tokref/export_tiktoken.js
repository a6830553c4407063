#!/usr/bin/env node
'use strict';
// export_tiktoken.js OUTDIR: write gpt2.tiktoken, cl100k_base.tiktoken, o200k_base.tiktoken
// (standard format: one "base64(token bytes) RANK" line per token, by rank) from the npm
// package's tiktoken/encoders/*.json, and verify each against the package itself: every rank
// present and distinct, the expected count, each token's bytes equal to what tiktoken decodes for
// that rank, and the written file parsed back equal to the ranks.
const { need, ENCODINGS, loadEncoding, fs, path, mkdirp } = require('./lib');

const EXPECTED_COUNT = { gpt2: 50256, cl100k_base: 100256, o200k_base: 199998 };

function main() {
  const out = process.argv[2];
  if (!out || out === '--help' || out === '-h') {
    process.stderr.write('usage: export_tiktoken.js OUTDIR\n');
    process.exit(out ? 0 : 2);
  }
  mkdirp(out);
  const { get_encoding } = need('tiktoken');
  for (const name of ENCODINGS) {
    const e = loadEncoding(name);
    if (e.tokens.length !== EXPECTED_COUNT[name]) {
      throw new Error(`${name}: ${e.tokens.length} ranks, expected ${EXPECTED_COUNT[name]}`);
    }
    const enc = get_encoding(name);
    try {
      for (let r = 0; r < e.tokens.length; r++) {
        const b = Buffer.from(enc.decode_single_token_bytes(r));
        if (!b.equals(e.tokens[r])) throw new Error(`${name}: rank ${r} differs from tiktoken's decode`);
      }
      for (const [text, id] of Object.entries(e.special)) {
        const got = enc.encode(text, 'all');
        if (got.length !== 1 || got[0] !== id) throw new Error(`${name}: special ${text} is not ${id}`);
      }
    } finally {
      enc.free();
    }
    const lines = e.tokens.map((t, r) => `${t.toString('base64')} ${r}\n`);
    const file = path.join(out, `${name}.tiktoken`);
    fs.writeFileSync(file, lines.join(''));
    // Parse back the standard format.
    const back = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
    if (back.length !== e.tokens.length) throw new Error(`${file}: ${back.length} lines`);
    back.forEach((l, i) => {
      const [b64, rank] = l.split(' ');
      if (Number(rank) !== i || !Buffer.from(b64, 'base64').equals(e.tokens[i])) {
        throw new Error(`${file}: line ${i + 1} does not round-trip`);
      }
    });
    const specials = Object.entries(e.special).map(([t, i]) => `${t}=${i}`).join(' ');
    process.stderr.write(`${file}: ${e.tokens.length} ranks 0..${e.tokens.length - 1} verified; specials ${specials}\n`);
  }
}

main();
