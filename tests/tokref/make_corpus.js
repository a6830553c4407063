#!/usr/bin/env node
'use strict';
// make_corpus.js OUTDIR [--mb N] [--bench] [--only NAME[,NAME...]]
//
// Writes a deterministic text corpus for tokfs's tokenizer tests (the same bytes on every run and
// machine: all randomness comes from a seeded PRNG, one stream per file).
//
// Default mode: about N MB (default 10) spread over files by kind, plus the large single pieces:
//   prose.txt code_c.c code_py.py code_js.js cjk.txt scripts.txt emoji.txt combining.txt
//   whitespace.txt digits.txt contractions.txt unicode_new.txt specials.txt invalid_utf8.txt mixed.txt
//   big_x.txt (1e6 'x')  big_base64.txt (1 MB base64, no newline)  big_spaces.txt (100k spaces)
//   big_letters.txt (1 MB random lowercase letters)  big_cjk.txt (1 MB of CJK, no spaces)
// --bench: bench.txt (N MB, default 24, prose and code interleaved) plus the big_* files.
// --only: write only the named files (names as above).
const fs = require('fs');
const path = require('path');

// ---------------------------------------------------------------- PRNG (sfc32, seeded by name)
function seedOf(name) {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < name.length; i++) { h ^= name.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h;
}
function rngFor(name) {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seedOf(name) >>> 0;
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next();
  const r = {
    u32: next,
    int: (n) => Math.floor((next() / 4294967296) * n), // 0..n-1
    range: (lo, hi) => lo + r.int(hi - lo + 1),        // lo..hi
    chance: (p) => next() / 4294967296 < p,
    pick: (arr) => arr[r.int(arr.length)],
    cp: (lo, hi) => String.fromCodePoint(r.range(lo, hi)),
  };
  return r;
}

// ---------------------------------------------------------------- word lists
const WORDS = ('the of and to in a is that for it as was with be by on not he this are or his from ' +
  'at which but have an they you were her she there one all we their has been would if its more ' +
  'when who will no so can out up about into them some could time than other then these two may ' +
  'first any like our over such only new also most years after year people between made through ' +
  'world where many before those being while under still however during system without three ' +
  'government number life since against part state school house water information right small ' +
  'large city country problem program question work company group night point business history ' +
  'because important language different following example memory network function structure ' +
  'thousand kilometres approximately nevertheless understanding responsibility characteristic ' +
  'international extraordinary photosynthesis tokenizer filesystem transformer gradient').split(' ');
const NAMES = ['Alice', 'Bob', 'London', 'Paris', 'Tokyo', 'Mississippi', 'McDonald', 'OpenAI',
  'GitHub', 'iPhone', 'JavaScript', 'NASA', 'UNESCO', 'O\'Brien', 'Zoë', 'São Paulo', 'Dvořák',
  'Straße', 'Ångström', 'Nguyễn', 'Łódź', 'Kraków', 'Reykjavík', 'Ἀθῆναι', 'Москва'];
const CONTRACTED = ['don\'t', 'it\'s', 'we\'re', 'I\'ll', 'they\'ve', 'I\'m', 'he\'d', 'can\'t',
  'won\'t', 'you\'re', 'she\'ll', 'we\'d', 'that\'s', 'John\'s', 'isn\'t', 'DON\'T', 'IT\'S', 'We\'Re',
  'y\'all', 'rock \'n\' roll', 'o\'clock', '\'90s', 'students\'', 'it’s', 'don’t'];

function capitalize(w) { return w.charAt(0).toUpperCase() + w.slice(1); }

// ---------------------------------------------------------------- generators (return a chunk)
function genProse(r) {
  const out = [];
  const nSent = r.range(2, 8);
  for (let s = 0; s < nSent; s++) {
    const n = r.range(4, 24);
    const ws = [];
    for (let i = 0; i < n; i++) {
      let w;
      const k = r.int(100);
      if (k < 72) w = r.pick(WORDS);
      else if (k < 80) w = r.pick(NAMES);
      else if (k < 86) w = r.pick(CONTRACTED);
      else if (k < 90) w = String(r.pick([r.range(0, 99), r.range(1900, 2030), r.range(0, 1e6)]));
      else if (k < 92) w = `${r.range(0, 99)}.${r.range(0, 999)}%`;
      else if (k < 94) w = `${r.pick(WORDS)}-${r.pick(WORDS)}`;
      else if (k < 95) w = `"${r.pick(WORDS)} ${r.pick(WORDS)}"`;
      else if (k < 96) w = `(${r.pick(WORDS)})`;
      else if (k < 97) w = r.pick(['—', '–', '…', '&', '@', '#hashtag', 'https://example.com/a/b?c=d&e=1',
        'user@example.org', '$19.99', '€5', '£3', '±2', '°C', '→', '©', '™']);
      else w = r.pick(WORDS).toUpperCase();
      ws.push(w);
      if (i < n - 1 && r.chance(0.08)) ws.push(r.pick([',', ';', ':']));
    }
    let sent = ws.join(' ').replace(/ ([,;:])/g, '$1');
    sent = capitalize(sent) + r.pick(['.', '.', '.', '!', '?', '...', '."', '?!']);
    out.push(sent);
  }
  const sep = r.pick([' ', ' ', ' ', '  ']);
  return out.join(sep) + r.pick(['\n\n', '\n\n', '\n', ' \n\n', '\n\n\n']);
}

function ident(r) {
  const parts = [];
  const n = r.range(1, 3);
  for (let i = 0; i < n; i++) parts.push(r.pick(['buf', 'len', 'count', 'node', 'next', 'data', 'ctx',
    'item', 'value', 'key', 'index', 'result', 'tmp', 'ptr', 'size', 'offset', 'token', 'rank', 'piece',
    'cache', 'x', 'i', 'j', 'n', 'fd', 'err', 'state', 'self', 'handle', 'shard']));
  return r.chance(0.5) ? parts.join('_') : parts[0] + parts.slice(1).map(capitalize).join('');
}
function expr(r, depth = 0) {
  const k = r.int(depth > 2 ? 3 : 7);
  switch (k) {
    case 0: return ident(r);
    case 1: return String(r.pick([0, 1, 2, 8, 16, 42, 255, 1024, 65536, r.range(0, 1e9)]));
    case 2: return r.pick(['0x' + r.u32().toString(16), '"' + r.pick(WORDS) + '\\n"', '\'\\0\'', '3.5e-7']);
    case 3: return `${expr(r, depth + 1)} ${r.pick(['+', '-', '*', '/', '%', '<<', '>>', '&', '|', '^', '==', '!=', '<=', '&&', '||'])} ${expr(r, depth + 1)}`;
    case 4: return `${ident(r)}(${expr(r, depth + 1)}, ${expr(r, depth + 1)})`;
    case 5: return `${ident(r)}[${expr(r, depth + 1)}]`;
    default: return `(${expr(r, depth + 1)})`;
  }
}

function genC(r) {
  const ind = r.chance(0.4) ? '\t' : '    ';
  const L = [];
  if (r.chance(0.3)) L.push(`/* ${genProse(r).trim().slice(0, 150)} */`);
  L.push(`static ${r.pick(['int', 'size_t', 'void', 'uint32_t', 'const char *'])} ${ident(r)}(${r.pick(['void', 'int n', 'const uint8_t *buf, size_t len', 'struct ctx *ctx'])})`);
  L.push('{');
  const body = (depth) => {
    const n = r.range(1, 6);
    const pad = ind.repeat(depth);
    for (let i = 0; i < n; i++) {
      const k = r.int(10);
      if (k < 4) L.push(`${pad}${ident(r)} ${r.pick(['=', '+=', '|=', '-='])} ${expr(r)};${r.chance(0.1) ? '   ' : ''}`);
      else if (k < 6 && depth < 4) {
        L.push(`${pad}${r.pick(['if', 'while'])} (${expr(r)}) {`); body(depth + 1); L.push(`${pad}}`);
      } else if (k < 7 && depth < 4) {
        L.push(`${pad}for (size_t i = 0; i < ${ident(r)}; i++) {`); body(depth + 1); L.push(`${pad}}`);
      } else if (k < 8) L.push(`${pad}// ${r.pick(WORDS)} ${r.pick(WORDS)}: ${r.pick(CONTRACTED)}`);
      else if (k < 9) L.push(`${pad}printf("%s: %d\\t%zu\\n", ${ident(r)}, ${expr(r)}, ${ident(r)});`);
      else L.push(r.chance(0.5) ? '' : pad);
    }
  };
  body(1);
  L.push(`${ind}return ${expr(r)};`);
  L.push('}');
  return L.join('\n') + '\n\n';
}

function genPy(r) {
  const L = [];
  L.push(`${r.chance(0.3) ? 'async ' : ''}def ${ident(r)}(${ident(r)}, ${ident(r)}=None, *args, **kwargs):`);
  if (r.chance(0.5)) L.push(`    """${capitalize(r.pick(WORDS))} ${r.pick(WORDS)} ${r.pick(WORDS)}.\n\n    Returns the ${r.pick(WORDS)}'s ${r.pick(WORDS)}.\n    """`);
  const body = (depth) => {
    const n = r.range(1, 5);
    const pad = '    '.repeat(depth);
    for (let i = 0; i < n; i++) {
      const k = r.int(10);
      if (k < 4) L.push(`${pad}${ident(r)} = ${r.pick([`[${ident(r)} for ${ident(r)} in range(${r.range(1, 100)})]`, `{'${r.pick(WORDS)}': ${r.range(0, 9)}, "${r.pick(WORDS)}": None}`, `f"{${ident(r)}!r:>10}"`, `${ident(r)}.${ident(r)}(${r.range(0, 9)})`, `lambda x: x ** 2 // 3`])}`);
      else if (k < 6 && depth < 4) { L.push(`${pad}${r.pick(['if', 'while', 'elif'])} ${ident(r)} ${r.pick(['is not None', '>= 0', 'in ("a", "b")', 'and not ' + ident(r)])}:`); body(depth + 1); }
      else if (k < 7 && depth < 4) { L.push(`${pad}for ${ident(r)} in ${ident(r)}:`); body(depth + 1); }
      else if (k < 8) L.push(`${pad}# ${r.pick(CONTRACTED)} ${r.pick(WORDS)}  # noqa: E501`);
      else if (k < 9) L.push(`${pad}raise ValueError(f"bad {${ident(r)}}: can't ${r.pick(WORDS)}")`);
      else L.push('');
    }
  };
  body(1);
  L.push(`    return ${ident(r)}`);
  return L.join('\n') + '\n\n\n';
}

function genJs(r) {
  const L = [];
  const crlf = r.chance(0.2);
  L.push(`export ${r.pick(['function', 'async function'])} ${ident(r)}(${ident(r)}, { ${ident(r)} = ${r.range(0, 9)} } = {}) {`);
  const body = (depth) => {
    const n = r.range(1, 5);
    const pad = r.chance(0.1) ? '\t'.repeat(depth) : '  '.repeat(depth);
    for (let i = 0; i < n; i++) {
      const k = r.int(10);
      if (k < 4) L.push(`${pad}${r.pick(['const', 'let'])} ${ident(r)} = ${r.pick([`\`${r.pick(WORDS)} \${${ident(r)}}\``, `${ident(r)}?.${ident(r)} ?? ${r.range(0, 9)}`, `[...${ident(r)}, ${r.range(0, 99)}]`, `await fetch('/api/${r.pick(WORDS)}')`, `(${ident(r)}) => ${ident(r)} * 2`, `/[a-z]+\\d{2,}/gi`])};`);
      else if (k < 6 && depth < 4) { L.push(`${pad}if (${expr(r)} === ${r.pick(['null', 'undefined', '0', '\'\''])}) {`); body(depth + 1); L.push(`${pad}}`); }
      else if (k < 7 && depth < 4) { L.push(`${pad}for (const ${ident(r)} of ${ident(r)}) {`); body(depth + 1); L.push(`${pad}}`); }
      else if (k < 8) L.push(`${pad}// TODO(${r.pick(NAMES)}): ${r.pick(CONTRACTED)}`);
      else if (k < 9) L.push(`${pad}console.log(\`\${${ident(r)}}\\t\${JSON.stringify(${ident(r)}, null, 2)}\`);`);
      else L.push('');
    }
  };
  body(1);
  L.push('}');
  return L.join(crlf ? '\r\n' : '\n') + (crlf ? '\r\n\r\n' : '\n\n');
}

const HANZI = ('的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可' +
  '里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样' +
  '现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重' +
  '被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九' +
  '笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至' +
  '清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连' +
  '远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江' +
  '语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导' +
  '影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽剑讲布杀微怕母调局根曾准团段终' +
  '乐切级克精哪官示冷域读紧您杂').split('');
const PUNCT_CJK = ['。', '、', '，', '！', '？', '「', '」', '『', '』', '（', '）', '：', '；', '・', '〜', '…', '《', '》'];

function genCjk(r) {
  let s = '';
  const n = r.range(20, 120);
  for (let i = 0; i < n; i++) {
    const k = r.int(100);
    if (k < 45) s += r.pick(HANZI);
    else if (k < 55) s += r.cp(0x4e00, 0x9fff);
    else if (k < 68) s += r.cp(0x3041, 0x3096); // hiragana
    else if (k < 76) s += r.cp(0x30a1, 0x30fa); // katakana
    else if (k < 86) s += r.cp(0xac00, 0xd7a3); // hangul
    else if (k < 94) s += r.pick(PUNCT_CJK);
    else if (k < 96) s += '\u3000';
    else if (k < 97) s += r.cp(0xff21, 0xff3a) + r.cp(0xff10, 0xff19); // fullwidth A-Z, 0-9
    else if (k < 98) s += r.cp(0x20000, 0x2a6df); // CJK Ext B (astral)
    else if (k < 99) s += ' ' + r.pick(WORDS) + ' ';
    else s += String(r.range(0, 9999));
  }
  return s + r.pick(['\n', '\n\n', '。\n']);
}

function wordFrom(r, lo, hi, min, max, marks, pMark) {
  let w = '';
  const n = r.range(min, max);
  for (let i = 0; i < n; i++) {
    w += r.cp(lo, hi);
    if (marks && r.chance(pMark)) w += r.cp(marks[0], marks[1]);
  }
  return w;
}

function genScripts(r) {
  const words = [];
  const n = r.range(8, 40);
  const script = r.int(8);
  for (let i = 0; i < n; i++) {
    switch (script) {
      case 0: // Arabic with harakat, Arabic-Indic digits, Persian letters
        words.push(r.chance(0.1) ? wordFrom(r, 0x0660, 0x0669, 1, 4) : wordFrom(r, 0x0621, 0x064a, 2, 7, [0x064b, 0x0652], 0.25) + (r.chance(0.1) ? r.pick(['پ', 'چ', 'ژ', 'گ', '،', '؟', '\u200f']) : ''));
        break;
      case 1: { // Devanagari: consonant (+nukta) (+vowel sign | virama+consonant) (+anusvara)
        let w = '';
        const m = r.range(1, 5);
        for (let j = 0; j < m; j++) {
          w += r.cp(0x0915, 0x0939);
          if (r.chance(0.05)) w += '\u093c';
          if (r.chance(0.5)) w += r.cp(0x093e, 0x094c);
          else if (r.chance(0.2)) w += '\u094d' + r.cp(0x0915, 0x0939);
          if (r.chance(0.1)) w += r.pick(['\u0902', '\u0901', '\u0903']);
        }
        if (r.chance(0.1)) w = r.cp(0x0905, 0x0914) + w;
        words.push(w + (r.chance(0.1) ? r.pick(['।', '॥', ',']) : ''));
        if (r.chance(0.05)) words.push(wordFrom(r, 0x0966, 0x096f, 1, 4));
        break;
      }
      case 2: words.push(wordFrom(r, 0x0430, 0x044f, 2, 10) + (r.chance(0.1) ? ',' : '')); break; // Cyrillic
      case 3: words.push(wordFrom(r, 0x03b1, 0x03c9, 2, 9, [0x0300, 0x0301], 0.1)); break; // Greek
      case 4: words.push(wordFrom(r, 0x05d0, 0x05ea, 2, 6, [0x05b0, 0x05bc], 0.3)); break; // Hebrew + niqqud
      case 5: words.push(wordFrom(r, 0x0e01, 0x0e2e, 3, 12, [0x0e31, 0x0e3a], 0.3)); break; // Thai (no spaces)
      case 6: words.push(wordFrom(r, 0x0b95, 0x0bb9, 1, 5, [0x0bbe, 0x0bcd], 0.5)); break; // Tamil
      default: words.push(r.pick(['Việt Nam', 'Türkçe', 'Ελληνικά', 'ქართული', 'Հայերեն', 'ᏣᎳᎩ', 'ߒߞߏ', 'ትግርኛ', 'ꦗꦮ', 'ᠮᠣᠩᠭᠣᠯ']));
    }
  }
  return words.join(script === 5 ? '' : ' ') + '\n';
}

const EMOJI_ZWJ = ['👨‍👩‍👧‍👦', '👩‍❤️‍💋‍👨', '🏳️‍🌈', '🏴‍☠️', '👩🏽‍💻', '🧑🏿‍🚀', '👁️‍🗨️', '🐕‍🦺', '❤️‍🔥',
  '🧔🏻‍♂️', '👨‍👨‍👦', '🫱🏼‍🫲🏾'];
function genEmoji(r) {
  let s = '';
  const n = r.range(5, 40);
  for (let i = 0; i < n; i++) {
    const k = r.int(12);
    if (k < 3) s += r.cp(0x1f600, 0x1f64f);
    else if (k < 5) s += r.cp(0x1f300, 0x1f5ff);
    else if (k < 6) s += r.cp(0x1f900, 0x1f9ff) + (r.chance(0.3) ? r.cp(0x1f3fb, 0x1f3ff) : '');
    else if (k < 7) s += r.pick(EMOJI_ZWJ);
    else if (k < 8) s += r.cp(0x1f1e6, 0x1f1ff) + r.cp(0x1f1e6, 0x1f1ff); // flags
    else if (k < 9) s += r.pick(['0', '1', '#', '*', '9']) + '\ufe0f\u20e3'; // keycaps
    else if (k < 10) s += '\u{1f3f4}\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}'; // England
    else if (k < 11) s += r.pick(['☺️', '✌🏽', '♥', '❤️', '⚠️', '✅', '\u200d', '\ufe0f']);
    else s += ' ' + r.pick(WORDS) + r.pick([' ', '', '! ', '\n']);
  }
  return s + '\n';
}

function genCombining(r) {
  const words = [];
  const n = r.range(5, 30);
  for (let i = 0; i < n; i++) {
    const k = r.int(6);
    if (k < 3) { // Latin + 1..4 combining marks (zalgo-ish)
      let w = '';
      const m = r.range(1, 8);
      for (let j = 0; j < m; j++) {
        w += r.pick([r.cp(0x61, 0x7a), r.cp(0x41, 0x5a)]);
        const c = r.chance(0.5) ? r.range(1, 4) : 0;
        for (let q = 0; q < c; q++) w += r.pick([r.cp(0x0300, 0x036f), r.cp(0x1ab0, 0x1abe), r.cp(0x20d0, 0x20f0), r.cp(0xfe20, 0xfe2f)]);
      }
      words.push(w);
    } else if (k < 4) { // decomposed Hangul jamo
      let w = '';
      for (let j = r.range(1, 4); j > 0; j--) w += r.cp(0x1100, 0x1112) + r.cp(0x1161, 0x1175) + (r.chance(0.5) ? r.cp(0x11a8, 0x11c2) : '');
      words.push(w);
    } else if (k < 5) { // marks standing alone, after spaces, digits, punctuation
      words.push(r.pick(['\u0301', ' \u0301', '1\u0301', '.\u0308', '\u0301\u0301\u0301', 'a\u200db', '\u034f', 'e\u0301\u0327']));
    } else words.push(r.pick(['café', 'cafe\u0301', 'naïve', 'nai\u0308ve', 'Å', 'A\u030a', 'ﬁ', 'ǅ', 'ᾏ', 'ß']));
  }
  return words.join(r.pick([' ', ' ', '', '\n'])) + '\n';
}

const WS = [' ', '\t', '\n', '\r', '\r\n', '\n\r', '\v', '\f', '\u0085', '\u00a0', '\u1680', '\u2000',
  '\u2003', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\u001c', '\u001d',
  '\u001e', '\u001f', '\u200b', '\u180e', '\ufeff', '\u2060'];
function genWhitespace(r) {
  let s = '';
  const n = r.range(5, 30);
  for (let i = 0; i < n; i++) {
    const k = r.int(10);
    if (k < 3) s += ' '.repeat(r.range(1, r.chance(0.1) ? 300 : 12));
    else if (k < 4) s += '\t'.repeat(r.range(1, 10));
    else if (k < 5) s += r.pick(['\r\n', '\n', '\r', '\n\n', '\r\r\n', ' \r\n', '\t\n', '  \n  ']).repeat(r.range(1, 6));
    else if (k < 7) { let w = ''; for (let j = r.range(1, 6); j > 0; j--) w += r.pick(WS); s += w; }
    else s += r.pick([r.pick(WORDS), capitalize(r.pick(WORDS)), String(r.range(0, 999)), '!?', '-->', '.', '\'s', 'x']);
  }
  return s;
}

function genDigits(r) {
  const items = [];
  const n = r.range(5, 25);
  for (let i = 0; i < n; i++) {
    const k = r.int(12);
    let d = '';
    const len = r.range(1, r.chance(0.1) ? 80 : 12);
    for (let j = 0; j < len; j++) d += String.fromCharCode(48 + r.int(10));
    if (k < 4) items.push(d);
    else if (k < 5) items.push(r.pick(WORDS) + d + r.pick(['', r.pick(WORDS)]));
    else if (k < 6) items.push(Number(r.range(0, 2e9)).toLocaleString('en-US'));
    else if (k < 7) items.push(`${d}.${r.range(0, 99999)}e-${r.range(1, 30)}`);
    else if (k < 8) items.push(`+1 (${r.range(200, 999)}) ${r.range(100, 999)}-${r.range(1000, 9999)}`);
    else if (k < 9) items.push(wordFrom(r, 0xff10, 0xff19, 1, 8)); // fullwidth
    else if (k < 10) items.push(wordFrom(r, 0x0660, 0x0669, 1, 6) + wordFrom(r, 0x0966, 0x096f, 0, 4));
    else if (k < 11) items.push(r.pick(['²', '³', '¹', '½', '¾', 'Ⅻ', 'ⅷ', '①', '⑳', '𝟙𝟚𝟛', '߁߂', '〇', '٣', '𐌢']));
    else items.push(`0x${r.u32().toString(16)}`);
  }
  return items.join(r.pick([' ', ', ', '\n', '', '\t'])) + '\n';
}

const CONTRACTION_SUFFIXES = ['s', 't', 're', 've', 'm', 'll', 'd'];
function caseVariants(s) {
  const out = [];
  for (let mask = 0; mask < 1 << s.length; mask++) {
    out.push([...s].map((c, i) => (mask >> i & 1 ? c.toUpperCase() : c)).join(''));
  }
  return out;
}
const ALL_CONTRACTIONS = CONTRACTION_SUFFIXES.flatMap(caseVariants)
  .concat(['ſ', 'ſt', 'ſſ', 'K', 'İ', 'ı', 'ﬆ', 'ﬅ', 'ß', 'ẞ']); // case-folding corner cases
function genContractions(r) {
  const items = [];
  const n = r.range(5, 30);
  for (let i = 0; i < n; i++) {
    const suf = r.pick(ALL_CONTRACTIONS);
    const ap = r.pick(['\'', '\'', '\'', '\'', '’', 'ʼ', '\'\'']);
    const pre = r.pick(['', ' ', 'it', 'IT', 'they', 'THEY', 'x', '1', '  ', '\n', '.', 'é', 'Ω', '中']);
    const post = r.pick(['', ' ', 'x', 'X', 'ing', ' word', '.', '\'', '1', '\n', 'ſ', 'é']);
    items.push(pre + ap + suf + post);
  }
  return items.join(r.pick([' ', '', '\n'])) + '\n';
}

// Letters and digits assigned in Unicode 14.0 .. 17.0 (categories checked against node's Unicode
// 17 tables when this list was written): the references' regex engines use Unicode 16.0 tables
// (see probe_unicode.js), so 17.0 letters are not \p{L} for them.
const NEW_RANGES = [
  [0x10570, 0x1057a], [0x10597, 0x105a1], [0x16ac0, 0x16ac9], [0x1e290, 0x1e2ad], // 14.0
  [0x11f04, 0x11f10], [0x11f50, 0x11f59], [0x1e4d0, 0x1e4eb], [0x1e4f0, 0x1e4f9], [0x31350, 0x323af], // 15.0
  [0x2ebf0, 0x2ee5d], // 15.1
  [0x10d50, 0x10d65], [0x10d70, 0x10d85], [0x10d40, 0x10d49], [0x105c0, 0x105f3], [0x11bc0, 0x11be0],
  [0x11bf0, 0x11bf9], [0x16d43, 0x16d6a], [0x16d70, 0x16d79], [0x1e5d0, 0x1e5ed], [0x1e5f1, 0x1e5fa], // 16.0
  [0x10940, 0x10959], [0x11db0, 0x11dd8], [0x11de0, 0x11de9], [0x16ea0, 0x16eb8], [0x1e6c0, 0x1e6de], [0x323b0, 0x33400], // 17.0
];
function genUnicodeNew(r) {
  const items = [];
  for (let i = r.range(4, 20); i > 0; i--) {
    const [lo, hi] = r.pick(NEW_RANGES);
    let w = r.pick(['', '', ' ', 'a', 'A', '1', '\'', '.', 'x ']);
    for (let j = r.range(1, 6); j > 0; j--) w += r.chance(0.8) ? r.cp(lo, hi) : r.pick(['a', 'Z', '7', '\u0301', '_', '\'s']);
    items.push(w);
  }
  return items.join(r.pick([' ', '', '\n', '  '])) + '\n';
}

function genSpecials(r) {
  const marks = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|endofprompt|>',
    '<|endoftext|', '<|endoftext', '|endoftext|>', '<|im_start|>', '<|ENDOFTEXT|>', '<|endoftext|><|endoftext|>',
    '<<|endoftext|>>', ' <|endoftext|> ', '\n<|endoftext|>\n'];
  const parts = [];
  for (let i = r.range(2, 10); i > 0; i--) parts.push(r.chance(0.4) ? r.pick(marks) : r.pick(WORDS));
  return parts.join(r.pick(['', ' ', '\n'])) + r.pick(['\n', '', ' ']);
}

const ENC = new TextEncoder();
const BAD = [
  [0x80], [0xbf], [0x80, 0x80, 0x80], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xf0, 0x9f], // lone/truncated
  [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], // overlong
  [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], // surrogates (a CESU pair too)
  [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfc], [0xfe], [0xff], [0xf7, 0xbf, 0xbf],
  [0xc2, 0x41], [0xe2, 0x28, 0xa1], [0xe1, 0x80, 0x41], [0xf1, 0x80, 0x80, 0x41], // invalid continuation
];
const VALID_ODD = ['\u{10ffff}', '\ufffd', '\ufffe', '\uffff', '\ue000', '\u{f0000}', '\u{e01ef}', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\ud7ff', '\ue000'];
function genInvalid(r) {
  const bufs = [];
  for (let i = r.range(5, 40); i > 0; i--) {
    const k = r.int(6);
    if (k < 2) bufs.push(Buffer.from(r.pick(BAD)));
    else if (k < 3) bufs.push(Buffer.from(ENC.encode(r.pick(VALID_ODD))));
    else bufs.push(Buffer.from(ENC.encode(r.pick([r.pick(WORDS), ' ', ' ' + r.pick(WORDS), '\n', 'é', '中', '😀', '\'s', '12']))));
  }
  return Buffer.concat(bufs);
}

const KINDS = [genProse, genC, genPy, genJs, genCjk, genScripts, genEmoji, genCombining, genWhitespace,
  genDigits, genContractions, genUnicodeNew, genSpecials, genInvalid];
function genMixed(r) {
  const bufs = [];
  for (let i = r.range(1, 6); i > 0; i--) {
    let c = r.pick(KINDS)(r);
    if (typeof c === 'string') c = Buffer.from(ENC.encode(c));
    if (r.chance(0.3)) c = c.subarray(r.int(c.length)); // start anywhere, even mid-character
    bufs.push(c);
  }
  return Buffer.concat(bufs);
}

function genBench(r) {
  const k = r.int(10);
  if (k < 6) return genProse(r);
  return [genC, genPy, genJs][k % 3](r);
}

// ---------------------------------------------------------------- files
// [name, generator, share of --mb]
const FILES = [
  ['prose.txt', genProse, 0.23], ['unicode_new.txt', genUnicodeNew, 0.02], ['code_c.c', genC, 0.10], ['code_py.py', genPy, 0.10],
  ['code_js.js', genJs, 0.08], ['cjk.txt', genCjk, 0.08], ['scripts.txt', genScripts, 0.08],
  ['emoji.txt', genEmoji, 0.05], ['combining.txt', genCombining, 0.04], ['whitespace.txt', genWhitespace, 0.05],
  ['digits.txt', genDigits, 0.04], ['contractions.txt', genContractions, 0.03], ['specials.txt', genSpecials, 0.01],
  ['invalid_utf8.txt', genInvalid, 0.04], ['mixed.txt', genMixed, 0.05],
];

function fill(name, gen, bytes, head) {
  const r = rngFor(name);
  const bufs = head ? [head] : [];
  let n = head ? head.length : 0;
  while (n < bytes) {
    let c = gen(r);
    if (typeof c === 'string') c = Buffer.from(c, 'utf8');
    bufs.push(c);
    n += c.length;
  }
  return Buffer.concat(bufs);
}

function bigFiles() {
  const MB = 1000000;
  const r = rngFor('big');
  const b64src = Buffer.alloc(750000);
  for (let i = 0; i < b64src.length; i += 4) b64src.writeUInt32LE(r.u32(), i);
  const letters = Buffer.alloc(MB);
  for (let i = 0; i < MB; i++) letters[i] = 0x61 + r.int(26);
  const cjk = []; // every character here is 3 bytes of UTF-8
  for (let n = 0; n < MB; n += 3) cjk.push(r.chance(0.7) ? r.pick(HANZI) : r.cp(0x4e00, 0x9fff));
  return {
    'big_x.txt': () => Buffer.from('x'.repeat(MB)),
    'big_base64.txt': () => Buffer.from(b64src.toString('base64')),
    'big_spaces.txt': () => Buffer.from(' '.repeat(100000)),
    'big_letters.txt': () => letters,
    'big_cjk.txt': () => Buffer.from(cjk.join('')),
  };
}

function main() {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h') || args.length === 0) {
    process.stderr.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 15).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    process.exit(args.length === 0 ? 2 : 0);
  }
  let out = null, mb = null, bench = false, only = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--mb') mb = Number(args[++i]);
    else if (args[i] === '--bench') bench = true;
    else if (args[i] === '--only') only = new Set(args[++i].split(','));
    else if (!out) out = args[i];
    else { process.stderr.write(`make_corpus.js: unexpected argument ${args[i]}\n`); process.exit(2); }
  }
  if (!(mb > 0)) mb = bench ? 24 : 10;
  fs.mkdirSync(out, { recursive: true });
  const want = (name) => !only || only.has(name);
  const write = (name, buf) => { fs.writeFileSync(path.join(out, name), buf); return buf.length; };
  let total = 0;
  if (bench) {
    if (want('bench.txt')) total += write('bench.txt', fill('bench.txt', genBench, mb * 1e6));
  } else {
    for (const [name, gen, share] of FILES) {
      if (!want(name)) continue;
      // A BOM at the start of one file: a decoder must keep it (U+FEFF is text, not a signature).
      const head = name === 'whitespace.txt' ? Buffer.from([0xef, 0xbb, 0xbf]) : null;
      total += write(name, fill(name, gen, Math.round(mb * 1e6 * share), head));
    }
    // An invalid sequence cut by the end of the text.
    if (want('invalid_utf8.txt')) fs.appendFileSync(path.join(out, 'invalid_utf8.txt'), Buffer.from([0x61, 0xf0, 0x9f, 0x98]));
  }
  const bigs = bigFiles();
  for (const [name, make] of Object.entries(bigs)) if (want(name)) total += write(name, make());
  process.stderr.write(`make_corpus.js: ${(total / 1e6).toFixed(1)} MB in ${out}\n`);
}

main();
