// Writes the corpus of tests/integration/test_parquet_filter.sh: Parquet files shaped like
// codeparrot/github-code (repo_name, path, language, license, size, content) where the rows of a
// language cluster, as they do in github-code (files come repo by repo, and a repo is mostly one
// language): rows come in runs of one repo (30 to 830 rows), each repo has a main language (95% of
// its rows) among 30 names with github-code-like frequencies, Python about 15% of repos. One file
// has no Python row at all, one small file is all Python, some contents are null.
// Writers: parquet-wasm (arrow-rs; dictionary-encoded `language`, RLE_DICTIONARY) for most
// files, hyparquet-writer for two. Outputs in OUT_DIR:
//   part-NNN.parquet, list.txt   the corpus (list order = file name order)
//   kept.json                    the non-null content of every row whose language is Python, in
//                                file and row order (what filter=language=Python serves)
//   layout.json                  per file: size, footer bytes (metadata + 8), and per row group
//                                rows, kept rows, and the [start, end) byte ranges of the content
//                                and language column chunks (from hyparquet's own footer parser)
//
// usage: node make_filter_corpus.mjs OUT_DIR (copied next to the node_modules of tests/parquet).
import fs from 'node:fs';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm';
import * as hyp from 'hyparquet-writer';
import { parquetMetadata } from 'hyparquet';

const out = process.argv[2];
if (!out) {
  console.error('usage: node make_filter_corpus.mjs OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// github-code's 30 languages, weighted roughly by their share of its files.
const LANGS = [
  ['Java', 19], ['JavaScript', 11], ['C', 8], ['PHP', 8], ['Python', 15], ['C++', 6], ['C#', 5],
  ['Go', 3], ['HTML', 4], ['Ruby', 2], ['TypeScript', 2], ['Shell', 2], ['Markdown', 3],
  ['CSS', 1], ['SQL', 1], ['Rust', 1], ['Scala', 1], ['Lua', 1], ['Perl', 1], ['Makefile', 1],
  ['TeX', 1], ['Haskell', 1], ['PowerShell', 1], ['Batchfile', 1], ['CMake', 1],
  ['Dockerfile', 1], ['Julia', 1], ['FORTRAN', 1], ['Assembly', 1], ['Visual Basic', 1],
];
const LANG_TOTAL = LANGS.reduce((a, [, w]) => a + w, 0);
function pickLang(r) {
  let u = r() * LANG_TOTAL;
  for (const [name, w] of LANGS) {
    if ((u -= w) < 0) return name;
  }
  return LANGS[0][0];
}
const LICENSES = ['mit', 'apache-2.0', 'gpl-3.0', 'bsd-3-clause', 'gpl-2.0'];

function makeWords(r, n) {
  const syl = ['ka', 'lo', 'mi', 'ne', 'tr', 'st', 'qu', 'ex', 'ar', 'on', 'id', 'ux', 'be', 'zo'];
  const words = [];
  for (let i = 0; i < n; i++) {
    let w = '';
    const k = 1 + Math.floor(r() * 4);
    for (let j = 0; j < k; j++) w += syl[Math.floor(r() * syl.length)];
    words.push(w);
  }
  return words;
}

// Rows of one file; `mode`: 'mixed' (repo runs), 'none' (no Python), 'all' (only Python).
function makeRows(seed, n, mode) {
  const r = rng(seed);
  const words = makeWords(r, 2000);
  const rows = [];
  while (rows.length < n) {
    let main = pickLang(r);
    if (mode === 'all') main = 'Python';
    if (mode === 'none' && main === 'Python') main = 'Java';
    const repo = `org${Math.floor(r() * 500)}/repo-${Math.floor(r() * 10000)}`;
    const run = 30 + Math.floor(r() * r() * 800);
    for (let i = 0; i < run && rows.length < n; i++) {
      let lang = r() < 0.95 ? main : pickLang(r);
      if (mode === 'all') lang = 'Python';
      if (mode === 'none' && lang === 'Python') lang = 'C';
      let content = null;
      if (r() >= 0.01) {
        // length independent of the language: the plan's estimate assumes no correlation
        const len = Math.floor(300 + r() * r() * 5000);
        let s = '';
        while (s.length < len) {
          const line = [];
          const k = 2 + Math.floor(r() * 9);
          for (let j = 0; j < k; j++) line.push(words[Math.floor(r() * words.length)]);
          s += '    '.repeat(Math.floor(r() * 3)) + line.join(r() < 0.5 ? ' ' : '_') + '\n';
        }
        content = s;
      }
      rows.push({
        repo_name: repo,
        path: `src/${words[Math.floor(r() * words.length)]}.${lang.toLowerCase().slice(0, 3)}`,
        language: lang,
        license: LICENSES[Math.floor(r() * LICENSES.length)],
        size: content === null ? 0 : content.length,
        content,
      });
    }
  }
  return rows;
}

function writeArrow(rows, o) {
  const utf8 = (k) => arrow.vectorFromArray(rows.map(x => x[k]), new arrow.Utf8());
  const schema = new arrow.Schema([
    new arrow.Field('repo_name', new arrow.Utf8(), false),
    new arrow.Field('path', new arrow.Utf8(), false),
    new arrow.Field('language', new arrow.Utf8(), false),
    new arrow.Field('license', new arrow.Utf8(), false),
    new arrow.Field('size', new arrow.Int64(), false),
    new arrow.Field('content', new arrow.Utf8(), true),
  ]);
  const cols = {
    repo_name: utf8('repo_name'), path: utf8('path'), language: utf8('language'),
    license: utf8('license'),
    size: arrow.vectorFromArray(rows.map(x => BigInt(x.size)), new arrow.Int64()),
    content: utf8('content'),
  };
  const t = new arrow.Table(schema, Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, v.data[0]])));
  const b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression[o.codec])
    .setWriterVersion(o.version === 2 ? pw.WriterVersion.V2 : pw.WriterVersion.V1)
    .setMaxRowGroupSize(o.rowGroupRows)
    .setColumnStatisticsEnabled('content', pw.EnabledStatistics.None);
  return pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(t, 'stream')), b.build());
}
function writeHyp(rows, o) {
  const buf = hyp.parquetWriteBuffer({
    columnData: [
      { name: 'repo_name', data: rows.map(x => x.repo_name), type: 'STRING', nullable: false },
      { name: 'path', data: rows.map(x => x.path), type: 'STRING', nullable: false },
      { name: 'language', data: rows.map(x => x.language), type: 'STRING', nullable: false },
      { name: 'license', data: rows.map(x => x.license), type: 'STRING', nullable: false },
      { name: 'size', data: rows.map(x => BigInt(x.size)), type: 'INT64', nullable: false },
      { name: 'content', data: rows.map(x => x.content), type: 'STRING' },
    ],
    codec: o.codec,
    rowGroupSize: o.rowGroupSize,
  });
  return new Uint8Array(buf);
}

function layout(buf, rows) {
  const meta = parquetMetadata(buf);
  const mlen = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(buf.byteLength - 8, true);
  let first = 0;
  const rgs = meta.row_groups.map(g => {
    const chunk = name => {
      const c = g.columns.find(x => x.meta_data.path_in_schema.join('.') === name).meta_data;
      const dict = c.dictionary_page_offset !== undefined ? Number(c.dictionary_page_offset) : -1;
      const data = Number(c.data_page_offset);
      const start = dict >= 0 && dict < data ? dict : data;
      return [start, start + Number(c.total_compressed_size)];
    };
    const n = Number(g.num_rows);
    const mine = rows.slice(first, first + n);
    first += n;
    return {
      rows: n,
      kept: mine.filter(x => x.language === 'Python').length,
      kept_text: mine.filter(x => x.language === 'Python' && x.content !== null)
        .reduce((a, x) => a + Buffer.byteLength(x.content) + 1, 0),
      content: chunk('content'),
      language: chunk('language'),
    };
  });
  return { size: buf.byteLength, footer: mlen + 8, row_groups: rgs };
}

const files = [
  ['part-000.parquet', 1400, 'mixed', rows => writeArrow(rows, { codec: 'SNAPPY', version: 1, rowGroupRows: 40 })],
  ['part-001.parquet', 1200, 'mixed', rows => writeArrow(rows, { codec: 'ZSTD', version: 2, rowGroupRows: 50 })],
  ['part-002.parquet', 900, 'none', rows => writeArrow(rows, { codec: 'SNAPPY', version: 1, rowGroupRows: 40 })],
  ['part-003.parquet', 1300, 'mixed', rows => writeHyp(rows, { codec: 'SNAPPY', rowGroupSize: 45 })],
  ['part-004.parquet', 1500, 'mixed', rows => writeArrow(rows, { codec: 'ZSTD', version: 1, rowGroupRows: 30 })],
  ['part-005.parquet', 120, 'all', rows => writeHyp(rows, { codec: 'UNCOMPRESSED', rowGroupSize: 30 })],
  ['part-006.parquet', 1400, 'mixed', rows => writeArrow(rows, { codec: 'SNAPPY', version: 2, rowGroupRows: 50 })],
];

const layouts = {};
const kept = [];
let seed = 11;
for (const [name, n, mode, write] of files) {
  const rows = makeRows(seed++, n, mode);
  const buf = write(rows);
  fs.writeFileSync(path.join(out, name), buf);
  layouts[name] = layout(buf, rows);
  for (const r of rows)
    if (r.language === 'Python' && r.content !== null) kept.push(r.content);
  const l = layouts[name];
  const k = l.row_groups.reduce((a, g) => a + g.kept, 0);
  console.log(`${name}: ${l.size} bytes, ${l.row_groups.length} row groups, ${k} of ${n} rows Python, ` +
    `${l.row_groups.filter(g => g.kept === 0).length} row groups without Python`);
}
fs.writeFileSync(path.join(out, 'list.txt'), files.map(f => f[0]).join('\n') + '\n');
fs.writeFileSync(path.join(out, 'kept.json'), JSON.stringify(kept));
fs.writeFileSync(path.join(out, 'layout.json'), JSON.stringify(layouts));
