#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""slowpeer.py — hostile local clients for the agent's control socket and metrics endpoint.

  slowpeer.py trickle UNIX_SOCKET LOG
      sends a valid control request ({"cmd":"status"}, framed) one byte per second and
      writes "closed t=SECONDS sent=N" to LOG when the agent closes the connection
      ("done sent=N" if it never does);
  slowpeer.py idle unix:PATH|tcp:HOST:PORT COUNT READY_FILE
      opens COUNT connections that send nothing, writes READY_FILE, and holds them until
      killed.
"""
import json
import os
import select
import socket
import sys
import time


def trickle(path, log):
    body = json.dumps({"cmd": "status"}, separators=(",", ":")).encode()
    msg = len(body).to_bytes(4, "big") + body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    t0 = time.monotonic()
    with open(log, "w", buffering=1) as out:
        for i in range(len(msg)):
            try:
                s.send(msg[i:i + 1])
            except OSError:
                out.write("closed t=%.2f sent=%d\n" % (time.monotonic() - t0, i))
                return
            r, _, _ = select.select([s], [], [], 1.0)
            if r:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    out.write("closed t=%.2f sent=%d\n" % (time.monotonic() - t0, i + 1))
                    return
                out.write("answer t=%.2f\n" % (time.monotonic() - t0))
                return
        out.write("done sent=%d\n" % len(msg))


def idle(addr, count, ready):
    held = []
    for _ in range(count):
        if addr.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(addr[5:])
        else:
            host, port = addr[4:].rsplit(":", 1)
            s = socket.create_connection((host, int(port)))
        held.append(s)
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % len(held))
    os.rename(ready + ".tmp", ready)
    while True:
        time.sleep(3600)


def main():
    if sys.argv[1] == "trickle":
        trickle(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "idle":
        idle(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("usage: slowpeer.py trickle|idle ...")


if __name__ == "__main__":
    main()
