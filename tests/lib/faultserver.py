#!/usr/bin/python3
"""A misbehaving HTTP server for tokfs's fault tests (Python standard library only).

  faultserver.py serve ROOT PORT_FILE LOG_FILE
      Serves the files below ROOT on 127.0.0.1 (a free port, written to PORT_FILE once it
      listens) over HTTP/1.1 with keep-alive, HEAD, single-range requests (206 with
      Content-Range; "bytes=a-b", "bytes=a-", "bytes=-n"), a strong ETag (a hash of the content
      served, so it changes when the content does), Last-Modified, and If-Match (412 when it
      does not match, unless turned off). Runs until killed.

  faultserver.py ctl URL COMMAND [KEY=VALUE ...]
      Sends a control command (below) to a running server at URL (http://127.0.0.1:PORT) and
      prints its JSON answer. Exit status 1 if the server refuses it.

Control commands (GET URL/__ctl/COMMAND?KEY=VALUE&..., answered with JSON; never faulted or
logged):

  rule path=GLOB fault=FAULT [count=N] [skip=N] [method=GET] [target=PATH] [stall=SECONDS]
      Adds a rule: the requests with that method (default GET) whose path (without the leading
      "/") matches the fnmatch GLOB get FAULT, after the first `skip` of them (default 0) went
      through untouched, `count` times (default 1; -1 forever). The first matching live rule wins.
  random rate=P seed=S [faults=F1,F2,...] [path=GLOB] [stall=SECONDS]
      Every GET matching GLOB (default all) gets, with probability P, a fault drawn from the list
      (default: every fault below but `change`), from random.Random(S).
  clear
      Removes every rule and the random mode, and turns If-Match back on (changed files stay
      changed: see restore).
  change path=PATH / restore [path=PATH]
      Changes the file's content now (same size, a few bytes flipped: a new ETag) / serves the
      file from disk again (all files when no path is given).
  ifmatch on=0|1
      0: ignore If-Match, as lax servers do (the new ETag is still sent).
  stats
      {"requests": N, "injected": {FAULT: N, ...}, "by_path": {PATH: {FAULT: N}}}.

Faults:
  500, 503, 429   that status, with a short body
  reset           the right headers, half the body, then a TCP reset (RST)
  short           the right headers, half the body, then a clean close (FIN): a body shorter
                  than its Content-Length
  long            the right headers, the body, then 4096 bytes of junk on the same kept-alive
                  connection: a body longer than its Content-Length
  stall           the right headers and 1000 bytes, then silence for `stall` seconds (default
                  5), then a close
  norange         Range ignored: 200 with the whole file
  change          the request is served as is, then the file `target` (default the requested
                  one) changes content and ETag, as if updated upstream between two requests

Log: one line per request,
  TIME METHOD PATH range=RANGE status=STATUS fault=FAULT conn=CONNECTION
TIME is time.monotonic() in seconds, RANGE the Range header ("-" when absent), FAULT the fault
injected ("-" for none), CONNECTION a serial number per TCP connection."""
import email.utils
import fnmatch
import hashlib
import http.server
import itertools
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request

FAULTS = ("500", "503", "429", "reset", "short", "long", "stall", "norange", "change")


class State:
    def __init__(self, root, log_file):
        self.root = os.path.realpath(root)
        self.log_file = log_file
        self.lock = threading.Lock()
        self.rules = []
        self.random = None           # (rate, Random, faults, glob, stall seconds)
        self.ifmatch = True
        self.changed = {}            # path -> bytes served instead of the file
        self.requests = 0
        self.injected = {}
        self.by_path = {}
        self.conn_ids = itertools.count(1)

    def content(self, path):
        """(bytes, mtime) of path, or None."""
        with self.lock:
            if path in self.changed:
                return self.changed[path]
        full = os.path.realpath(os.path.join(self.root, path))
        if not full.startswith(self.root + os.sep) or not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            data = f.read()
        return data, os.stat(full).st_mtime

    def change(self, path):
        got = self.content(path)
        if got is None:
            return False
        data, mtime = got
        data = bytearray(data)
        # Flip letters inside the text (never quotes, backslashes or newlines, so JSON stays
        # valid and the records stay where they were): same size, different content.
        flipped = 0
        for i in range(len(data) // 3, len(data)):
            if 0x61 <= data[i] <= 0x7a:
                data[i] = data[i] - 0x20
                flipped += 1
                if flipped == 8:
                    break
        with self.lock:
            self.changed[path] = (bytes(data), mtime + 10)
        return True

    def pick_fault(self, method, path):
        """The fault for this request (or None), counting it."""
        with self.lock:
            self.requests += 1
            fault = None
            for rule in self.rules:
                if rule["left"] == 0 or rule["method"] != method or \
                        not fnmatch.fnmatchcase(path, rule["path"]):
                    continue
                if rule["skip"] > 0:
                    rule["skip"] -= 1
                    continue
                if rule["left"] > 0:
                    rule["left"] -= 1
                fault = dict(rule)
                break
            if fault is None and self.random and method == "GET":
                rate, rng, faults, glob, stall = self.random
                if fnmatch.fnmatchcase(path, glob) and rng.random() < rate:
                    fault = {"fault": rng.choice(faults), "target": path, "stall": stall}
            if fault:
                name = fault["fault"]
                self.injected[name] = self.injected.get(name, 0) + 1
                per = self.by_path.setdefault(path, {})
                per[name] = per.get(name, 0) + 1
            return fault

    def log(self, line):
        with self.lock, open(self.log_file, "a") as f:
            f.write("%.3f %s\n" % (time.monotonic(), line))


def etag_of(data):
    return '"%s"' % hashlib.sha256(data).hexdigest()[:20]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set in serve()

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.conn_id = next(self.state.conn_ids)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, OSError):
            pass  # the faults we inject, or a client that hung up on purpose

    def do_HEAD(self):
        self.serve()

    def do_GET(self):
        self.serve()

    def note(self, status, fault):
        self.state.log("%s %s range=%s status=%s fault=%s conn=%d" % (
            self.command, self.path, self.headers.get("Range", "-"), status, fault or "-",
            self.conn_id))

    def send_status(self, status, fault=None):
        self.note(status, fault)
        body = b"faultserver: %d\n" % status
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def control(self, command, query):
        st = self.state
        args = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        reply = {"ok": True}
        with st.lock:
            if command == "rule":
                if args.get("fault") not in FAULTS:
                    reply = {"ok": False, "error": "unknown fault %r" % args.get("fault")}
                else:
                    st.rules.append({
                        "path": args.get("path", "*"), "fault": args["fault"],
                        "left": int(args.get("count", 1)), "skip": int(args.get("skip", 0)),
                        "method": args.get("method", "GET"),
                        "target": args.get("target", ""),
                        "stall": float(args.get("stall", 5))})
            elif command == "random":
                faults = [f for f in args.get("faults", "").split(",") if f] or \
                    [f for f in FAULTS if f != "change"]
                if any(f not in FAULTS for f in faults):
                    reply = {"ok": False, "error": "unknown fault in %r" % faults}
                else:
                    st.random = (float(args["rate"]), random.Random(int(args.get("seed", 1))),
                                 faults, args.get("path", "*"), float(args.get("stall", 5)))
            elif command == "clear":
                st.rules = []
                st.random = None
                st.ifmatch = True
            elif command == "ifmatch":
                st.ifmatch = args.get("on", "1") == "1"
            elif command == "restore":
                if "path" in args:
                    st.changed.pop(args["path"], None)
                else:
                    st.changed.clear()
            elif command == "stats":
                reply = {"requests": st.requests, "injected": dict(st.injected),
                         "by_path": json.loads(json.dumps(st.by_path))}
            elif command != "change":
                reply = {"ok": False, "error": "unknown command %r" % command}
        if command == "change" and not st.change(args.get("path", "")):
            reply = {"ok": False, "error": "no such file %r" % args.get("path")}
        body = json.dumps(reply).encode() + b"\n"
        self.send_response(200 if reply.get("ok", True) else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self):
        st = self.state
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path).lstrip("/")
        if path.startswith("__ctl/"):
            return self.control(path[len("__ctl/"):], url.query)
        fault = st.pick_fault(self.command, path)
        kind = fault["fault"] if fault else None
        if kind in ("500", "503", "429"):
            return self.send_status(int(kind), kind)
        got = st.content(path)
        if got is None:
            return self.send_status(404, kind)
        data, mtime = got
        etag = etag_of(data)
        want = self.headers.get("If-Match")
        if want and st.ifmatch and want.strip() != "*" and \
                etag not in [t.strip() for t in want.split(",")]:
            return self.send_status(412, kind)

        status, first, last = 200, 0, len(data) - 1
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if m and kind != "norange" and (m.group(1) or m.group(2)):
            if m.group(1):
                first = int(m.group(1))
                last = min(int(m.group(2)), len(data) - 1) if m.group(2) else len(data) - 1
            else:  # suffix: the last n bytes
                first, last = max(0, len(data) - int(m.group(2))), len(data) - 1
            if first >= len(data) or first > last:
                self.note(416, kind)
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[first:last + 1]

        self.note(status, kind)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if kind in ("reset", "short"):
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            if kind == "reset":  # RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif kind == "stall":
            self.wfile.write(body[:min(1000, len(body) // 2)])
            self.wfile.flush()
            time.sleep(fault["stall"])
            self.close_connection = True
        elif kind == "long":
            self.wfile.write(body + b"J" * 4096)
        else:
            self.wfile.write(body)
            if kind == "change":
                self.wfile.flush()
                st.change(fault["target"] or path)


def serve(root, port_file, log_file):
    Handler.state = State(root, log_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


def ctl(url, command, pairs):
    query = urllib.parse.urlencode([tuple(p.split("=", 1)) for p in pairs])
    try:
        with urllib.request.urlopen("%s/__ctl/%s?%s" % (url, command, query), timeout=10) as r:
            print(r.read().decode().strip())
            return 0
    except urllib.error.HTTPError as e:
        print(e.read().decode().strip(), file=sys.stderr)
        return 1


def main(argv):
    if len(argv) == 5 and argv[1] == "serve":
        serve(argv[2], argv[3], argv[4])
        return 0
    if len(argv) >= 4 and argv[1] == "ctl":
        return ctl(argv[2], argv[3], argv[4:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
