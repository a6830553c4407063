// Writes the Parquet fixtures of tokfs's Parquet reader tests with two independent writers:
//   parquet-wasm     — Apache Arrow's Rust writer (arrow-rs) compiled to WebAssembly: codecs,
//                      data page v1/v2, dictionary on/off, PLAIN / DELTA_LENGTH_BYTE_ARRAY /
//                      DELTA_BYTE_ARRAY, row group and page sizes;
//   hyparquet-writer — a pure JavaScript writer (always data page v2): PLAIN, dictionary,
//                      DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY; SNAPPY built in, GZIP and
//                      BROTLI through node's zlib.
// and expected.json: the rows every fixture was given, and its row groups as [first, end) row
// ranges, so the expected text of each row group is rows[first..end).
//
// usage: node make_fixtures.mjs OUT_DIR, with this script copied next to the node_modules that
// `npm ci` made from package.json (tests/integration/test_parquet_reader.sh does both).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
// Run from the directory holding node_modules (the test copies this script there).
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm';
import * as hyp from 'hyparquet-writer';

// --seeds: the same files on a few short rows each (the libFuzzer seeds of tests/fuzz/corpus/parquet)
const seeds = process.argv[2] === '--seeds';
const out = process.argv[seeds ? 3 : 2];
if (!out) {
  console.error('usage: node make_fixtures.mjs [--seeds] OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

// ---- data: deterministic pseudo-random documents ----
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
const pieces = [
  'The quick brown fox jumps over the lazy dog. ',
  'Grüße aus Köln — naïve café, déjà vu. ',
  '東京都の天気は晴れです。机器学习很有趣。 ',
  '한국어 문장도 있습니다. ',
  'مرحبا بالعالم، هذا نص عربي. ',
  'नमस्ते दुनिया, यह हिंदी है। ',
  'Emoji: 🙂🚀👩‍💻🇫🇷 and ZWJ sequences. ',
  'def f(x):\n\treturn x * 2  # code\n',
  'line one\r\nline two\n\n  indented\u00a0nbsp ',
  'Ελληνικά και русский текст. ',
  'combining: e\u0301 a\u0308 ',
  'NUL inside: a\u0000b ',
];
const pool = ['', 'same document', 'Same document, different case', '🙂', 'x'];
function makeDocs(seed, n, { nulls = 0, longEvery = 0 } = {}) {
  const r = rng(seed);
  const docs = [];
  for (let i = 0; i < n; i++) {
    const u = r();
    if (nulls && u < nulls) {
      // nulls come alone or in runs
      const run = r() < 0.3 ? 1 + Math.floor(r() * 20) : 1;
      for (let k = 0; k < run && docs.length < n; k++) docs.push(null);
      i = docs.length - 1;
      continue;
    }
    if (r() < 0.25) {
      docs.push(pool[Math.floor(r() * pool.length)]);
      continue;
    }
    if (r() < 0.15) { // shared prefixes (what DELTA_BYTE_ARRAY is for)
      docs.push(`https://example.org/corpus/shard-${Math.floor(r() * 4)}/doc-${i}.txt`);
      continue;
    }
    let len = Math.floor(r() * r() * 1500);
    if (longEvery && i % longEvery === longEvery - 1) len = 60000 + Math.floor(r() * 60000);
    let s = '';
    while (s.length < len) s += pieces[Math.floor(r() * pieces.length)];
    docs.push(s.slice(0, Math.max(len, 1)).replace(/[\ud800-\udbff]$/, ''));
  }
  return docs.slice(0, n);
}
function makeLangs(seed, n, nullable) {
  const r = rng(seed);
  const langs = ['Python', 'C', 'Go', 'Rust', '', 'JavaScript', 'Python '];
  const a = [];
  for (let i = 0; i < n; i++) {
    if (nullable && r() < 0.1) a.push(null);
    else a.push(langs[Math.floor(r() * langs.length)]);
  }
  return a;
}

const datasets = seeds ? {
  req: { text: makeDocs(1, 24).map(s => s && s.slice(0, 40)), lang: makeLangs(11, 24, false) },
  opt: { text: makeDocs(2, 24, { nulls: 0.2 }).map(s => s && s.slice(0, 40)), lang: makeLangs(12, 24, true) },
  long: { text: ['a'.repeat(3000), 'b'], lang: ['C', 'Go'] },
  allnull: { text: [null, null, 'x', null], lang: ['Python', null, 'Go', 'C'] },
  distinct: { text: Array.from({ length: 60 }, (_, i) => `v${i}`), lang: makeLangs(15, 60, false) },
  empty: { text: [], lang: [] },
} : {
  req: { text: makeDocs(1, 700), lang: makeLangs(11, 700, false) },
  opt: { text: makeDocs(2, 700, { nulls: 0.12 }), lang: makeLangs(12, 700, true) },
  long: { text: makeDocs(3, 40, { longEvery: 5 }), lang: makeLangs(13, 40, false) },
  allnull: {
    text: [...Array(30).fill(null), ...makeDocs(4, 30)],
    lang: makeLangs(14, 60, true),
  },
  distinct: {
    text: Array.from({ length: 900 }, (_, i) => `distinct value ${i} ${'·'.repeat(i % 17)} 値${i}`),
    lang: makeLangs(15, 900, false),
  },
  empty: { text: [], lang: [] },
};

function ranges(n, size) {
  if (seeds) size = Math.max(1, Math.min(size, 10));
  const r = [];
  for (let s = 0; s < n; s += size) r.push([s, Math.min(n, s + size)]);
  return r;
}

const fixtures = [];
function record(file, writer, dataset, rowGroupSize, info) {
  const n = datasets[dataset].text.length;
  fixtures.push({ file, writer, dataset, row_groups: ranges(n, rowGroupSize), ...info });
}

// ---- parquet-wasm (arrow-rs) ----
function arrowTable(ds, { required, textType = 'utf8' }) {
  const d = datasets[ds];
  const tt = textType === 'binary' ? new arrow.Binary()
    : textType === 'large' ? new arrow.LargeUtf8() : new arrow.Utf8();
  const enc = new TextEncoder();
  const textVals = textType === 'binary' ? d.text.map(s => s === null ? null : enc.encode(s)) : d.text;
  const text = arrow.vectorFromArray(textVals, tt);
  const lang = arrow.vectorFromArray(d.lang, new arrow.Utf8());
  const langNullable = d.lang.some(v => v === null);
  const schema = new arrow.Schema([
    new arrow.Field('text', tt, !required),
    new arrow.Field('lang', new arrow.Utf8(), langNullable || !required),
  ]);
  if (d.text.length === 0)
    return new arrow.Table(schema);
  return new arrow.Table(schema, { text: text.data[0], lang: lang.data[0] });
}
function writeArrow(file, ds, opt) {
  const t = arrowTable(ds, opt);
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression[opt.codec])
    .setWriterVersion(opt.version === 2 ? pw.WriterVersion.V2 : pw.WriterVersion.V1)
    .setMaxRowGroupSize(seeds ? Math.min(opt.rowGroupSize, 10) : opt.rowGroupSize)
    .setDataPageSizeLimit(seeds ? 200 : opt.pageSize ?? 4096)
    .setWriteBatchSize(seeds ? 4 : opt.batch ?? 64)
    .setDictionaryEnabled(opt.encoding === 'dict');
  if (opt.encoding !== 'dict') b = b.setEncoding(pw.Encoding[opt.encoding]);
  if (opt.dictPageLimit) b = b.setDictionaryPageSizeLimit(opt.dictPageLimit);
  if (opt.stats) b = b.setStatisticsEnabled(pw.EnabledStatistics[opt.stats]);
  const buf = pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(t, 'stream')), b.build());
  fs.writeFileSync(path.join(out, file), buf);
  record(file, 'parquet-wasm', ds, opt.rowGroupSize, {
    codec: opt.codec, page_version: opt.version, encoding: opt.encoding,
    required: !!opt.required, text_type: opt.textType ?? 'utf8',
  });
}

const codecs = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'ZSTD', 'LZ4_RAW', 'LZ4'];
const encodings = ['dict', 'PLAIN', 'DELTA_LENGTH_BYTE_ARRAY', 'DELTA_BYTE_ARRAY'];
const rgSizes = [1000, 7, 128, 50, 333, 1];
let k = 0;
for (const [ci, codec] of codecs.entries()) {
  for (const version of [1, 2]) {
    for (const [ei, encoding] of encodings.entries()) {
      const required = (ci + ei + version) % 2 === 0;
      const rowGroupSize = rgSizes[k++ % rgSizes.length];
      const ds = required ? 'req' : 'opt';
      const file = `arrow_${codec.toLowerCase()}_v${version}_${encoding.toLowerCase()}_${required ? 'req' : 'opt'}.parquet`;
      writeArrow(file, ds, { codec, version, encoding, required, rowGroupSize });
    }
  }
}
// dictionary that overflows its page limit: dictionary pages, then the fallback encoding
// (PLAIN in v1, DELTA_BYTE_ARRAY in v2) within the same column chunk
for (const version of [1, 2])
  writeArrow(`arrow_fallback_v${version}.parquet`, 'distinct', {
    codec: 'SNAPPY', version, encoding: 'dict', required: true, rowGroupSize: 900,
    dictPageLimit: 2048,
  });
writeArrow('arrow_binary_v1.parquet', 'opt', { codec: 'ZSTD', version: 1, encoding: 'dict', rowGroupSize: 300, textType: 'binary' });
writeArrow('arrow_large_utf8_v2.parquet', 'req', { codec: 'LZ4_RAW', version: 2, encoding: 'PLAIN', required: true, rowGroupSize: 256, textType: 'large' });
writeArrow('arrow_long_docs_v1.parquet', 'long', { codec: 'GZIP', version: 1, encoding: 'PLAIN', required: true, rowGroupSize: 16, pageSize: 1 << 20, stats: 'PAGE' });
writeArrow('arrow_long_docs_v2.parquet', 'long', { codec: 'ZSTD', version: 2, encoding: 'DELTA_BYTE_ARRAY', rowGroupSize: 16, pageSize: 1 << 20, stats: 'PAGE' });
writeArrow('arrow_allnull_v1.parquet', 'allnull', { codec: 'SNAPPY', version: 1, encoding: 'dict', rowGroupSize: 30 });
writeArrow('arrow_allnull_v2.parquet', 'allnull', { codec: 'UNCOMPRESSED', version: 2, encoding: 'DELTA_LENGTH_BYTE_ARRAY', rowGroupSize: 30 });
writeArrow('arrow_big_pages_v1.parquet', 'req', { codec: 'ZSTD', version: 1, encoding: 'PLAIN', required: true, rowGroupSize: 700, pageSize: 1 << 20, batch: 1024 });
writeArrow('arrow_empty.parquet', 'empty', { codec: 'SNAPPY', version: 1, encoding: 'dict', required: true, rowGroupSize: 100 });

// ---- hyparquet-writer (JavaScript; data page v2 only) ----
const compressors = {
  GZIP: (b) => new Uint8Array(zlib.gzipSync(b)),
  BROTLI: (b) => new Uint8Array(zlib.brotliCompressSync(b)),
};
function writeHyp(file, ds, opt) {
  const d = datasets[ds];
  const schema = [
    { name: 'root', num_children: 2 },
    { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: opt.required ? 'REQUIRED' : 'OPTIONAL' },
    { name: 'lang', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: opt.required && !d.lang.includes(null) ? 'REQUIRED' : 'OPTIONAL' },
  ];
  const enc = opt.encoding === 'auto' ? undefined : opt.encoding;
  const buf = hyp.parquetWriteBuffer({
    columnData: [
      { name: 'text', data: d.text, encoding: enc },
      { name: 'lang', data: d.lang, encoding: enc },
    ],
    schema,
    codec: opt.codec,
    compressors,
    rowGroupSize: seeds ? Math.min(opt.rowGroupSize, 10) : opt.rowGroupSize,
    pageSize: seeds ? 100 : opt.pageSize ?? 3000,
    statistics: opt.stats ?? true,
  });
  fs.writeFileSync(path.join(out, file), new Uint8Array(buf));
  record(file, 'hyparquet-writer', ds, opt.rowGroupSize, {
    codec: opt.codec, page_version: 2, encoding: opt.encoding, required: !!opt.required,
    text_type: 'utf8', ...(opt.expect_error ? { expect_error: opt.expect_error } : {}),
  });
}
const hypEnc = ['auto', 'RLE_DICTIONARY', 'PLAIN', 'DELTA_LENGTH_BYTE_ARRAY', 'DELTA_BYTE_ARRAY'];
const hypRg = [100, 700, 3, 64, 250];
k = 0;
for (const [ci, codec] of ['UNCOMPRESSED', 'SNAPPY', 'GZIP'].entries()) {
  for (const [ei, encoding] of hypEnc.entries()) {
    const required = (ci + ei) % 2 === 0;
    const file = `hyp_${codec.toLowerCase()}_${encoding.toLowerCase()}_${required ? 'req' : 'opt'}.parquet`;
    writeHyp(file, required ? 'req' : 'opt', { codec, encoding, required, rowGroupSize: hypRg[k++ % hypRg.length] });
  }
}
writeHyp('hyp_long_docs.parquet', 'long', { codec: 'SNAPPY', encoding: 'PLAIN', required: true, rowGroupSize: 10, pageSize: 1 << 20 });
writeHyp('hyp_allnull.parquet', 'allnull', { codec: 'GZIP', encoding: 'auto', rowGroupSize: 30 });
// a codec tokfs refuses (with a message naming it)
writeHyp('hyp_brotli.parquet', 'req', { codec: 'BROTLI', encoding: 'PLAIN', required: true, rowGroupSize: 700, expect_error: 'BROTLI' });

fs.writeFileSync(path.join(out, 'expected.json'), JSON.stringify({
  text_column: 'text',
  filter_column: 'lang',
  filter_values: ['Python', 'Go', ''],
  datasets,
  fixtures,
}));
console.log(`wrote ${fixtures.length} fixtures to ${out}`);
