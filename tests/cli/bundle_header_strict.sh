#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bundle_header_strict.sh — tar header bytes that libarchive ignores must not be
# malleable: a linkname, device numbers or a ustar prefix on a regular-file entry, a
# non-"00" ustar version, or any byte in the unused tail of a header block, each with a
# valid header checksum, must be refused (agent/bundle/README.md: "Every entry header is
# canonical ... name in the ustar name field"; reader.c: "no byte of the file can change
# without the bundle being rejected"). The state dir must stay unchanged. And no single
# flipped bit in a header of a bundle written by berth itself may be accepted (a sweep:
# today the NUL/space after the checksum digits, bytes 154 and 155, can be swapped).
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=reject_lib.bash
source "$(dirname "$0")/reject_lib.bash"

"$BERTH" keygen -o "$W/keys" --name alice >/dev/null
mkdir -p "$W/trust" && cp "$W/keys/alice.pub" "$W/trust/"
IMG=(--tiny-image berth.example/tiny:1.0)
S=$W/state

# Positive control, and a state dir that already holds a bundle.
gen -k "$W/keys/alice.key" "${IMG[@]}" --version 1 -o "$W/good.berth"
expect_imported "$S" "$W/trust" "$W/good.berth" >/dev/null

gen -k "$W/keys/alice.key" "${IMG[@]}" --version 2 --all-defects "$W/cases"
failed=()
for d in $("$PY" "$GEN" --list-defects | cut -f1 | grep '^header-'); do
        # Run each case in a subshell so one failure does not hide the others.
        if (expect_refused "$d" "$W/cases/$d.berth" "non-canonical" "$W/trust" "$S") 2>"$W/$d.log"; then
                t_log "ok: $d refused"
        else
                t_log "$d: $(tail -1 "$W/$d.log")"
                failed+=("$d")
        fi
done

# Single-bit flips (0x20: NUL<->space, digit<->other) in the headers of a bundle made by
# `berth bundle create`.
t_make_image -q -o "$W/img.tar" --ref berth.example/x:1.0
"$BERTH" bundle create -k "$W/keys/alice.key" --name made --version 1 --image berth.example/x:1.0="$W/img.tar" \
        -o "$W/made.berth" >/dev/null
blob0=$("$PY" -c 'import sys, tarfile; print(tarfile.open(sys.argv[1]).getmembers()[2].offset)' "$W/made.berth")
# (All 512 bytes of the blob header; the checksum field of manifest.json's header, the
# only bytes a single flip can change without breaking the checksum.)
for range in "148 156" "$blob0 $((blob0 + 512))"; do
        read -r a b <<<"$range"
        if ! acc=$("$PY" "$BERTH_SRC/tests/cli/flipsweep.py" "$W/made.berth" "$a" "$b" 0x20 -- \
                "$BERTH" bundle verify --trust "$W/trust"); then
                t_log "bytes $a..$b: accepted with one bit flipped at byte(s) ${acc//$'\n'/ }"
                failed+=("bitflip@$a")
        fi
done
((${#failed[@]} == 0)) || t_fail "accepted or unclear for: ${failed[*]}"
t_log "ok: every malleable header byte is refused"
