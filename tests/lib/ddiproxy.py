#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ddiproxy.py — an HTTPS proxy in front of a test berth-server (loopback only).

Agent tests point both the agent (server.url) and the server's links (ddi.public_url)
at this proxy, so every DDI request and every artifact byte passes through it:
  * counts the artifact body bytes it forwards and logs one line per artifact request:
    "ARTIFACT <path> range=<Range header or -> status=<code> bytes=<n> cut=<0|1>"
    (flushed; the total is what the server sent, the delta tests' measure);
  * --cut-after N: the first --cuts artifact responses (default 1) are cut after N body
    bytes: the proxy closes the connection mid-transfer (a flaky link);
  * --stall-after N: like --cut-after, but stops sending and keeps the connection open
    (a stalled link; the agent's stall timeout must fire);
  * logs one line per DDI (non-artifact) request:
    "DDI <method> <path> status=<code> t=<monotonic seconds>";
  * --garbage: answers every DDI request with 200 and a body that is not JSON;
    --status CODE: answers every DDI request with CODE (e.g. 503); both switchable at
    run time by writing "garbage", "status 503" ("status 503 retry-after 4" adds that
    header) or "normal" into --control FILE, which
    the proxy re-reads for every request; "download skip" there rewrites every
    deploymentBase answer to hawkBit's {"download": "skip", "update": "skip"}, and
    "short200 N" answers every artifact GET whose range starts at or past byte N with
    200 and only the artifact's first N bytes (a server or proxy that ignores Range and
    cuts; requests within the first N bytes, such as the head's, pass).
    "sha256 HEX" rewrites every artifact's hashes.sha256 in deploymentBase answers.
TLS: --cert/--key for the listener (the test CA's server certificate), --ca to verify
the upstream server. The kernel picks the port; it is written to --port-file.
"""
import argparse
import http.client
import http.server
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.cuts_left = args.cuts if (args.cut_after is not None or args.stall_after is not None) else 0
        self.log = open(args.log, "a", buffering=1)
        self.ctx = ssl.create_default_context(cafile=args.ca)

    def write(self, line):
        with self.lock:
            self.log.write(line + "\n")

    def mode(self):
        m = "normal"
        if self.args.garbage:
            m = "garbage"
        if self.args.status:
            m = "status %d" % self.args.status
        if self.args.control and os.path.exists(self.args.control):
            with open(self.args.control) as f:
                t = f.read().strip()
            if t:
                m = t
        return m

    def take_cut(self):
        with self.lock:
            if self.cuts_left > 0:
                self.cuts_left -= 1
                return True
            return False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def _reply(self, status, body=b"", ctype="application/json", extra=()):
        if "/softwaremodules/" not in self.path:
            self.server.state.write("DDI %s %s status=%d t=%.3f" % (self.command, self.path, status, time.monotonic()))
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        artifact = "/softwaremodules/" in self.path
        mode = st.mode()
        if not artifact and mode == "garbage":
            self._reply(200, b"<html>this is not the DDI API</html>{]", "text/html")
            return
        if not artifact and mode.startswith("status "):
            w = mode.split()
            extra = [("Retry-After", w[3])] if len(w) == 4 and w[2] == "retry-after" else []
            self._reply(int(w[1]), b'{"errorCode":"proxy","message":"injected"}', extra=extra)
            return
        short = None
        if artifact and self.command == "GET" and mode.startswith("short200 "):
            rng = self.headers.get("Range", "")
            start = int(rng[6:].split("-")[0]) if rng.startswith("bytes=") and rng[6:].split("-")[0].isdigit() else 0
            if start >= int(mode.split()[1]):
                short = int(mode.split()[1])
        with open(st.args.upstream_file) as f:
            uhost, uport = f.read().strip().rsplit(":", 1)
        up = http.client.HTTPSConnection(uhost, int(uport), context=st.ctx, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
        if short is not None:
            headers.pop("Range", None)
            headers.pop("range", None)
        headers["Host"] = "%s:%s" % (uhost, uport)
        up.request(self.command, self.path, body=body, headers=headers)
        resp = up.getresponse()
        self.send_response(resp.status)
        length = resp.getheader("Content-Length")
        for k, v in resp.getheaders():
            if k.lower() in HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        if not artifact or length is None:
            data = resp.read()
            if (mode == "download skip" and self.command == "GET" and "/deploymentBase/" in self.path
                    and resp.status == 200):
                doc = json.loads(data)
                doc["deployment"]["download"] = "skip"
                doc["deployment"]["update"] = "skip"
                data = json.dumps(doc).encode()
            if (mode.startswith("sha256 ") and self.command == "GET" and "/deploymentBase/" in self.path
                    and resp.status == 200):
                doc = json.loads(data)
                for ch in doc["deployment"]["chunks"]:
                    for art in ch.get("artifacts", []):
                        art.setdefault("hashes", {})["sha256"] = mode.split()[1]
                data = json.dumps(doc).encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            st.write("DDI %s %s status=%d t=%.3f" % (self.command, self.path, resp.status, time.monotonic()))
            up.close()
            return
        if short is not None:
            data = resp.read(short)
            up.close()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            st.write("ARTIFACT %s range=%s status=%d bytes=%d cut=0 short200=1 t=%.3f" % (
                self.path, self.headers.get("Range", "-"), resp.status, len(data), time.monotonic()))
            return
        self.send_header("Content-Length", length)
        self.end_headers()
        cut_at = None
        stall = False
        if self.command == "GET" and (st.args.cut_after is not None or st.args.stall_after is not None):
            limit = st.args.cut_after if st.args.cut_after is not None else st.args.stall_after
            if int(length) > limit and st.take_cut():
                cut_at = limit
                stall = st.args.stall_after is not None
        sent = 0
        cut = 0
        try:
            while True:
                want = 65536
                if cut_at is not None:
                    want = min(want, cut_at - sent)
                    if want <= 0:
                        cut = 1
                        break
                chunk = resp.read(want)
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
        finally:
            st.write("ARTIFACT %s range=%s status=%d bytes=%d cut=%d" % (
                self.path, self.headers.get("Range", "-"), resp.status, sent, cut))
            up.close()
        if cut:
            self.wfile.flush()
            if stall:
                # Keep the connection open and silent until the client gives up.
                self.connection.settimeout(300)
                try:
                    while self.connection.recv(65536):
                        pass
                except OSError:
                    pass
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_HEAD = _forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream-file", required=True,
                    help="file holding HOST:PORT of berth-server's DDI listener (read per request, so the "
                         "proxy can start before the server)")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cut-after", type=int)
    ap.add_argument("--stall-after", type=int)
    ap.add_argument("--cuts", type=int, default=1)
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--status", type=int)
    ap.add_argument("--control")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.state = State(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
