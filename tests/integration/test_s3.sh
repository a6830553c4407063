#!/usr/bin/env bash
# S3 and compatible stores as SOURCE (docs/s3.md), against a real S3-compatible server on
# loopback: npm s3rver, behind two proxies that check every request's AWS Signature V4 with an
# independent signer (npm aws4) — s3rver itself does not check V4 signatures — one accepting only
# requests signed with the test's key, secret, region and session token, one only anonymous ones
# (tests/s3/serve.js, sigv4_proxy.js). The verifier itself is checked first against AWS's
# published SigV4 examples for S3 (tests/s3/kat.js: known answers).
#
#   - s3://BUCKET/PREFIX, path-style, signed with a session token: every shard equals a mount of
#     the same files from a local directory; every request verified, none refused
#   - virtual-hosted addressing (BUCKET.s3.localhost) with a glob selecting some keys
#   - ListObjectsV2 pagination: 1005 objects under a prefix, two pages, all of them read
#   - a key with a space and a '+' (percent-encoding in the path, as signed)
#   - anonymous access (no credentials in the environment; or s3_anonymous with them)
#   - a wrong secret: the mount is refused with a message naming what to fix
#   - ETag pinning: an object replaced after the mount makes its shard EIO ("changed upstream")
#   - tokfs build into an S3 prefix (DEST s3://BUCKET/PREFIX): two tasks, shards equal a mount's,
#     manifest complete, a re-run skips everything; every PUT signed and verified
#   - a mount with shared=s3://BUCKET/PREFIX takes every shard from there: nothing tokenized
#   - the secret and the session token appear in no log, status, metadata, plan or message
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
command -v node >/dev/null && command -v npm >/dev/null ||
    tk_skip "node and npm are needed for s3rver (mount-scripts/install-deps.sh)"
S3REF=$(bash "$TOKFS_SOURCE_DIR/tests/lib/npm_install.sh" "$TOKFS_SOURCE_DIR/tests/s3" \
        "$TOKFS_BUILD_DIR/s3ref") || tk_fail "cannot install s3rver and aws4 from npm"
export NODE_PATH=$S3REF/node_modules
# The verifier first: aws4 must give AWS's published SigV4 examples for S3 exactly.
node "$TOKFS_SOURCE_DIR/tests/s3/kat.js" >&2 || tk_fail "aws4 does not reproduce AWS's SigV4 examples"

# ---- the bucket's content -------------------------------------------------------------------
"$PY" "$CORPUS_PY" make "$TK_TMP/gen" --files 4 --docs-per-file 200 --compressed >/dev/null
data=$TK_TMP/data
mkdir -p "$data/corpus" "$data/many" "$data/other" "$data/sp ace"
cp "$TK_TMP"/gen/part-* "$TK_TMP/gen/notes.txt.gz" "$data/corpus/"
echo "not a corpus file" >"$data/other/readme.md"
"$PY" - "$data/many" <<'PY'
import json, os, sys
for i in range(1005):
    with open(os.path.join(sys.argv[1], "k-%04d.jsonl" % i), "w") as f:
        f.write(json.dumps({"text": "document %d of the paginated prefix: %s" % (i, "ab " * (i % 7))}) + "\n")
PY
"$PY" - "$data/sp ace/x+y.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(300):
        f.write(json.dumps({"text": "a key with a space and a plus, document %d" % i}) + "\n")
PY

KEY=S3RVER # the one access key id s3rver knows
SECRET="tokfs-test-secret-$RANDOM$RANDOM-SeCrEt"
TOKEN="tokfs-test-session-token-$RANDOM$RANDOM"
REGION=eu-west-3
# --openssl-legacy-provider: s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in
# its legacy provider (without it a listing of more than one page is HTTP 500).
node --openssl-legacy-provider "$TOKFS_SOURCE_DIR/tests/s3/serve.js" --dir "$TK_TMP/s3rver" --bucket corpus-b \
    --data "$data" --port-file "$TK_TMP/ports" --log "$TK_TMP/proxy" --key "$KEY" \
    --secret "$SECRET" --region "$REGION" --token "$TOKEN" >"$TK_TMP/serve.log" 2>&1 &
TK_PIDS[s3serve]=$!
for _ in $(seq 1 600); do
    [ -s "$TK_TMP/ports" ] && break
    kill -0 "${TK_PIDS[s3serve]}" 2>/dev/null || tk_fail "serve.js exited: $(cat "$TK_TMP/serve.log")"
    sleep 0.1
done
[ -s "$TK_TMP/ports" ] || tk_fail "s3rver did not start within 60 s"
read -r SIGNED_PORT ANON_PORT S3_PORT <"$TK_TMP/ports"
tk_log "s3rver on $S3_PORT, signed proxy on $SIGNED_PORT, anonymous proxy on $ANON_PORT"

# verdicts LOG: "OK BAD" request counts in a proxy's log.
verdicts() {
    "$PY" -c 'import json,sys
v=[json.loads(l)["verdict"] for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
print(v.count("ok"), v.count("bad"))' "$1"
}
# refusals LOG: the reasons of refused requests, one per line.
refusals() {
    "$PY" -c 'import json,sys,os
for l in (open(sys.argv[1]) if os.path.exists(sys.argv[1]) else []):
    r=json.loads(l)
    if r["verdict"]!="ok": print(r["method"], r["url"], r["why"])' "$1"
}
# digest MNT: md5 of every shard, train then val, in name order.
digest() { cat "$1"/train/shard_*.bin "$1"/val/shard_*.bin | md5sum | cut -d' ' -f1; }

# signed_env: the test's credentials, and the signed proxy as AWS_ENDPOINT_URL.
signed_env() {
    export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$TOKEN
    export AWS_REGION=$REGION AWS_ENDPOINT_URL=http://127.0.0.1:$SIGNED_PORT
    unset AWS_DEFAULT_REGION
}
no_aws_env() {
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION \
        AWS_DEFAULT_REGION AWS_ENDPOINT_URL
}
opts() { echo "cache_size=64M,cache_dir=$TK_TMP/cache-$1,shard_size=20000,prefetch=0"; }

# ---- 1. path-style, signed, session token: the same shards as a local directory -------------
no_aws_env
tk_mount "$data/corpus" "$TK_TMP/local" "$(opts local)" local
want=$(digest "$TK_TMP/local")
want_corpus=$want
tk_umount "$TK_TMP/local"

signed_env
tk_mount s3://corpus-b/corpus "$TK_TMP/m1" "$(opts m1)" m1
got=$(digest "$TK_TMP/m1")
[ "$got" = "$want" ] || tk_fail "s3:// shards differ from the local directory's ($got vs $want)"
grep -q "s3://corpus-b/corpus: 5 object(s) of bucket corpus-b" "$TK_TMP/m1.log" ||
    tk_fail "listing: $(grep s3:// "$TK_TMP/m1.log")"
read -r ok bad < <(verdicts "$TK_TMP/proxy.signed")
[ "$bad" = 0 ] || tk_fail "requests refused by the SigV4 check: $(refusals "$TK_TMP/proxy.signed")"
[ "$ok" -ge 6 ] || tk_fail "only $ok signed requests seen (a listing and 5 objects expected)"
grep -q '"url":"/corpus-b?list-type=2&prefix=corpus"' "$TK_TMP/proxy.signed" ||
    tk_fail "the listing was not ListObjectsV2 path-style: $(head -n 2 "$TK_TMP/proxy.signed")"
cp "$TK_TMP/m1/.tokfs/status.json" "$TK_TMP/status-m1.json"
cp "$TK_TMP/m1/dataset_metadata.json" "$TK_TMP/metadata-m1.json"
tk_umount "$TK_TMP/m1"
tk_log "path-style signed mount: $ok requests verified, shards equal"

# ---- 2. virtual-hosted, a glob --------------------------------------------------------------
no_aws_env
mkdir -p "$TK_TMP/globbed"
cp "$data"/corpus/*.jsonl* "$TK_TMP/globbed/"
tk_mount "$TK_TMP/globbed" "$TK_TMP/local2" "$(opts local2)" local2
want=$(digest "$TK_TMP/local2")
tk_umount "$TK_TMP/local2"
signed_env # s3_endpoint= wins over AWS_ENDPOINT_URL
tk_mount 's3://corpus-b/corpus/*.jsonl*' "$TK_TMP/m2" \
    "$(opts m2),s3_endpoint=http://s3.localhost:$SIGNED_PORT,s3_addressing=virtual" m2
got=$(digest "$TK_TMP/m2")
[ "$got" = "$want" ] || tk_fail "virtual-hosted glob: shards differ from the local files'"
grep -q "3 object(s) of bucket corpus-b (5 listed" "$TK_TMP/m2.log" ||
    tk_fail "glob listing: $(grep s3:// "$TK_TMP/m2.log")"
grep -q '"url":"/?list-type=2&prefix=corpus%2F"' "$TK_TMP/proxy.signed" ||
    tk_fail "no virtual-hosted ListObjectsV2 request (GET /?list-type=2&prefix=corpus%2F)"
tk_umount "$TK_TMP/m2"
tk_log "virtual-hosted glob mount: 3 of 5 objects, shards equal"

# ---- 3. pagination: 1005 objects, two pages ---------------------------------------------------
no_aws_env
tk_mount "$data/many" "$TK_TMP/local3" "$(opts local3),shard_size=3000" local3
want=$(digest "$TK_TMP/local3")
tk_umount "$TK_TMP/local3"
signed_env
tk_mount s3://corpus-b/many/ "$TK_TMP/m3" "$(opts m3),shard_size=3000" m3
grep -q "1005 object(s) of bucket corpus-b (1005 listed, 2 page(s))" "$TK_TMP/m3.log" ||
    tk_fail "pagination: $(grep s3:// "$TK_TMP/m3.log")"
grep -q 'continuation-token=' "$TK_TMP/proxy.signed" || tk_fail "no continuation-token request"
got=$(digest "$TK_TMP/m3")
[ "$got" = "$want" ] || tk_fail "paginated prefix: shards differ from the local files'"
tk_umount "$TK_TMP/m3"

# ---- 4. a key with a space and a plus ---------------------------------------------------------
tk_mount 's3://corpus-b/sp ace/x+y.jsonl' "$TK_TMP/m4" "$(opts m4),shard_size=1000" m4
no_aws_env
tk_mount "$data/sp ace/x+y.jsonl" "$TK_TMP/local4" "$(opts local4),shard_size=1000" local4
[ "$(digest "$TK_TMP/m4")" = "$(digest "$TK_TMP/local4")" ] || tk_fail "key 'sp ace/x+y.jsonl' differs"
grep -q '"url":"/corpus-b/sp%20ace/x%2By.jsonl"' "$TK_TMP/proxy.signed" ||
    tk_fail "the key was not percent-encoded as SigV4 wants: $(grep sp "$TK_TMP/proxy.signed" | head -n 2)"
tk_umount "$TK_TMP/m4"
tk_umount "$TK_TMP/local4"
read -r ok bad < <(verdicts "$TK_TMP/proxy.signed")
[ "$bad" = 0 ] || tk_fail "requests refused by the SigV4 check: $(refusals "$TK_TMP/proxy.signed")"
tk_log "signed requests verified by aws4 so far: $ok, refused: 0"

# ---- 5. anonymous -------------------------------------------------------------------------------
no_aws_env
export AWS_ENDPOINT_URL=http://127.0.0.1:$ANON_PORT
tk_mount s3://corpus-b/corpus "$TK_TMP/m5" "$(opts m5)" m5
got=$(digest "$TK_TMP/m5")
[ "$got" = "$want_corpus" ] || tk_fail "anonymous mount differs from the local directory's"
tk_umount "$TK_TMP/m5"
signed_env
export AWS_ENDPOINT_URL=http://127.0.0.1:$ANON_PORT
tk_mount s3://corpus-b/corpus "$TK_TMP/m6" "$(opts m6),s3_anonymous" m6
[ "$(digest "$TK_TMP/m6")" = "$got" ] || tk_fail "s3_anonymous mount differs from the anonymous one"
tk_umount "$TK_TMP/m6"
read -r ok bad < <(verdicts "$TK_TMP/proxy.anonymous")
[ "$bad" = 0 ] || tk_fail "anonymous requests carried credentials: $(refusals "$TK_TMP/proxy.anonymous")"
[ "$ok" -ge 12 ] || tk_fail "only $ok anonymous requests seen"

# ---- 6. a wrong secret: refused at mount, saying what to fix ------------------------------------
signed_env
WRONG="wrong-$SECRET"
mkdir -p "$TK_TMP/m7"
if AWS_SECRET_ACCESS_KEY=$WRONG "$TOKFS" s3://corpus-b/corpus "$TK_TMP/m7" -o "$(opts m7)" -f \
    >"$TK_TMP/m7.log" 2>&1; then
    fusermount3 -u "$TK_TMP/m7" 2>/dev/null
    tk_fail "a mount with a wrong secret succeeded"
fi
grep -q "denied access with AWS_ACCESS_KEY_ID: check the key, AWS_SECRET_ACCESS_KEY" "$TK_TMP/m7.log" ||
    tk_fail "wrong secret: $(cat "$TK_TMP/m7.log")"
grep -qF "$WRONG" "$TK_TMP/m7.log" && tk_fail "the wrong secret is in the error message"
refusals "$TK_TMP/proxy.signed" | grep -q "signature differs" ||
    tk_fail "the proxy did not see a bad signature: $(refusals "$TK_TMP/proxy.signed")"

# ---- 7. ETag pinning: an object replaced after the mount --------------------------------------
tk_mount s3://corpus-b/corpus "$TK_TMP/m8" "$(opts m8)" m8
printf '{"text": "replaced upstream after the mount"}\n' >"$TK_TMP/replacement.jsonl"
node "$TOKFS_SOURCE_DIR/tests/s3/put.js" "$S3_PORT" corpus-b corpus/part-000.jsonl \
    "$TK_TMP/replacement.jsonl" || tk_fail "cannot replace an object in s3rver"
if cat "$TK_TMP/m8/train/shard_00000.bin" >/dev/null 2>"$TK_TMP/cat.err"; then
    tk_fail "a shard of a replaced object was served"
fi
grep -q "Input/output error" "$TK_TMP/cat.err" || tk_fail "not EIO: $(cat "$TK_TMP/cat.err")"
grep -q "changed upstream" "$TK_TMP/m8.log" || tk_fail "no 'changed upstream' line: $(tail -n 3 "$TK_TMP/m8.log")"
cp "$TK_TMP/m8/.tokfs/status.json" "$TK_TMP/status-m8.json"
tk_umount "$TK_TMP/m8"

# ---- 8. tokfs build into an S3 prefix (DEST s3://corpus-b/sets/c1), two tasks, then a re-run ----
signed_env
for t in 0 1; do
    "$TOKFS" build "$data/corpus" s3://corpus-b/sets/c1 -o "$(opts build)" --task "$t/2" \
        --progress lines >"$TK_TMP/build-$t.log" 2>&1 || tk_fail "build task $t: $(tail -n 3 "$TK_TMP/build-$t.log")"
done
"$TOKFS" build "$data/corpus" s3://corpus-b/sets/c1 -o "$(opts build)" --progress lines \
    >"$TK_TMP/build-again.log" 2>&1 || tk_fail "build re-run: $(tail -n 3 "$TK_TMP/build-again.log")"
grep -q "0 made, 4 already in DEST, 0 failed" "$TK_TMP/build-again.log" ||
    tk_fail "re-run did not skip: $(tail -n 2 "$TK_TMP/build-again.log")"
grep -q "DEST has 4 of 4 shards (complete)" "$TK_TMP/build-again.log" || tk_fail "manifest not complete"
got=$(for i in 0 1 2 3; do curl -sf "http://127.0.0.1:$S3_PORT/corpus-b/sets/c1/shards/00000$i.bin"; done | md5sum | cut -d' ' -f1)
[ "$got" = "$want_corpus" ] || tk_fail "shards built into S3 differ from a mount's"
curl -sf "http://127.0.0.1:$S3_PORT/corpus-b/sets/c1/manifest.json" | "$PY" -c '
import json, sys
m = json.load(sys.stdin)
assert m["complete"] is True and len(m["shards"]) == 4, m' || tk_fail "manifest.json in S3"
read -r ok bad < <(verdicts "$TK_TMP/proxy.signed")
[ "$bad" -le 1 ] || tk_fail "refused requests (beyond the wrong-secret one): $(refusals "$TK_TMP/proxy.signed")"
grep -q '"method":"PUT","url":"/corpus-b/sets/c1/shards/000000.bin"' "$TK_TMP/proxy.signed" ||
    tk_fail "no signed PUT of a shard"
tk_log "tokfs build into s3://corpus-b/sets/c1: 4 shards, equal to a mount's; re-run skipped all"
# the shared tier in S3: a mount of the same SOURCE with shared=s3://corpus-b/sets/c1 copies
# every shard from the bucket (checked against its record) and reads nothing of the sources
tk_mount "$data/corpus" "$TK_TMP/m9" "$(opts m9),shared=s3://corpus-b/sets/c1" m9
got=$(digest "$TK_TMP/m9")
[ "$got" = "$want_corpus" ] || tk_fail "shards from the S3 shared tier differ from a mount's"
[ "$(tk_status "$TK_TMP/m9" shared_hits)" = 4 ] || tk_fail "S3 shared tier: $(tk_status "$TK_TMP/m9" shared_hits) hits, want 4"
[ "$(tk_status "$TK_TMP/m9" shards_tokenized)" = 0 ] || tk_fail "S3 shared tier: a shard was tokenized"
[ "$(tk_status "$TK_TMP/m9" bytes_fetched)" = 0 ] || tk_fail "S3 shared tier: sources were read"
cp "$TK_TMP/m9/.tokfs/status.json" "$TK_TMP/status-m9.json"
tk_umount "$TK_TMP/m9"

# ---- 9. secrets nowhere -------------------------------------------------------------------------
for s in "$SECRET" "$TOKEN"; do
    hits=$(grep -rlF -- "$s" "$TK_TMP"/*.log "$TK_TMP"/*.json "$TK_TMP"/cache-* 2>/dev/null || true)
    [ -z "$hits" ] || tk_fail "a secret is written in: $hits"
done
tk_done
