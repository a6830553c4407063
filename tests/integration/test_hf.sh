#!/usr/bin/env bash
# hf:// sources against a real nginx on loopback serving a mirror of the Hugging Face hub's layout:
#   /api/datasets/O/N/revision/REV        static JSON with the commit id ("sha")
#   /api/datasets/O/N/tree/SHA/DIR        static JSON pages (?recursive=true or not); the
#                                         recursive listing of data/ has two pages, page 1 sends
#                                         Link: <...&cursor=page2>; rel="next"
#   /datasets/O/N/resolve/SHA/PATH        302 to http://localhost:PORT/cdn/SHA/PATH (another host
#                                         name for the same server: the CDN), which serves the
#                                         file with ranges
# The API and resolve answer 401 unless "Authorization: Bearer $TOKEN" is sent; the CDN answers
# 403 if any Authorization header reaches it. So a mount that works proves the token reached the
# endpoint and did not follow the redirect to the other host.
# Shows: the glob selects the right files in path order (a file in a subdirectory through '**',
# other formats ignored, '*' not crossing '/'), pagination followed, the revision pinned to its
# commit; exact token stream (tokenizer=bytes, plain .jsonl and .zst/.gz sources); laziness (no
# HEAD, no content GET at mount but a seek-table tail, whose Range survives the redirect); every
# ranged GET redirected keeps its Range; the token appears in no tokfs log, status.json,
# dataset_metadata.json, plan.tsv or message; a token is not sent to another host; an offline
# remount needs no API request; bad inputs give a one-line error naming them (malformed URL, no
# match, only other formats, 401 from the revision or tree API asking for HF_TOKEN, a refused
# token, a gated dataset (403 on its files, found by the one probe at mount), an unknown
# revision, a bad HF_ENDPOINT).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
command -v zstd >/dev/null || tk_fail "the zstd CLI is missing: run mount-scripts/install-deps.sh"
src=$TK_TMP/src
"$PY" "$CORPUS_PY" make "$src" --files 6 --docs-per-file 300 --bad --compressed
root=$TK_TMP/www
TOKEN=hf_tokfsTest${RANDOM}x${RANDOM}Secret
REPO=tokfs-test/corpus

# The repo: path -> file of the generated corpus (or a small other-format file).
SHA=$("$PY" - "$src" "$root" "$REPO" <<'PY'
import hashlib, json, os, shutil, sys
src, root, repo = sys.argv[1:4]
sha = hashlib.sha1(b"tokfs-test commit").hexdigest()
files = {
    ".gitattributes": b"*.zst filter=lfs diff=lfs merge=lfs -text\n",
    "README.md": b"# test corpus\n",
    "data/part-000.jsonl": "part-000.jsonl",
    "data/part-001.jsonl.zst": "part-001.jsonl.zst",
    "data/part-002.json.gz": "part-002.json.gz",
    "data/part-003.jsonl.zst": "part-003.jsonl.zst",
    "data/part-004.ndjson.gz": "part-004.ndjson.gz",
    "data/index.json": b'{"not": "json lines"}\n',
    "data/stats.csv": b"a,b\n1,2\n",
    "data/sub/part-005.jsonl.zst": "part-005.jsonl.zst",
    "data/sub/info.md": b"about\n",
    "data/zz/notes.txt.gz": "notes.txt.gz",
    "other/part-999.jsonl": b'{"text": "outside the glob"}\n',
}
entries = {}
for path, what in files.items():
    dst = os.path.join(root, "cdn", sha, path)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if isinstance(what, bytes):
        open(dst, "wb").write(what)
    else:
        shutil.copyfile(os.path.join(src, what), dst)
    data = open(dst, "rb").read()
    e = {"type": "file", "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
         "size": len(data), "path": path}
    if path.endswith((".zst", ".gz")):
        e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    entries[path] = e
    d = os.path.dirname(path)
    while d:
        entries.setdefault(d, {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(),
                               "size": 0, "path": d})
        d = os.path.dirname(d)
api = os.path.join(root, "api", "datasets", repo)
os.makedirs(os.path.join(api, "revision", "refs", "convert"))
for rev in ("main", "refs/convert/parquet"):
    json.dump({"id": repo, "sha": sha, "siblings": [{"rfilename": p} for p in files]},
              open(os.path.join(api, "revision", rev), "w"))
tree = os.path.join(root, "hfapi", "api", "datasets", repo, "tree", sha)
dirs = [""] + sorted({p for p, e in entries.items() if e["type"] == "directory"})
for d in dirs:
    under = [e for p, e in sorted(entries.items()) if not d or p.startswith(d + "/")]
    flat = [e for e in under if os.path.dirname(e["path"]) == d]
    os.makedirs(os.path.join(tree, d), exist_ok=True)
    json.dump(flat, open(os.path.join(tree, d, "page1.flat.json"), "w"))
    if d == "data":  # two pages, cut between the selected files
        half = len(under) // 2
        json.dump(under[:half], open(os.path.join(tree, d, "page1.recursive.json"), "w"))
        json.dump(under[half:], open(os.path.join(tree, d, "page2.recursive.json"), "w"))
    else:
        json.dump(under, open(os.path.join(tree, d, "page1.recursive.json"), "w"))
# A gated dataset: it lists fine, its files are refused (403) even with a token.
gated = os.path.join(root, "api", "datasets", "tokfs-test", "gated")
os.makedirs(os.path.join(gated, "revision"))
json.dump({"id": "tokfs-test/gated", "sha": sha, "gated": "manual"},
          open(os.path.join(gated, "revision", "main"), "w"))
gtree = os.path.join(root, "hfapi", "api", "datasets", "tokfs-test", "gated", "tree", sha)
os.makedirs(gtree)
json.dump([{"type": "file", "oid": "0" * 40, "size": 10, "path": "a.jsonl"}],
          open(os.path.join(gtree, "page1.recursive.json"), "w"))
print(sha)
PY
)

# shellcheck disable=SC2016  # nginx variables, not shell ones
conf='
set $hf_mode flat;
if ($arg_recursive = "true") { set $hf_mode recursive; }
set $hf_page page1;
if ($arg_cursor = "page2") { set $hf_page page2; }
set $hf_link "";
if ($request_uri ~ "^/api/datasets/tokfs-test/corpus/tree/[0-9a-f]+/data\?recursive=true$") {
    set $hf_link "<http://127.0.0.1:$server_port$uri?recursive=true&cursor=page2>; rel=\"next\"";
}
location /api/ {
    default_type application/json;
    if ($http_authorization != "Bearer @TOKEN@") {
        return 401 "{\"error\": \"Invalid credentials in Authorization header\"}";
    }
    add_header Link $hf_link;
    try_files /hfapi$uri/$hf_page.$hf_mode.json $uri =404;
}
location /datasets/tokfs-test/corpus/resolve/ {
    if ($http_authorization != "Bearer @TOKEN@") { return 401; }
    rewrite ^/datasets/tokfs-test/corpus/resolve/([0-9a-f]+)/(.*)$ http://localhost:$server_port/cdn/$1/$2 redirect;
}
location /datasets/tokfs-test/gated/resolve/ {
    return 403 "Access to dataset tokfs-test/gated is restricted";
}
location /cdn/ {
    if ($http_authorization) { return 403; }
}
'
NGINX_EXTRA_CONF=${conf//@TOKEN@/$TOKEN}
nginx_start "$root"
export HF_ENDPOINT=$NGINX_URL HF_TOKEN=$TOKEN
mnt=$TK_TMP/mnt
opts="shard_size=30000,prefetch=0,tokenizer=bytes,cache_size=64M"
HF="hf://datasets/$REPO"

# plan_sources CACHE: "path-in-repo size" of each planned source, in order.
plan_sources() {
    "$PY" - "$1" "$NGINX_URL/datasets/$REPO/resolve/$SHA/" <<'PY'
import glob, sys
plan, = glob.glob(sys.argv[1] + "/plan-*/plan.tsv")
for l in open(plan):
    f = l.rstrip("\n").split("\t")
    if f[0] == "source":
        assert f[6].startswith(sys.argv[2]), f[6]
        assert f[4] == "" and f[3] == "1", l  # no ETag (the commit pins it), ranges
        print(f[6][len(sys.argv[2]):], f[2])
PY
}
# expect_sources CACHE PATH...: the plan's sources are exactly these repo paths, with their sizes.
expect_sources() {
    local cache=$1 p want=""
    shift
    for p in "$@"; do want+="$p $(stat -c %s "$root/cdn/$SHA/$p")"$'\n'; done
    local got
    got=$(plan_sources "$cache")$'\n'
    [ "$got" = "$want" ] || tk_fail "planned sources differ: got
$got
expected
$want"
}

tk_log "mount $HF/data/** (pagination, '**' into a subdirectory, other formats ignored)"
cache=$TK_TMP/cache
tk_mount "$HF/data/**" "$mnt" "$opts,cache_dir=$cache"
ls -R "$mnt" >/dev/null
cat "$mnt/dataset_metadata.json" "$mnt/.tokfs/status.json" >/dev/null
expect_sources "$cache" data/part-000.jsonl data/part-001.jsonl.zst data/part-002.json.gz \
    data/part-003.jsonl.zst data/part-004.ndjson.gz data/sub/part-005.jsonl.zst data/zz/notes.txt.gz
[ "$(ls "$mnt/train" | wc -l)" -ge 3 ] || tk_fail "expected several train shards"
grep -q "^GET /api/datasets/$REPO/revision/main?expand=sha .*status=200" "$NGINX_ACCESS_LOG" || tk_fail "revision not resolved"
grep -q "^GET /api/datasets/$REPO/tree/$SHA/data?recursive=true .*status=200" "$NGINX_ACCESS_LOG" || tk_fail "page 1 not listed"
grep -q "^GET /api/datasets/$REPO/tree/$SHA/data?recursive=true&cursor=page2 .*status=200" "$NGINX_ACCESS_LOG" || tk_fail "the Link to page 2 was not followed"
[ "$(nginx_log_count '^HEAD ')" -eq 2 ] || tk_fail "HEAD requests at plan time: the listing gives sizes, one probe only: $(grep ^HEAD "$NGINX_ACCESS_LOG")"
grep -q "^HEAD /datasets/$REPO/resolve/$SHA/data/part-000.jsonl range=- status=302" "$NGINX_ACCESS_LOG" || tk_fail "no access probe of the first file"
grep -q "^HEAD /cdn/$SHA/data/part-000.jsonl range=- status=200" "$NGINX_ACCESS_LOG" || tk_fail "the access probe did not follow the redirect"
[ "$(nginx_log_count 'status=(401|403)')" -eq 0 ] || tk_fail "a 401/403: the token missed the endpoint or reached the CDN: $(grep -E 'status=(401|403)' "$NGINX_ACCESS_LOG")"
tk_log "laziness: no content GET at mount but the tails of large .zst files (seek tables)"
"$PY" - "$NGINX_ACCESS_LOG" "$root/cdn/$SHA" "$REPO" <<'PY' || tk_fail "content fetched at mount: $(cat "$NGINX_ACCESS_LOG")"
import os, re, sys
log, cdn, repo = sys.argv[1:4]
for line in open(log):
    if line.startswith(("GET /api/", "HEAD ")):
        continue
    m = re.match(r"GET /(?:datasets/%s/resolve|cdn)/[0-9a-f]+/(\S+) range=bytes=(\d+)-(\d+) status=(302|206) " % repo, line)
    assert m and m.group(1).endswith(".zst"), line
    size = os.path.getsize(os.path.join(cdn, m.group(1)))
    assert int(m.group(3)) == size - 1 and size - int(m.group(2)) <= 4096, line
PY
grep -q "^GET /cdn/$SHA/data/part-003.jsonl.zst range=bytes=[0-9]*-[0-9]* status=206" "$NGINX_ACCESS_LOG" || tk_fail "the seek-table read did not reach the CDN with its Range"

tk_log "whole mount equals the expected stream"
"$PY" "$CORPUS_PY" verify "$mnt" "$src/expected.u16"
[ "$(tk_status "$mnt" records_skipped)" -eq "$(cat "$src/expected_skipped")" ] || tk_fail "records_skipped differs"
[ "$(tk_status "$mnt" failures)" -eq 0 ] || tk_fail "failures in a good corpus"
tk_log "every redirected GET kept its Range (whole compressed files: no Range), the CDN never saw Authorization"
"$PY" - "$NGINX_ACCESS_LOG" "$REPO" <<'PY' || tk_fail "ranges lost across the redirect: $(grep -v '^GET /api/' "$NGINX_ACCESS_LOG")"
import collections, re, sys
log, repo = sys.argv[1:3]
hub, cdn = collections.Counter(), collections.Counter()
for line in open(log):
    m = re.match(r"GET /datasets/%s/resolve/(\S+) range=(\S+) status=302 " % repo, line)
    if m:
        hub[m.groups()] += 1
    m = re.match(r"GET /cdn/(\S+) range=(\S+) status=(\d+) ", line)
    if m:
        assert m.group(3) == ("200" if m.group(2) == "-" else "206"), line  # never 403
        cdn[m.groups()[:2]] += 1
assert hub and hub == cdn, (hub, cdn)
assert sum(hub.values()) > 7, hub  # the seek table, then every source (some by several ranges)
PY
[ "$(nginx_log_count 'status=(401|403)')" -eq 0 ] || tk_fail "a 401/403 while reading"
cp "$mnt/dataset_metadata.json" "$mnt/.tokfs/status.json" "$TK_TMP/"
grep -q "\"source\": \"$HF/data/\*\*\"" "$TK_TMP/dataset_metadata.json" || tk_fail "dataset_metadata.json does not name the hf:// source"
tk_umount "$mnt"

tk_log "offline-style remount: the saved plan (pinned commit) needs no API request"
before=$(nginx_log_count '^GET /api/')
tk_mount "$HF/data/**" "$mnt" "$opts,cache_dir=$cache" remount
"$PY" "$CORPUS_PY" verify "$mnt" "$src/expected.u16"
[ "$(nginx_log_count '^GET /api/')" -eq "$before" ] || tk_fail "the remount listed the hub again"
tk_umount "$mnt"

# plan_only NAME SOURCE PATH...: mount SOURCE, check its planned sources, unmount.
plan_only() {
    local name=$1 source=$2
    shift 2
    tk_mount "$source" "$mnt" "$opts,val_shards=0,cache_dir=$TK_TMP/cache-$name" "$name"
    expect_sources "$TK_TMP/cache-$name" "$@"
    tk_umount "$mnt"
}
tk_log "'*' stays within its directory"
plan_only star "$HF/data/*" data/part-000.jsonl data/part-001.jsonl.zst data/part-002.json.gz \
    data/part-003.jsonl.zst data/part-004.ndjson.gz
tk_log "classes and '**' in the middle"
plan_only middle "$HF/**/part-00[3-5].*" data/part-003.jsonl.zst data/part-004.ndjson.gz \
    data/sub/part-005.jsonl.zst
tk_log "a literal file, a literal directory, the whole repo"
plan_only file "$HF/data/sub/part-005.jsonl.zst" data/sub/part-005.jsonl.zst
grep -q "^GET /api/datasets/$REPO/tree/$SHA/data/sub range=- status=200" "$NGINX_ACCESS_LOG" || tk_fail "a literal path is looked up in its parent's own entries"
plan_only dir "$HF/data/sub/" data/sub/part-005.jsonl.zst
plan_only all "$HF" data/part-000.jsonl data/part-001.jsonl.zst data/part-002.json.gz \
    data/part-003.jsonl.zst data/part-004.ndjson.gz data/sub/part-005.jsonl.zst \
    data/zz/notes.txt.gz other/part-999.jsonl
tk_log "revisions: a slashed ref is URL-encoded; a commit id is used as it is"
plan_only ref "$HF@refs/convert/parquet/data/zz/*.gz" data/zz/notes.txt.gz
grep -q "^GET /api/datasets/$REPO/revision/refs%2Fconvert%2Fparquet?expand=sha " "$NGINX_ACCESS_LOG" || tk_fail "refs/convert/parquet not encoded"
before=$(nginx_log_count '/revision/')
plan_only commit "$HF@$SHA/data/zz/*.gz" data/zz/notes.txt.gz
[ "$(nginx_log_count '/revision/')" -eq "$before" ] || tk_fail "a commit id was resolved again"

tk_log "the CDN guard works: it refuses a request carrying Authorization"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x" "http://localhost:$NGINX_PORT/cdn/$SHA/README.md")
[ "$code" = 403 ] || tk_fail "the CDN answered $code to a request with Authorization"
code=$(curl -s -o /dev/null -w '%{http_code}' "$NGINX_URL/api/datasets/$REPO/revision/main")
[ "$code" = 401 ] || tk_fail "the API answered $code without a token"

tk_log "HF_TOKEN goes to the endpoint's host only: not to another host named in SOURCE"
before=$(nginx_log_count 'status=(401|403)')
tk_mount "http://localhost:$NGINX_PORT/cdn/$SHA/data/part-000.jsonl" "$mnt" "$opts,cache_dir=$TK_TMP/cache-other" other
tk_umount "$mnt"
[ "$(nginx_log_count 'status=(401|403)')" -eq "$before" ] || tk_fail "the token reached another host"

# expect_error NAME SOURCE PATTERN [ENV...]: tokfs exits 1 with one line naming SOURCE and PATTERN.
expect_error() {
    local name=$1 source=$2 pattern=$3
    shift 3
    mkdir -p "$TK_TMP/mnt-$name"
    local rc=0
    env "$@" "$TOKFS" "$source" "$TK_TMP/mnt-$name" -o "$opts,cache_dir=$TK_TMP/cache-err" -f \
        >"$TK_TMP/$name.out" 2>"$TK_TMP/$name.err" || rc=$?
    mountpoint -q "$TK_TMP/mnt-$name" && tk_fail "$name: mounted"
    [ "$rc" -eq 1 ] || tk_fail "$name: exit status $rc, expected 1: $(cat "$TK_TMP/$name.err")"
    [ "$(wc -l <"$TK_TMP/$name.err")" -eq 1 ] || tk_fail "$name: not one line: $(cat "$TK_TMP/$name.err")"
    grep -qF -- "$source" "$TK_TMP/$name.err" || tk_fail "$name: message does not name $source: $(cat "$TK_TMP/$name.err")"
    grep -qE -- "$pattern" "$TK_TMP/$name.err" || tk_fail "$name: message lacks /$pattern/: $(cat "$TK_TMP/$name.err")"
    tk_log "  $name: $(cat "$TK_TMP/$name.err")"
}
tk_log "bad inputs: one line naming them"
expect_error malformed "hf://datasets/tokfs-test" "OWNER/NAME"
expect_error model "hf://models/gpt2/x.jsonl" "dataset repos only"
expect_error nomatch "$HF/data/nothing-*.jsonl" "no file matches data/nothing-\*.jsonl"
expect_error nodir "$HF/missing/*.jsonl" "no file matches"
expect_error formats "$HF/data/*.csv" "none in a format tokfs reads \(e.g. data/stats.csv\)"
expect_error notoken "$HF/data/**" "set HF_TOKEN.*HTTP 401" -u HF_TOKEN
expect_error notoken_tree "$HF@$SHA/data/**" "set HF_TOKEN.*tree/$SHA/data\?recursive=true.*HTTP 401" -u HF_TOKEN
expect_error badtoken "$HF/data/**" "denied access with HF_TOKEN" HF_TOKEN=hf_wrongTokenValue123
grep -q hf_wrongTokenValue123 "$TK_TMP/badtoken.err" && tk_fail "the refused token is in the message"
expect_error gated "hf://datasets/tokfs-test/gated/*.jsonl" "accept its conditions.*HTTP 403"
expect_error norev "$HF@nope/data/**" "no revision nope"
expect_error endpoint "$HF/data/**" "HF_ENDPOINT=ftp://x is not an http" HF_ENDPOINT=ftp://x

tk_log "the token is in no log, status file, metadata, plan or message"
hits=$(grep -rlF -- "$TOKEN" "$TK_TMP"/cache* "$TK_TMP"/*.log "$TK_TMP"/*.err "$TK_TMP"/*.out \
    "$TK_TMP/status.json" "$TK_TMP/dataset_metadata.json" 2>/dev/null || true)
[ -z "$hits" ] || tk_fail "the token leaked into: $hits"
echo "test_hf: all checks passed"
