#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# packaging_units.sh — the systemd units, sysusers.d and tmpfiles.d snippets in packaging/:
#   - `systemd-analyze verify` passes with no message at all on every unit (an unknown or
#     misspelt key only warns, so any output fails the test), in a scratch root that holds
#     the distribution's units, our units and the built binaries at their installed paths;
#   - `systemd-analyze security --offline=true` rates each unit at most at the exposure
#     recorded in packaging/README.md;
#   - systemd-sysusers creates the berth-server user and systemd-tmpfiles the directories,
#     in the scratch root.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

command -v systemd-analyze >/dev/null || t_skip "systemd-analyze not installed (package systemd)"
P=$BERTH_SRC/packaging
SERVER_BIN=${BERTH_BUILD:-}/server-stub/berth-server
[ -x "$SERVER_BIN" ] || t_skip "berth-server not built"

R=$(t_tmpdir)
mkdir -p "$R/usr/lib/systemd/system" "$R/usr/bin" "$R/usr/lib/berth" "$R/bin" "$R/etc/berth"
cp -a /lib/systemd/system/. "$R/usr/lib/systemd/system/"
cp "$P"/systemd/*.service "$R/usr/lib/systemd/system/"
install -m 0755 "$BERTH" "$SERVER_BIN" "$R/usr/bin/"
install -m 0755 "$P/berth-usb-import" "$R/usr/lib/berth/"
cp /bin/kill "$R/bin/"

units=(berth-agent.service berth-server.service berth-usb@sdb1.service)
out=$(systemd-analyze verify --man=no --root="$R" "${units[@]}" 2>&1) || t_fail "verify failed: $out"
t_assert_eq "$out" "" "systemd-analyze verify output"

# A broken unit is caught (proves the check above can fail).
sed 's/^ProtectSystem=/ProtectSytem=/' "$P/systemd/berth-agent.service" >"$R/usr/lib/systemd/system/broken.service"
out=$(systemd-analyze verify --man=no --root="$R" broken.service 2>&1 || true)
t_assert_contains "$out" "Unknown key" "a misspelt key is reported"
rm "$R/usr/lib/systemd/system/broken.service"

# Exposure levels: no higher than recorded in packaging/README.md.
declare -A max=([berth-agent.service]=2.5 [berth-server.service]=1.5 [berth-usb@sdb1.service]=4.5)
for u in "${units[@]}"; do
        level=$(systemd-analyze security --offline=true --root="$R" "$u" 2>/dev/null |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        [ -n "$level" ] || t_fail "no exposure level for $u"
        awk -v a="$level" -v b="${max[$u]}" 'BEGIN { exit !(a <= b) }' ||
                t_fail "$u exposure $level is above ${max[$u]}"
        t_log "$u: exposure $level (limit ${max[$u]})"
done

# sysusers + tmpfiles, applied to the scratch root.
mkdir -p "$R/etc" && touch "$R/etc/passwd" "$R/etc/group" "$R/etc/shadow" "$R/etc/gshadow"
systemd-sysusers --root="$R" "$P/sysusers.d/berth-server.conf" 2>&1 || t_fail "systemd-sysusers failed"
grep -q '^berth-server:x:[0-9]*:[0-9]*:berth rollout server:/var/lib/berth-server:' "$R/etc/passwd" ||
        t_fail "berth-server user not created: $(cat "$R/etc/passwd")"
uid=$(awk -F: '$1 == "berth-server" { print $3 }' "$R/etc/passwd")
[ "$uid" -lt 1000 ] || t_fail "berth-server is not a system user (uid $uid)"
systemd-tmpfiles --root="$R" --create "$P/tmpfiles.d/berth.conf" "$P/tmpfiles.d/berth-server.conf" 2>&1 ||
        t_fail "systemd-tmpfiles failed"
t_assert_eq "$(stat -c '%a %U' "$R/var/lib/berth")" "750 root" "/var/lib/berth"
t_assert_eq "$(stat -c '%a' "$R/run/berth/usb")" "700" "/run/berth/usb"
t_assert_eq "$(stat -c '%a %u' "$R/var/lib/berth-server")" "750 $uid" "/var/lib/berth-server"

# The udev rule starts the import unit for USB filesystems only, by kernel name.
t_assert_contains "$(cat "$P/udev/80-berth-usb.rules")" 'ENV{SYSTEMD_WANTS}+="berth-usb@%k.service"' "udev rule wants the unit"
t_assert_contains "$(cat "$P/udev/80-berth-usb.rules")" 'ENV{ID_BUS}=="usb"' "udev rule limited to USB"
