#!/usr/bin/env bash
# Security promises: TLS certificates are verified by default (a self-signed server is refused
# with a message naming the certificate problem; `insecure` mounts it and warns loudly);
# credentials in source URLs (user:password@) never appear in the log, status.json,
# dataset_metadata.json or an error message; the cache dir is 0700 and every file in it 0600;
# cache file names never come from source names; the mount is read-only and has no allow_other
# unless asked.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 3 --docs-per-file 200
secret="s3cr3t-Pa55w0rd-$$"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -keyout "$TK_TMP/key.pem" -out "$TK_TMP/cert.pem" >/dev/null 2>&1 || tk_fail "openssl cannot make a test certificate"
tls_port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NGINX_EXTRA_CONF="listen 127.0.0.1:$tls_port ssl; ssl_certificate $TK_TMP/cert.pem; ssl_certificate_key $TK_TMP/key.pem;"
nginx_start "$corpus"
mnt=$TK_TMP/mnt
mkdir -p "$mnt"
opts="cache_size=32M,cache_dir=$TK_TMP/cache,tokenizer=bytes,shard_size=20000"

tk_log "TLS is verified by default: a self-signed server is refused"
if "$TOKFS" "https://127.0.0.1:$tls_port/part-000.jsonl" "$mnt" -o "$opts" -f >"$TK_TMP/tls.out" 2>&1; then
    tk_fail "mounted a server with a self-signed certificate without insecure"
fi
mountpoint -q "$mnt" && tk_fail "something is mounted after a refused TLS source"
grep -qi "certificate" "$TK_TMP/tls.out" || tk_fail "the TLS refusal does not name the certificate: $(cat "$TK_TMP/tls.out")"
[ "$(wc -l <"$TK_TMP/tls.out")" -eq 1 ] || tk_fail "the TLS refusal is not one line: $(cat "$TK_TMP/tls.out")"

tk_log "insecure mounts it, with a loud warning"
tk_mount "https://127.0.0.1:$tls_port/part-000.jsonl" "$mnt" "$opts,insecure,cache_dir=$TK_TMP/cache-tls" insecure
grep -q "WARNING: insecure" "$TK_TMP/insecure.log" || tk_fail "insecure gave no warning"
"$PY" -c 'import numpy as np,sys; a=np.memmap(sys.argv[1],dtype=np.uint16,mode="r"); assert a[-1]==256' "$mnt/train/shard_00000.bin"
tk_umount "$mnt"

tk_log "credentials in the source URL stay secret"
auth_url="http://reader:$secret@127.0.0.1:$NGINX_PORT"
printf '%s/part-000.jsonl\n%s/part-001.jsonl\n%s/part-002.jsonl\n' "$auth_url" "$auth_url" "$auth_url" >"$TK_TMP/list.txt"
tk_mount "@$TK_TMP/list.txt" "$mnt" "$opts" creds
cat "$mnt"/train/*.bin "$mnt"/val/*.bin >/dev/null
cat "$mnt/dataset_metadata.json" "$mnt/.tokfs/status.json" >"$TK_TMP/creds.json"
grep -q "reader:" "$TK_TMP/creds.json" && tk_fail "the user name of a source URL is in status/metadata"
grep -q "$secret" "$TK_TMP/creds.json" "$TK_TMP/creds.log" && tk_fail "the password of a source URL leaked into status, metadata or the log"
tk_umount "$mnt"
# an error message about such a source (a 404) names it without the password
printf '%s/missing.jsonl\n' "$auth_url" >"$TK_TMP/bad-list.txt"
if "$TOKFS" "@$TK_TMP/bad-list.txt" "$mnt" -o "$opts,cache_dir=$TK_TMP/cache-bad" -f >"$TK_TMP/bad.out" 2>&1; then
    tk_fail "a 404 source mounted"
fi
grep -q "missing.jsonl" "$TK_TMP/bad.out" || tk_fail "the 404 message does not name the source: $(cat "$TK_TMP/bad.out")"
grep -q "$secret" "$TK_TMP/bad.out" && tk_fail "the password is in the error message: $(cat "$TK_TMP/bad.out")"

tk_log "cache dir 0700, files 0600, names tokfs's own"
bad_modes=$(find "$TK_TMP/cache" \( -type d ! -perm 0700 \) -o \( -type f ! -perm 0600 \) -print)
[ -z "$bad_modes" ] || tk_fail "cache entries with looser modes: $bad_modes $(ls -la $bad_modes)"
bad_names=$(find "$TK_TMP/cache" -mindepth 1 | sed "s|$TK_TMP/cache/||" | grep -vE '^(lock|plan-[0-9a-f]{16}(/(plan\.tsv|catalog\.bin|chunks\.bin|shards|tmp|shards/[0-9]{6}\.bin))?)$' || true)
[ -z "$bad_names" ] || tk_fail "unexpected names in the cache dir: $bad_names"

tk_log "read-only, and no allow_other unless asked"
tk_mount "@$TK_TMP/list.txt" "$mnt" "$opts" ro
opts_seen=$(awk -v m="$mnt" '$2 == m { print $4 }' /proc/mounts)
echo "$opts_seen" | grep -q "allow_other" && tk_fail "mounted with allow_other without being asked: $opts_seen"
echo "$opts_seen" | grep -qw "ro" || tk_fail "mount is not read-only: $opts_seen"
if (echo x >"$mnt/new.txt") 2>/dev/null; then tk_fail "created a file on the mount"; fi
tk_umount "$mnt"
tk_log "ok"
