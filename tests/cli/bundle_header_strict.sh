#!/usr/bin/env bash
# bundle_header_strict.sh — tar header bytes that libarchive ignores must not be
# malleable: a linkname, device numbers or a ustar prefix on a regular-file entry, a
# non-"00" ustar version, or any byte in the unused tail of a header block, each with a
# valid header checksum, must be refused (agent/bundle/README.md: "Every entry header is
# canonical ... name in the ustar name field"; reader.c: "no byte of the file can change
# without the bundle being rejected"). The state dir must stay unchanged.
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
((${#failed[@]} == 0)) || t_fail "accepted or unclear for: ${failed[*]}"
t_log "ok: every malleable header byte is refused"
