// Writes the Parquet corpus of tests/integration/test_mount_parquet.sh: a few files shaped like
// codeparrot/github-code (id, repo_name, language, content, and a large incompressible `blob`
// column, so that `content` is about a third of each file's bytes and column projection matters),
// written by two independent writers with mixed codecs and row groups of different sizes:
//   parquet-wasm     — Apache Arrow's Rust writer (arrow-rs): data pages v1 and v2, per-column
//                      codecs, row groups of several row counts, one file of 150 tiny row
//                      groups whose footer is longer than tokfs's first 64 KiB tail read;
//   hyparquet-writer — JavaScript, data pages v2, row groups of listed sizes, per-column codecs.
// Outputs in OUT_DIR:
//   part-NNN.parquet, list.txt           the corpus (list order = file name order)
//   docs.json                            every non-null content value, in file and row order
//   docs_filtered.json                   the same for rows whose language is Python or Go
//   counts.json                          rows, null contents, null contents of Python/Go rows
//   layout.json                          per file: size, footer bytes (metadata + 8), and per row
//                                        group the byte ranges [start, end) of the content and
//                                        language column chunks, read back with hyparquet's own
//                                        footer parser (independent of tokfs's)
//
// usage: node make_mount_corpus.mjs OUT_DIR (copied next to the node_modules of tests/parquet).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm';
import * as hyp from 'hyparquet-writer';
import { parquetMetadata } from 'hyparquet';

const out = process.argv[2];
if (!out) {
  console.error('usage: node make_mount_corpus.mjs OUT_DIR');
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

// ---- rows: code-like documents that compress about as well as real source code ----
const LANGS = ['Python', 'Go', 'C', 'Rust', 'JavaScript', 'Python ', 'go'];
const extras = ['naïve café', '日本語のコメント', '中文注释', 'Ελληνικά', 'русский', '😀🚀',
  'e\u0301', '\t\ttabs', '<|endoftext|>', '\r\n', 'NUL\u0000byte'];
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
function makeRows(seed, n) {
  const r = rng(seed);
  const words = makeWords(r, 3000);
  const rows = [];
  for (let i = 0; i < n; i++) {
    const lang = r() < 0.06 ? null : LANGS[Math.floor(r() * LANGS.length)];
    let content;
    const u = r();
    if (u < 0.05) content = null;
    else if (u < 0.07) content = '';
    else {
      const len = Math.floor(200 + r() * r() * 9000);
      let s = '';
      while (s.length < len) {
        const line = [];
        const k = 2 + Math.floor(r() * 9);
        for (let j = 0; j < k; j++) line.push(words[Math.floor(r() * words.length)]);
        if (r() < 0.3) line.push(String(Math.floor(r() * 1e6)));
        if (r() < 0.04) line.push(extras[Math.floor(r() * extras.length)]);
        s += '    '.repeat(Math.floor(r() * 3)) + line.join(r() < 0.5 ? ' ' : '_') + '\n';
      }
      content = s;
    }
    rows.push({
      id: BigInt(seed * 100000 + i),
      repo_name: `org${Math.floor(r() * 50)}/repo-${Math.floor(r() * 1000)}`,
      language: lang,
      content,
      blobLen: content === null ? 64 : Math.floor(content.length * 0.6),
      blobSeed: Math.floor(r() * 2 ** 31),
    });
  }
  return rows;
}
function blobOf(row, scale) {
  const r = rng(row.blobSeed);
  const b = new Uint8Array(Math.max(1, Math.floor(row.blobLen * scale)));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

// ---- writers ----
function writeArrow(rows, scale, o) {
  const schema = new arrow.Schema([
    new arrow.Field('id', new arrow.Int64(), false),
    new arrow.Field('repo_name', new arrow.Utf8(), false),
    new arrow.Field('language', new arrow.Utf8(), true),
    new arrow.Field('content', new arrow.Utf8(), true),
    new arrow.Field('blob', new arrow.Binary(), false),
  ]);
  const cols = {
    id: arrow.vectorFromArray(rows.map(x => x.id), new arrow.Int64()),
    repo_name: arrow.vectorFromArray(rows.map(x => x.repo_name), new arrow.Utf8()),
    language: arrow.vectorFromArray(rows.map(x => x.language), new arrow.Utf8()),
    content: arrow.vectorFromArray(rows.map(x => x.content), new arrow.Utf8()),
    blob: arrow.vectorFromArray(rows.map(x => blobOf(x, scale)), new arrow.Binary()),
  };
  const t = new arrow.Table(schema, Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, v.data[0]])));
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression[o.codec])
    .setWriterVersion(o.version === 2 ? pw.WriterVersion.V2 : pw.WriterVersion.V1)
    .setDataPageSizeLimit(o.pageSize ?? 64 * 1024)
    .setColumnStatisticsEnabled('blob', pw.EnabledStatistics.None)
    .setColumnStatisticsEnabled('content', pw.EnabledStatistics.None);
  if (o.rowGroupRows) b = b.setMaxRowGroupSize(o.rowGroupRows);
  if (o.batch) b = b.setWriteBatchSize(o.batch);
  for (const [col, codec] of Object.entries(o.columnCodecs ?? {}))
    b = b.setColumnCompression(col, pw.Compression[codec]);
  if (o.contentEncoding) b = b.setColumnDictionaryEnabled('content', false)
    .setColumnEncoding('content', pw.Encoding[o.contentEncoding]);
  return pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(t, 'stream')), b.build());
}
function writeHyp(rows, scale, o) {
  const buf = hyp.parquetWriteBuffer({
    columnData: [
      { name: 'id', data: rows.map(x => x.id), type: 'INT64', nullable: false },
      { name: 'repo_name', data: rows.map(x => x.repo_name), type: 'STRING', nullable: false },
      { name: 'language', data: rows.map(x => x.language), type: 'STRING' },
      { name: 'content', data: rows.map(x => x.content), type: 'STRING', codec: o.contentCodec },
      { name: 'blob', data: rows.map(x => blobOf(x, scale)), type: 'BYTE_ARRAY', nullable: false,
        codec: 'UNCOMPRESSED', statistics: false },
    ],
    codec: o.codec,
    compressors: { GZIP: (x) => new Uint8Array(zlib.gzipSync(x)) },
    rowGroupSize: o.rowGroupSize,
    pageSize: o.pageSize ?? 32 * 1024,
  });
  return new Uint8Array(buf);
}

// ---- layout, read back with hyparquet ----
function layout(buf) {
  const meta = parquetMetadata(buf);
  const mlen = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(buf.byteLength - 8, true);
  const colBytes = {};
  const rgs = meta.row_groups.map(g => {
    const chunk = name => {
      const c = g.columns.find(x => x.meta_data.path_in_schema.join('.') === name).meta_data;
      const dict = c.dictionary_page_offset !== undefined ? Number(c.dictionary_page_offset) : -1;
      const data = Number(c.data_page_offset);
      const start = dict >= 0 && dict < data ? dict : data;
      return [start, start + Number(c.total_compressed_size)];
    };
    for (const c of g.columns) {
      const name = c.meta_data.path_in_schema.join('.');
      colBytes[name] = (colBytes[name] ?? 0) + Number(c.meta_data.total_compressed_size);
    }
    return { rows: Number(g.num_rows), content: chunk('content'), language: chunk('language') };
  });
  return { size: buf.byteLength, footer: mlen + 8, row_groups: rgs, column_bytes: colBytes };
}

// Write, then scale the blob column so that content is about a third of the file.
function writeFile(name, rows, write) {
  let buf = write(1);
  const l = layout(buf);
  const c = l.column_bytes.content, blob = l.column_bytes.blob;
  const rest = l.size - c - blob;
  const scale = Math.max(0.05, (2 * c - rest) / blob);
  buf = write(scale);
  fs.writeFileSync(path.join(out, name), buf);
  return layout(buf);
}

const files = [
  ['part-000.parquet', makeRows(1, 700), (rows) => (s) => writeArrow(rows, s,
    { codec: 'SNAPPY', version: 1, rowGroupRows: 150 })],
  ['part-001.parquet', makeRows(2, 900), (rows) => (s) => writeArrow(rows, s,
    { codec: 'ZSTD', version: 2, rowGroupRows: 233, batch: 16,
      columnCodecs: { content: 'ZSTD', blob: 'UNCOMPRESSED', repo_name: 'GZIP' } })],
  ['part-002.parquet', makeRows(3, 800), (rows) => (s) => writeHyp(rows, s,
    { codec: 'SNAPPY', contentCodec: 'GZIP', rowGroupSize: [40, 300, 7, 250, 120] })],
  ['part-003.parquet', makeRows(4, 600), (rows) => (s) => writeArrow(rows, s,
    { codec: 'LZ4_RAW', version: 2, rowGroupRows: 4, pageSize: 8 * 1024,
      contentEncoding: 'DELTA_LENGTH_BYTE_ARRAY' })],
  ['part-004.parquet', makeRows(5, 500), (rows) => (s) => writeArrow(rows, s,
    { codec: 'GZIP', version: 1, rowGroupRows: 333,
      columnCodecs: { content: 'GZIP', language: 'UNCOMPRESSED' } })],
  ['part-005.parquet', makeRows(6, 300), (rows) => (s) => writeArrow(rows, s,
    { codec: 'UNCOMPRESSED', version: 1, rowGroupRows: 1000 })],
];

const layouts = {};
const docs = [];
const filtered = [];
const counts = { rows: 0, nulls: 0, filtered_nulls: 0 };
const keep = new Set(['Python', 'Go']);
for (const [name, rows, mk] of files) {
  layouts[name] = writeFile(name, rows, mk(rows));
  for (const r of rows) {
    counts.rows++;
    if (r.content === null) {
      counts.nulls++;
      if (keep.has(r.language)) counts.filtered_nulls++;
      continue;
    }
    docs.push(r.content);
    if (keep.has(r.language)) filtered.push(r.content);
  }
  const l = layouts[name];
  console.log(`${name}: ${l.size} bytes, ${l.row_groups.length} row groups, footer ${l.footer}, ` +
    `content ${(100 * l.column_bytes.content / l.size).toFixed(1)}%`);
}
fs.writeFileSync(path.join(out, 'list.txt'), files.map(f => f[0]).join('\n') + '\n');
fs.writeFileSync(path.join(out, 'docs.json'), JSON.stringify(docs));
fs.writeFileSync(path.join(out, 'docs_filtered.json'), JSON.stringify(filtered));
fs.writeFileSync(path.join(out, 'layout.json'), JSON.stringify(layouts));
fs.writeFileSync(path.join(out, 'counts.json'), JSON.stringify(counts));
