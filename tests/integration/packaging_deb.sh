#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# packaging_deb.sh — the .deb packages: scripts/build-deb.sh builds berth and berth-server
# with dpkg-buildpackage, lintian reports no error, and on this machine (dpkg -i, skipped
# when anything berth is already installed, so nothing is clobbered):
#   - install: binaries, units, udev rule, man pages, conffiles, the berth-server user,
#     state dirs with their modes; `berth --version`; `berth bundle verify` against the
#     default trust dir; `berth import` into the default state dir;
#   - the packaged berth-server runs as its user with the packaged config and TLS paths;
#   - reinstall (upgrade path) and remove keep the state and the conffiles;
#   - purge removes state, conffiles and the enablement symlinks.
# At exit the packages are purged, and the berth-server user is deleted when this test
# created it.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root to install packages"
for t in dpkg-buildpackage dh lintian; do
        command -v "$t" >/dev/null || t_skip "$t not installed (scripts/deps.sh)"
done
# One package test per machine at a time (parallel CI runs share dpkg's database).
mkdir -p /run/lock
exec 9>/run/lock/berth-packaging_deb.lock
flock -w 600 9 || t_skip "another packaging_deb run holds /run/lock/berth-packaging_deb.lock"
# Never clobber a real installation.
for p in berth berth-server; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
                t_skip "package $p is installed on this machine"
        fi
done
for f in /usr/bin/berth /usr/bin/berth-server /etc/berth /var/lib/berth /var/lib/berth-server; do
        [ ! -e "$f" ] || t_skip "$f exists on this machine; not installing over it"
done

W=$(t_tmpdir)
USER_EXISTED=0
getent passwd berth-server >/dev/null && USER_EXISTED=1

# dpkg with a bounded wait when another dpkg/apt holds the lock.
dpkg_retry() {
        local out
        for _ in $(seq 1 60); do
                if out=$(dpkg "$@" 2>&1); then
                        return 0
                fi
                case "$out" in
                *"dpkg frontend lock"* | *"dpkg status database is locked"*) sleep 1 ;;
                *) printf '%s\n' "$out" >&2; return 1 ;;
                esac
        done
        printf '%s\n' "$out" >&2
        return 1
}

cleanup_pkgs() {
        rm -f /etc/berth/trust/test.pub /etc/berth/server.key /etc/berth/server.crt
        dpkg_retry --purge berth-server berth >/dev/null 2>&1
        if [ "$USER_EXISTED" = 0 ]; then
                getent passwd berth-server >/dev/null && userdel berth-server
                getent group berth-server >/dev/null && groupdel berth-server
        fi
        return 0
}

# 1. Build + lintian.
"$BERTH_SRC/scripts/build-deb.sh" -o "$W/deb" >"$W/build.log" 2>&1 || t_fail "build-deb.sh failed: $(tail -30 "$W/build.log")"
DEB=$(ls "$W"/deb/berth_*_*.deb)
SDEB=$(ls "$W"/deb/berth-server_*_*.deb)
lint=$(lintian --fail-on error "$W"/deb/*.changes 2>&1) || t_fail "lintian errors: $lint"
case "$lint" in *"E: "*) t_fail "lintian errors: $lint" ;; esac
t_log "built $(basename "$DEB") $(basename "$SDEB"); lintian: no errors"

t_bundle "$W/good.berth" --name debtest --version 1
t_tamper "$W/good.berth" "$W/bad.berth"

# 2. Install.
t_defer cleanup_pkgs
dpkg_retry -i "$DEB" "$SDEB" >"$W/install.log" || t_fail "dpkg -i failed: $(cat "$W/install.log")"
t_assert_eq "$(/usr/bin/berth --version)" "berth $(dpkg-deb -f "$DEB" Version)" "installed berth --version"
/usr/bin/berth-server --help >/dev/null 2>&1 || t_fail "berth-server --help"
for f in /lib/systemd/system/berth-agent.service /lib/systemd/system/berth-usb@.service \
        /lib/systemd/system/berth-server.service /lib/udev/rules.d/80-berth-usb.rules \
        /usr/lib/berth/berth-usb-import /usr/share/man/man1/berth.1.gz /usr/share/man/man5/berth.conf.5.gz \
        /usr/share/man/man1/berth-server.1.gz /etc/berth/agent.conf /etc/berth/server.conf; do
        [ -e "$f" ] || t_fail "not installed: $f"
done
t_assert_eq "$(dpkg-query -W -f='${Conffiles}' berth | awk 'NF {print $1}')" /etc/berth/agent.conf "berth conffiles"
t_assert_eq "$(dpkg-query -W -f='${Conffiles}' berth-server | awk 'NF {print $1}')" /etc/berth/server.conf "berth-server conffiles"
getent passwd berth-server >/dev/null || t_fail "berth-server user not created"
t_assert_eq "$(stat -c '%a %U:%G' /etc/berth/server.conf)" "640 root:berth-server" "server.conf mode"
t_assert_eq "$(stat -c '%a %U' /var/lib/berth-server)" "750 berth-server" "/var/lib/berth-server"
t_assert_eq "$(stat -c '%a %U' /var/lib/berth)" "750 root" "/var/lib/berth"
[ -L /etc/systemd/system/multi-user.target.wants/berth-agent.service ] || t_fail "berth-agent.service not enabled"
[ ! -e /etc/systemd/system/multi-user.target.wants/berth-server.service ] || t_fail "berth-server enabled before it is configured"

# The installed CLI with its default paths: trust dir /etc/berth/trust, state /var/lib/berth.
cp "$T_TRUST/test.pub" /etc/berth/trust/
out=$(/usr/bin/berth bundle verify "$W/good.berth") || t_fail "bundle verify with the default trust dir: $out"
t_assert_contains "$out" "OK debtest version 1" "bundle verify"
t_expect_fail /usr/bin/berth bundle verify "$W/bad.berth"
out=$(/usr/bin/berth import "$W/good.berth") || t_fail "import into /var/lib/berth: $out"
t_assert_contains "$out" "imported debtest version 1" "import"
t_log "installed: --version, verify, import OK"

# The packaged server runs as its user with the packaged config (override only the
# listeners), can write its state dir, and its subcommands find it through the default
# config /etc/berth/server.conf.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
        -keyout /etc/berth/server.key -out /etc/berth/server.crt >/dev/null 2>&1 || t_fail "openssl req"
chgrp berth-server /etc/berth/server.key && chmod 0640 /etc/berth/server.key
setpriv --reuid=berth-server --regid=berth-server --init-groups /usr/bin/berth-server serve --set ddi.listen=127.0.0.1:0 \
        --set mgmt.listen=127.0.0.1:0 --set server.ports_file=/var/lib/berth-server/ports \
        >"$W/server.log" 2>&1 &
SPID=$!
t_defer "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
t_wait_for '[ -s /var/lib/berth-server/ports ] && grep -q mgmt= /var/lib/berth-server/ports' 20 ||
        t_fail "packaged server did not start: $(cat "$W/server.log")"
MGMT=$(sed -n 's/^mgmt=//p' /var/lib/berth-server/ports)
DDI=$(sed -n 's/^ddi=//p' /var/lib/berth-server/ports)
t_assert_eq "$(stat -c %U /var/lib/berth-server/server.db)" berth-server "server.db owner"
out=$(/usr/bin/berth-server --url "http://127.0.0.1:$MGMT" bundle upload "$W/good.berth") ||
        t_fail "bundle upload through the default config: $out"
t_assert_eq "$(jq -r .name <<<"$out")" debtest "uploaded bundle"
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$DDI/default/controller/v1/nobody")
t_assert_eq "$code" 401 "DDI over TLS with the packaged certificate paths"
kill -TERM "$SPID"
wait "$SPID" || t_fail "packaged server did not exit cleanly: $(cat "$W/server.log")"
rm -f /etc/berth/server.key /etc/berth/server.crt /var/lib/berth-server/ports
t_log "packaged berth-server: runs as its user, upload through the default config, TLS"

# 3. Reinstall (upgrade path) and remove keep state and configuration.
echo "# local edit" >>/etc/berth/agent.conf
dpkg_retry -i "$DEB" "$SDEB" >"$W/reinstall.log" || t_fail "reinstall failed: $(cat "$W/reinstall.log")"
t_assert_contains "$(/usr/bin/berth status)" "debtest version 1" "state kept over an upgrade"
t_assert_contains "$(cat /etc/berth/agent.conf)" "# local edit" "conffile edit kept over an upgrade"
dpkg_retry -r berth berth-server >"$W/remove.log" || t_fail "dpkg -r failed: $(cat "$W/remove.log")"
[ ! -e /usr/bin/berth ] || t_fail "/usr/bin/berth left after remove"
[ -f /var/lib/berth/berth.db ] || t_fail "remove deleted the node's state"
[ -d /var/lib/berth-server ] || t_fail "remove deleted the server's state"
t_assert_contains "$(cat /etc/berth/agent.conf)" "# local edit" "conffile kept after remove"
dpkg_retry -i "$DEB" >"$W/reinstall2.log" || t_fail "install after remove: $(cat "$W/reinstall2.log")"
t_assert_contains "$(/usr/bin/berth status)" "debtest version 1" "state back after remove + install"
t_log "upgrade and remove keep state and conffiles"

# 4. Purge removes state, conffiles and enablement.
rm -f /etc/berth/trust/test.pub
dpkg_retry --purge berth berth-server >"$W/purge.log" || t_fail "purge failed: $(cat "$W/purge.log")"
for f in /usr/bin/berth /usr/bin/berth-server /var/lib/berth /var/lib/berth-server /etc/berth \
        /etc/systemd/system/multi-user.target.wants/berth-agent.service; do
        if [ -e "$f" ] || [ -L "$f" ]; then t_fail "left after purge: $f"; fi
done
for p in berth berth-server; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$st" in "" | *not-installed) ;; *) t_fail "$p after purge: $st" ;; esac
done
t_log "purge removed everything"
