#!/usr/bin/env bash
# Integration test of core/source/fetch.c over real HTTP: a private nginx (tests/lib/nginx.sh) and a
# small fault-injecting Python server both serve one generated directory; the C test program
# ($TOKFS_BUILD_DIR/test_fetch, from tests/unit/test_fetch.c) runs its HTTP cases against them,
# then this script checks from the servers' logs that the requests on the wire were the ones
# intended (ranges asked, kept-alive connections, retries resumed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOKFS_SOURCE_DIR=${TOKFS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${TOKFS_BUILD_DIR:?set TOKFS_BUILD_DIR to the CMake build directory}"
test_bin=$TOKFS_BUILD_DIR/test_fetch
[[ -x $test_bin ]] || { echo "test_fetch.sh: $test_bin not built" >&2; exit 1; }
python=/usr/bin/python3 # Debian's, whatever else is first on PATH

# shellcheck source=tests/lib/nginx.sh
source "$TOKFS_SOURCE_DIR/tests/lib/nginx.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/tokfs-test-fetch.XXXXXX")
fault_pid=
cleanup() {
    local rc=$?
    if [[ $rc -ne 0 && -n ${NGINX_ACCESS_LOG:-} && -f $NGINX_ACCESS_LOG ]]; then
        echo "--- nginx access log (last 40 lines)" >&2
        tail -n 40 "$NGINX_ACCESS_LOG" >&2 || true
        echo "--- fault server log" >&2
        cat "$work/fault.log" >&2 2>/dev/null || true
    fi
    nginx_stop
    if [[ -n $fault_pid ]]; then
        kill -TERM "$fault_pid" 2>/dev/null || true
        wait "$fault_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "test_fetch.sh: FAIL: $*" >&2
    exit 1
}

# --- the served files -----------------------------------------------------------------------
root=$work/root
mkdir -p "$root"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$root/big.bin"
cp "$root/big.bin" "$root/ka.bin" # used only by the keep-alive run, so its log lines stand alone
printf 'one.jsonl\ntwo.jsonl\nthree/four.jsonl\n' >"$root/small.txt"
: >"$root/empty.bin"

# --- the fault injector ---------------------------------------------------------------------
# /MODE/FILE serves $root/FILE with Range support and ETag "v1" (ignoring If-Match, like a lax
# server), after misbehaving as MODE says. Counters are per path, so each test path fails
# afresh. Modes:
#   ok              no fault
#   fail503x2       503 for the first two requests (HEAD or GET)
#   always503       503 forever
#   429once         429 for the first request
#   head501         HEAD answered 501 (GET works)
#   reset, short    first GET: half the body, then a TCP reset / a clean close
#   stall           first GET: 1000 bytes, then silence for 5 s
#   norange-short   Range ignored (200 + whole body); first GET cut at half by a clean close
#   eof-short       Range ignored, no Content-Length (body ends at close); first GET cut at half
#   chunked         Range ignored, chunked encoding, no Content-Length or Accept-Ranges
#   shortrange      206 replies of at most 1000 bytes, whatever the range asked
cat >"$work/fault.py" <<'EOF'
import email.utils, http.server, os, re, socket, struct, sys, threading, time

root, port_file, log_file = sys.argv[1:4]
lock = threading.Lock()
seen = {}

def count(key):
    with lock:
        seen[key] = seen.get(key, 0) + 1
        return seen[key]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log(self, status):
        with lock, open(log_file, "a") as log:
            log.write("%s %s range=%s status=%s auth=%s\n"
                      % (self.command, self.path, self.headers.get("Range", "-"), status,
                         "yes" if "Authorization" in self.headers else "-"))

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, OSError):
            pass  # the faults we inject, or a client that hung up on purpose

    def error(self, status):
        self.log(status)
        body = b"fault injector says %d\n" % status
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.serve()

    def do_GET(self):
        self.serve()

    def serve(self):
        parts = self.path.split("/", 2)
        if len(parts) != 3:
            return self.error(404)
        mode, name = parts[1], parts[2]
        try:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            mtime = os.stat(os.path.join(root, name)).st_mtime
        except OSError:
            return self.error(404)
        get = self.command == "GET"

        if mode == "fail503x2" and count(self.path) <= 2:
            return self.error(503)
        if mode == "always503":
            return self.error(503)
        if mode == "429once" and count(self.path) <= 1:
            return self.error(429)
        if mode == "head501" and not get:
            return self.error(501)
        first_get = get and mode in ("reset", "short", "stall", "norange-short", "eof-short") \
            and count(self.path) == 1

        status, first, last = 200, 0, len(data) - 1
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m and mode not in ("chunked", "norange-short", "eof-short"):
            first = int(m.group(1))
            last = min(int(m.group(2)), len(data) - 1) if m.group(2) else len(data) - 1
            if first >= len(data):
                self.log(416)
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if mode == "shortrange":
                last = min(last, first + 999)
            status = 206
        body = data[first:last + 1]

        self.log(status)
        self.send_response(status)
        self.send_header("ETag", '"v1"')
        self.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif mode == "eof-short":  # HTTP/1.0 style: the body ends when the connection does
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, len(data)))
        self.end_headers()
        if not get:
            return

        if mode == "chunked":
            for i in range(0, len(body), 65536):
                piece = body[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif first_get and mode in ("reset", "short", "norange-short", "eof-short"):
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            if mode == "reset":  # RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif first_get and mode == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(5)
            self.close_connection = True
        else:
            self.wfile.write(body)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
EOF
"$python" "$work/fault.py" "$root" "$work/fault.port" "$work/fault.log" &
fault_pid=$!
for _ in $(seq 100); do
    [[ -s $work/fault.port ]] && break
    kill -0 "$fault_pid" 2>/dev/null || fail "fault server did not start"
    sleep 0.05
done
[[ -s $work/fault.port ]] || fail "fault server did not write its port"
fault_url=http://127.0.0.1:$(cat "$work/fault.port")

# --- nginx, with the special locations the C test expects -----------------------------------
# shellcheck disable=SC2034 # read by nginx_start
NGINX_EXTRA_CONF="
        location /r/ { rewrite ^/r/(.*)\$ /\$1 redirect; }
        location /gone/ { return 410; }
        location /forbidden/ { return 403; }
        location /norange/ { alias $root/; max_ranges 0; }
        location /nohead/ {
            alias $root/;
            if (\$request_method = HEAD) { return 405; }
        }
        location /weak/ {
            alias $root/;
            etag off;
            add_header ETag 'W/\"weak-1\"';
        }
        location /elsewhere/ { rewrite ^/elsewhere/(.*)\$ $fault_url/xhost/\$1 redirect; }
        location /auth/ {
            alias $root/;
            if (\$http_authorization != 'Bearer s3cret-token') { return 401; }
        }
"
nginx_start "$root"

# --- the C test ------------------------------------------------------------------------------
TOKFS_TEST_HTTP_URL=$NGINX_URL TOKFS_TEST_HTTP_ROOT=$root TOKFS_TEST_FAULT_URL=$fault_url \
    "$test_bin" || fail "test_fetch reported failures (above)"

# --- what went over the wire -----------------------------------------------------------------
expect_count() { # expect_count MIN PATTERN: at least MIN nginx log lines match
    local n
    n=$(nginx_log_count "$2")
    [[ $n -ge $1 ]] || fail "expected >= $1 access-log lines matching '$2', found $n"
}
expect_count 150 '^GET /ka\.bin range=bytes=[0-9]+-[0-9]+ status=206 '
expect_count 1 '^HEAD /ka\.bin range=- status=200 '
# One fetcher, exact 206 replies: every ranged read of ka.bin rode the same connection.
ka_conns=$(grep -E '^(GET|HEAD) /ka\.bin ' "$NGINX_ACCESS_LOG" | sed 's/.* conn=//' | sort -u |
    wc -l)
[[ $ka_conns -eq 1 ]] || fail "ka.bin reads used $ka_conns connections, expected 1 (keep-alive)"
expect_count 1 '^GET /big\.bin range=bytes=[0-9]+- status=206 '              # open-ended
expect_count 1 '^GET /r/big\.bin range=bytes=777-99998 status=302 '         # redirect...
expect_count 1 '^GET /big\.bin range=bytes=777-99998 status=206 '           # ...followed
expect_count 1 '^HEAD /nohead/big\.bin range=- status=405 '
expect_count 1 '^GET /nohead/big\.bin range=bytes=0-0 status=206 bytes=1 '  # stat fallback
expect_count 1 '^GET /norange/big\.bin range=bytes=100-199 status=200 '     # Range ignored
expect_count 1 '^GET /stale1\.bin range=bytes=10-19999 status=412 '         # If-Match
expect_count 1 '^GET /stale2\.bin range=bytes=0-999 status=412 '            # If-Unmodified-Since
expect_count 1 '^GET /auth/small\.txt range=bytes=3- status=206 '           # bearer token

# The fault server saw retries that resumed instead of starting over.
flog=$work/fault.log
[[ $(grep -c '^GET /fail503x2/big.bin range=bytes=1000-299999 status=503' "$flog") -eq 2 ]] ||
    fail "expected two 503s for /fail503x2/big.bin"
[[ $(grep -c '^GET /always503/big.bin ' "$flog") -eq 4 ]] ||
    fail "expected 4 attempts (1 + 3 retries) at /always503/big.bin"
big_size=$(stat -c %s "$root/big.bin")
for mode in reset short; do
    mapfile -t lines < <(grep "^GET /$mode/big.bin " "$flog")
    [[ ${#lines[@]} -eq 2 ]] || fail "/$mode/big.bin: expected 2 requests, got ${#lines[@]}"
    resumed_at=$(sed -E 's/.*range=bytes=([0-9]+)-.*/\1/' <<<"${lines[1]}")
    [[ $resumed_at -gt 100 && $resumed_at -lt $big_size ]] ||
        fail "/$mode/big.bin: retry asked from byte $resumed_at, not from where the cut was"
done
[[ $(grep -c '^GET /shortrange/big.bin ' "$flog") -eq 5 ]] ||
    fail "/shortrange/big.bin: expected 5 requests of 1000 bytes"
# The bearer token goes to the host named in the URL, never to one a redirect points at.
[[ $(grep -c '^HEAD /direct/small.txt .* auth=yes$' "$flog") -eq 1 ]] ||
    fail "the bearer token was not sent to the fault server when asked directly"
[[ $(grep -c '^[A-Z]* /xhost/.*small.txt .* auth=-$' "$flog") -ge 2 ]] ||
    fail "expected token-less requests after the cross-host redirect"
if grep -q '^[A-Z]* /xhost/.* auth=yes$' "$flog"; then
    fail "the bearer token followed a redirect to another host"
fi
expect_count 1 '^HEAD /elsewhere/small\.txt range=- status=302 '

echo "test_fetch.sh: all checks passed"
