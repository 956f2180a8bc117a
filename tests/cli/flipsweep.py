#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""flipsweep.py FILE START END MASK -- CMD...

For every byte offset in [START, END) of FILE, writes a copy with that byte XORed with
MASK and runs CMD with the copy's path appended. Prints the offsets for which CMD
exited 0 (i.e. the damaged copy was accepted), one per line; exits 1 if there are any.
Used by bundle_header_strict.sh: no single flipped bit may be accepted by berth.
"""
import os
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) < 7 or sys.argv[5] != "--":
        sys.exit(__doc__)
    path, start, end, mask = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0), int(sys.argv[4], 0)
    cmd = sys.argv[6:]
    src = open(path, "rb").read()
    accepted = []
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "flipped.berth")
        for i in range(start, min(end, len(src))):
            b = bytearray(src)
            b[i] ^= mask
            with open(out, "wb") as f:
                f.write(b)
            if subprocess.run(cmd + [out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                accepted.append(i)
    for i in accepted:
        print(i)
    sys.exit(1 if accepted else 0)


if __name__ == "__main__":
    main()
