#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""liarpeer.py — a hostile site peer for the agent's peer fetch tests.

  liarpeer.py STORE_DIR PORT_FILE [cut]

serves GET and HEAD /v2/blobs/sha256:<hex> on 127.0.0.1 (or $LIAR_HOST; a free port,
written to PORT_FILE) from STORE_DIR/blobs/sha256/<hex> with the first byte of every blob flipped,
whatever the request's Authorization: the right size, the wrong bytes. Range is honoured
("bytes=a-b"), so a resumed download gets the same lie. With "cut" it sends the first
half of the body (the lie included) and closes the connection: a peer that dies after
lying.
"""
import http.server
import os
import re
import sys


class Liar(http.server.BaseHTTPRequestHandler):
    def blob(self):
        m = re.fullmatch(r"/v2/blobs/sha256:([0-9a-f]{64})", self.path)
        path = m and os.path.join(sys.argv[1], "blobs", "sha256", m.group(1))
        if not path or not os.path.exists(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        with open(path, "rb") as f:
            data = bytearray(f.read())
        if data:
            data[0] ^= 0xFF
        start, end = 0, len(data) - 1
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if rng:
            start = int(rng.group(1))
            end = min(int(rng.group(2)), end) if rng.group(2) else end
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return bytes(data[start:end + 1])

    def do_HEAD(self):
        self.blob()

    def do_GET(self):
        body = self.blob()
        if body and len(sys.argv) > 3 and sys.argv[3] == "cut":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        elif body:
            self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("liarpeer: " + fmt % args + "\n")


srv = http.server.ThreadingHTTPServer((os.environ.get("LIAR_HOST", "127.0.0.1"), 0), Liar)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
