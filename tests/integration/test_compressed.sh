#!/usr/bin/env bash
# Compressed sources served by a real nginx, mounted by @LIST with tokenizer=bytes, read with
# numpy memmap: .jsonl.zst of several frames (with a 0-byte and a skippable frame), a .jsonl.zst
# in zstd's seekable format (cut at its frame boundaries), multi-member .json.gz (with an empty
# member), .ndjson.gz, .txt.gz, mixed with a plain .jsonl (tests/lib/corpus.py --compressed).
# Shows: exact content; lazy planning (no content GET at mount but the end of large .zst files,
# for a seek table); a shard of the seekable file fetches neither the file's start nor all of
# it; a large shard_size packs the small compressed files into one shard; a corrupt .zst and a
# truncated .gz fail only their shard (EIO, a log line naming the source and the compressed byte
# offset, status.json says so, nothing cached, other shards served); a source repaired with the
# same ETag serves on the next read; one repaired with a new ETag is "changed upstream" for the
# pinned plan until the plan is made again.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
command -v zstd >/dev/null || tk_fail "the zstd CLI is missing: run mount-scripts/install-deps.sh"
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 6 --docs-per-file 400 --bad --compressed
nginx_start "$corpus"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
opts="cache_size=64M,cache_dir=$cache,shard_size=30000,prefetch=0,tokenizer=bytes"

# plan_pieces CACHE SOURCE_INDEX: "index begin end" of every piece that reads that source.
plan_pieces() {
    "$PY" - "$1" "$2" <<'PY'
import glob, sys
plan, = glob.glob(sys.argv[1] + "/plan-*/plan.tsv")
want = int(sys.argv[2])
pieces = [l.rstrip("\n").split("\t") for l in open(plan) if l.startswith("piece\t")]
for i, p in enumerate(pieces):
    first, last, begin, end = int(p[1]), int(p[2]), int(p[3]), int(p[4])
    if first <= want <= last:
        print(i, begin if first == want else 0, end if last == want else -1)
PY
}
# shard_status MNT NAME FIELD
shard_status() {
    "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]+"/.tokfs/status.json")); print([x for x in s["shards"] if x["name"]==sys.argv[2]][0][sys.argv[3]])' "$1" "$2" "$3"
}
# expect_eio FILE: reading it raises OSError with errno EIO
expect_eio() {
    "$PY" - "$1" <<'PY' || tk_fail "reading $1 did not fail with EIO"
import errno, sys
try:
    open(sys.argv[1], "rb").read()
except OSError as e:
    sys.exit(0 if e.errno == errno.EIO else "errno %d" % e.errno)
sys.exit("served")
PY
}

tk_log "mount the mixed corpus: planning fetches no content but the end of large .zst files"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts"
ls -R "$mnt" >/dev/null
cat "$mnt/dataset_metadata.json" "$mnt/.tokfs/status.json" >/dev/null
[ "$(tk_status "$mnt" materializations)" -eq 0 ] || tk_fail "ls -R materialized a shard"
others=$(grep '^GET ' "$NGINX_ACCESS_LOG" | grep -v -e '^GET /list.txt ' || true)
printf '%s\n' "$others" | "$PY" -c '
import os, re, sys
root = sys.argv[1]
for line in filter(None, sys.stdin.read().splitlines()):
    m = re.match(r"GET /(\S+) range=bytes=(\d+)-(\d+) status=206 ", line)
    assert m and m.group(1).endswith(".zst"), "content fetched at mount: " + line
    size = os.path.getsize(os.path.join(root, m.group(1)))
    assert int(m.group(3)) == size - 1 and size - int(m.group(2)) <= 4096, "not a tail read: " + line
' "$corpus" || tk_fail "planning fetched more than seek-table tails"
grep -q 'GET /part-003.jsonl.zst range=bytes=' "$NGINX_ACCESS_LOG" || tk_fail "the seek table of part-003.jsonl.zst was not read"

tk_log "the seekable .jsonl.zst is cut at its frame boundaries, the others are whole"
"$PY" - "$cache" "$corpus/frames.json" <<'PY' || tk_fail "bad cuts: $(cat "$cache"/plan-*/plan.tsv)"
import glob, json, sys
plan, = glob.glob(sys.argv[1] + "/plan-*/plan.tsv")
lines = [l.rstrip("\n").split("\t") for l in open(plan)]
sources = [(l[6].rsplit("/", 1)[1], int(l[2])) for l in lines if l[0] == "source"]
frames = json.load(open(sys.argv[2]))["part-003.jsonl.zst"]
cuts = {}
for l in lines:
    if l[0] != "piece":
        continue
    first, last, begin, end = map(int, l[1:5])
    cuts.setdefault(first, []).append(begin)
    if end != sources[last][1]:
        cuts.setdefault(last, []).append(end)
for s, (name, size) in enumerate(sources):
    inner = [c for c in cuts.get(s, []) if 0 < c < size]
    if name == "part-003.jsonl.zst":
        assert len(inner) >= 2 and all(c in frames for c in inner), (name, inner, frames)
    elif name != "part-000.jsonl":
        assert not inner, (name, inner)
PY

tk_log "a middle shard of the seekable file fetches only from a frame boundary on"
read -r idx begin _ < <(plan_pieces "$cache" 3 | sed -n 2p)
[ "$begin" -gt 0 ] || tk_fail "second piece of part-003 starts at 0"
before=$(wc -l <"$NGINX_ACCESS_LOG")
"$PY" -c 'import numpy as np,sys; a=np.memmap(sys.argv[1],dtype=np.uint16,mode="r"); assert len(a)>0 and a[-1]==256' "$mnt/train/$(printf 'shard_%05d.bin' "$idx")"
reads=$(tail -n +"$((before + 1))" "$NGINX_ACCESS_LOG" | grep '^GET ')
printf '%s\n' "$reads" | grep -qv '^GET /part-003.jsonl.zst ' && tk_fail "reading a part-003 shard fetched other sources: $reads"
printf '%s\n' "$reads" | grep -q 'range=bytes=0-' && tk_fail "reading a middle part-003 shard fetched the file's start: $reads"
fetched=$(shard_status "$mnt" "train/$(printf 'shard_%05d.bin' "$idx")" bytes_fetched)
[ "$fetched" -lt "$(stat -c %s "$corpus/part-003.jsonl.zst")" ] || tk_fail "a part-003 shard fetched $fetched bytes, the whole file"

tk_log "whole mount equals the expected stream"
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
[ "$(tk_status "$mnt" records_skipped)" -eq "$(cat "$corpus/expected_skipped")" ] || tk_fail "records_skipped $(tk_status "$mnt" records_skipped) != $(cat "$corpus/expected_skipped")"
[ "$(tk_status "$mnt" failures)" -eq 0 ] || tk_fail "failures in a good corpus"
tk_umount "$mnt"

tk_log "a large shard_size packs everything, compressed files included, into one shard"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache-pack,shard_size=10M,val_shards=0,tokenizer=bytes" pack
[ "$(ls "$mnt/train" | wc -l)" -eq 1 ] || tk_fail "expected one shard, got $(ls "$mnt/train" | tr '\n' ' ')"
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
tk_umount "$mnt"

tk_log "a corrupt .zst and a truncated .gz: EIO for their shards only, nothing cached"
bad_cache=$TK_TMP/cache-bad
mkdir -p "$TK_TMP/orig"
cp -p "$corpus/part-001.jsonl.zst" "$corpus/part-002.json.gz" "$TK_TMP/orig/"
"$PY" - "$corpus/part-001.jsonl.zst" "$corpus/part-002.json.gz" <<'PY'
import sys
zst = bytearray(open(sys.argv[1], "rb").read())
mid = len(zst) // 2
zst[mid:mid + 8] = bytes(b ^ 0xa5 for b in zst[mid:mid + 8])   # flip bytes in the middle
open(sys.argv[1], "wb").write(zst)
gz = open(sys.argv[2], "rb").read()
open(sys.argv[2], "wb").write(gz[:len(gz) * 3 // 5])           # cut inside a member
PY
touch -r "$TK_TMP/orig/part-001.jsonl.zst" "$corpus/part-001.jsonl.zst" # same size and mtime: same ETag
badopts="cache_size=64M,cache_dir=$bad_cache,shard_size=30000,prefetch=0,tokenizer=bytes,val_shards=0,retries=0"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$badopts" bad
read -r zidx _ < <(plan_pieces "$bad_cache" 1)
read -r gidx _ < <(plan_pieces "$bad_cache" 2)
{ [ "$(plan_pieces "$bad_cache" 1 | wc -l)" -eq 1 ] && [ "$(plan_pieces "$bad_cache" 2 | wc -l)" -eq 1 ]; } || tk_fail "a compressed source spans several pieces"
zshard=$(printf 'train/shard_%05d.bin' "$zidx")
gshard=$(printf 'train/shard_%05d.bin' "$gidx")
expect_eio "$mnt/$zshard"
expect_eio "$mnt/$gshard"
grep -E "error|ERROR" "$TK_TMP/bad.log" | grep "part-001.jsonl.zst" | grep -q "corrupt zstd data in the frame at compressed byte [0-9]" || tk_fail "log does not name the .zst and the offset: $(cat "$TK_TMP/bad.log")"
grep "part-002.json.gz" "$TK_TMP/bad.log" | grep -q "truncated gzip data: the stream ends at compressed byte [0-9]" || tk_fail "log does not name the .gz and the offset: $(cat "$TK_TMP/bad.log")"
cat "$mnt/train/shard_00000.bin" >/dev/null || tk_fail "other shards are not served after a corrupt one"
last=$(ls "$mnt/train" | tail -n1)
cat "$mnt/train/$last" >/dev/null || tk_fail "other shards are not served after a corrupt one"
for s in "$zshard" "$gshard"; do
    [ "$(shard_status "$mnt" "$s" error)" = EIO ] || tk_fail "status.json: $s error is $(shard_status "$mnt" "$s" error)"
    [ "$(shard_status "$mnt" "$s" state)" = remote ] || tk_fail "status.json: $s is $(shard_status "$mnt" "$s" state)"
    [ "$(shard_status "$mnt" "$s" tokens)" = None ] || tk_fail "status.json: $s has a token count"
done
[ "$(tk_status "$mnt" failures)" -ge 2 ] || tk_fail "status.json failures $(tk_status "$mnt" failures)"
for i in "$zidx" "$gidx"; do
    [ ! -e "$(printf '%s/shards/%06d.bin' "$(echo "$bad_cache"/plan-*)" "$i")" ] || tk_fail "shard $i of corrupt data was cached"
done
[ -z "$(ls "$bad_cache"/plan-*/tmp)" ] || tk_fail "temp files left after failed builds: $(ls "$bad_cache"/plan-*/tmp)"

tk_log "repaired with the same ETag (a bad copy served, then the good one): the next read serves it"
cp -p "$TK_TMP/orig/part-001.jsonl.zst" "$corpus/part-001.jsonl.zst"
cat "$mnt/$zshard" >/dev/null || tk_fail "the repaired .zst is not served"
tk_settle "$mnt"
[ "$(shard_status "$mnt" "$zshard" state)" = cached ] || tk_fail "the repaired .zst shard is not cached"

tk_log "repaired with a new ETag: the pinned plan says 'changed upstream' until it is made again"
cp "$TK_TMP/orig/part-002.json.gz" "$corpus/part-002.json.gz"
touch -d '+5 seconds' "$corpus/part-002.json.gz"
tk_umount "$mnt"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$badopts" bad2
expect_eio "$mnt/$gshard"
grep "part-002.json.gz" "$TK_TMP/bad2.log" | grep -q "changed upstream" || tk_fail "log does not say the .gz changed: $(cat "$TK_TMP/bad2.log")"
cat "$mnt/$zshard" >/dev/null || tk_fail "cached shard not served after remount"
tk_umount "$mnt"
rm -rf "$bad_cache"/plan-*
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$badopts" bad3
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
tk_umount "$mnt"
echo PASS
