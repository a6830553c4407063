#!/usr/bin/env bash
# The Parquet reader (core/decode/parquet.c) on files written by two independent npm writers:
# parquet-wasm (Apache Arrow's Rust writer) and hyparquet-writer (JavaScript), pinned by
# tests/parquet/package-lock.json and installed with `npm ci` under the build dir. The node script
# tests/parquet/make_fixtures.mjs writes ~75 files covering every codec (UNCOMPRESSED, SNAPPY,
# GZIP, ZSTD, LZ4_RAW, LZ4), data pages v1 and v2, dictionary / PLAIN / DELTA_LENGTH_BYTE_ARRAY /
# DELTA_BYTE_ARRAY, REQUIRED and OPTIONAL columns, row groups of 1 to 1000 rows, Unicode, empty
# and long documents, plus expected.json (the rows each file was given). The C test program
# (tests/unit/test_parquet.c) then checks the text it reads equals those rows — whole chunks,
# chunks streamed in pieces, the row cursor, and the filter column in lockstep — and that
# bit-flipped, corrupted and truncated copies fail cleanly (TOKFS_PQ_MUTATIONS per file).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOKFS_SOURCE_DIR=${TOKFS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${TOKFS_BUILD_DIR:?set TOKFS_BUILD_DIR to the CMake build directory}"
test_bin=$TOKFS_BUILD_DIR/test_parquet
[[ -x $test_bin ]] || { echo "test_parquet_reader.sh: $test_bin not built" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "test_parquet_reader.sh: node and npm are needed (bash mount-scripts/install-deps.sh)" >&2; exit 1; }

npm_dir=$TOKFS_BUILD_DIR/npm-parquet
bash "$TOKFS_SOURCE_DIR/tests/lib/npm_install.sh" "$TOKFS_SOURCE_DIR/tests/parquet" "$npm_dir" >/dev/null
# The script imports its packages by name: run it from beside the node_modules it needs.
cp "$TOKFS_SOURCE_DIR/tests/parquet/make_fixtures.mjs" "$npm_dir/"
out=$TOKFS_BUILD_DIR/parquet-fixtures
rm -rf "$out"
node "$npm_dir/make_fixtures.mjs" "$out"
"$test_bin" --fixtures "$out"
