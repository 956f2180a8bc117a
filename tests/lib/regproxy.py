#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""regproxy.py — a small HTTP proxy in front of a test registry (loopback only).

It lets registry tests observe and disturb the traffic of a real docker-registry:
  * logs every request as "METHOD PATH CONTENT-RANGE -> STATUS" (one line, flushed),
    so a test can count requests and uploaded ranges;
  * --fault-patch-after N with --fault stall|503: the (N+1)-th PATCH is not forwarded;
    "stall" logs "STALLED" and never answers (the test then kills the client: an
    interrupted chunked upload), "503" answers 503 Service Unavailable; it fires once;
  * --bearer USER:PASS: emulates the distribution token flow in front of an open
    registry: /v2/ requests need "Authorization: Bearer T" with a token whose scopes
    cover the repository (401 + WWW-Authenticate: Bearer realm=…,service=…,scope=…
    otherwise); GET /token with basic USER:PASS hands out tokens for the asked scopes.
The listening port (chosen by the kernel) is written to --port-file once it listens.
"""
import argparse
import base64
import http.client
import http.server
import json
import re
import secrets
import socketserver
import sys
import threading
import urllib.parse

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.patches = 0
        self.fired = False
        self.tokens = {}  # token -> set of "repository:NAME:ACTIONS"
        self.log = open(args.log, "a", buffering=1)

    def write(self, line):
        with self.lock:
            self.log.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # quiet
        pass

    def _reply(self, status, headers=None, body=b""):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _repo(self, path):
        m = re.match(r"^/v2/(.+?)/(blobs|manifests|tags)/", path)
        return m.group(1) if m else None

    def _auth_ok(self, st):
        repo = self._repo(urllib.parse.urlsplit(self.path).path)
        if self.path.rstrip("/") == "/v2" or repo is None:
            need = []
        else:
            need = [repo]
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            if "from" in q:
                need.append(q["from"][0])
        h = self.headers.get("Authorization", "")
        scopes = st.tokens.get(h[7:]) if h.startswith("Bearer ") else None
        if scopes is not None and all(any(s.startswith("repository:%s:" % r) for s in scopes) for r in need):
            return True
        realm = "http://%s/token" % self.headers.get("Host")
        chal = 'Bearer realm="%s",service="berth-test"' % realm
        if need:
            chal += ',scope="repository:%s:pull,push"' % need[0]
        self._body()
        self._reply(401, {"WWW-Authenticate": chal, "Content-Type": "application/json"},
                    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
        st.write("%s %s - -> 401" % (self.command, self.path))
        return False

    def _token(self, st):
        user, pw = st.args.bearer.split(":", 1)
        want = "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
        if self.headers.get("Authorization") != want:
            st.write("GET /token -> 401")
            return self._reply(401, {"WWW-Authenticate": 'Basic realm="token"'}, b"")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        tok = secrets.token_hex(16)
        st.tokens[tok] = set(q.get("scope", []))
        st.write("GET /token scopes=%s -> 200" % ",".join(sorted(st.tokens[tok])))
        self._reply(200, {"Content-Type": "application/json"}, json.dumps({"token": tok}).encode())

    def _handle(self):
        st = self.server.state
        if st.args.bearer:
            if self.path.startswith("/token"):
                return self._token(st)
            if not self._auth_ok(st):
                return
        if self.command == "PATCH":
            with st.lock:
                st.patches += 1
                fire = (st.args.fault_patch_after is not None and not st.fired and
                        st.patches > st.args.fault_patch_after)
                if fire:
                    st.fired = True
            if fire and st.args.fault == "503":
                self._body()
                st.write("PATCH %s %s -> 503" % (self.path, self.headers.get("Content-Range", "-")))
                return self._reply(503, {"Content-Type": "application/json"},
                                   b'{"errors":[{"code":"UNAVAILABLE","message":"injected by regproxy"}]}')
            if fire:
                st.write("PATCH %s %s -> STALLED" % (self.path, self.headers.get("Content-Range", "-")))
                # Hold the request until the client goes away (the test kills it).
                self.connection.settimeout(300)
                try:
                    while self.connection.recv(65536):
                        pass
                except OSError:
                    pass
                self.close_connection = True
                return
        body = self._body() if self.command in ("PUT", "PATCH", "POST") else b""
        up = http.client.HTTPConnection(st.args.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "authorization"}
        headers["Content-Length"] = str(len(body))
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)) if self.command != "HEAD"
                         else r.getheader("Content-Length", "0"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()
        st.write("%s %s %s -> %d" % (self.command, self.path, self.headers.get("Content-Range", "-"), r.status))

    do_GET = do_HEAD = do_PUT = do_PATCH = do_POST = do_DELETE = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--fault-patch-after", type=int)
    p.add_argument("--fault", choices=["stall", "503"], default="stall")
    p.add_argument("--bearer")
    args = p.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(args)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
