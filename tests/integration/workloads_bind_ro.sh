#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# workloads_bind_ro.sh — a read-only bind is read-only all the way down (issue 14, item 1),
# with a real containerd + runc:
#   - a host directory with a tmpfs mounted below it, and another tmpfs below that (all
#     mode 1777), is bound read-only into a workload that tries to write at every depth:
#     every write fails (EROFS), no file appears on the host, and the container's own
#     mount table shows each of the three mounts read-only;
#   - the same bind in a container whose spec asks runc only for a plain "ro" (what a
#     runtime without recursive read-only leaves behind: the submounts writable) is not
#     started: activation fails with the sentence naming the bind and the writable
#     submount, and the workload never runs.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, mounts)"
B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.test/bindro:1

# The host side: H (1777) / sub (tmpfs, 1777) / deeper (tmpfs, 1777).
H=$W/host
mkdir -p "$H/sub"
chmod 1777 "$H"
mount -t tmpfs -o mode=1777,size=1m berth-test "$H/sub" || t_skip "cannot mount a tmpfs here"
t_defer "umount -l '$H/sub'"
mkdir "$H/sub/deeper"
mount -t tmpfs -o mode=1777,size=1m berth-test "$H/sub/deeper"
t_defer "umount -l '$H/sub/deeper'"

t_make_image -o "$W/img.tar" --ref "$REF"
"$B" keygen -o "$W/keys" --name k1 >/dev/null
mkdir -p "$W/trust" && cp "$W/keys/k1.pub" "$W/trust/"
# bundle VERSION: one workload that tries to write at every depth of the bind, then sleeps.
bundle() {
        cat >"$W/wl$1.json" <<EOF
{"soak": "1s", "workloads": [
 {"name": "writer", "image": "$REF", "network": "none",
  "binds": [{"source": "$H", "path": "/b"}],
  "command": ["/bin/sh", "-c", "for d in /b /b/sub /b/sub/deeper; do if touch \$d/w 2>/dev/null; then echo WRITABLE \$d; else echo READONLY \$d; fi; done; echo checked; exec sleep 100000"],
  "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "300ms"}}
]}
EOF
        "$B" bundle create -k "$W/keys/k1.key" --name bindro --version "$1" --image "$REF=$W/img.tar" \
                --workloads "$W/wl$1.json" -o "$W/bindro$1.berth" >/dev/null
}
bundle 1
bundle 2

t_containerd_start "$(t_tmpdir)"
NS=$T_CTRD_NS
ST=$W/state
IO=(--state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS")
O=("${IO[@]}" --data-dir "$W/data")
LOG=$ST/logs/bindro-v1-writer.log
printf '[policy]\nbinds = %s\n' "$H" >"$W/policy.conf" # the default policy allows no bind

# ---- recursive read-only ---------------------------------------------------------------
"$B" import --config "$W/policy.conf" "${IO[@]}" --trust "$W/trust" "$W/bindro1.berth" >/dev/null
out=$("$B" activate "${O[@]}" bindro 1 2>&1) || t_fail "activating v1 failed: $out"
t_wait_for "grep -q checked '$LOG'" 20 || t_fail "the workload did not report its writes: $(cat "$LOG" 2>&1)"
log=$(cat "$LOG")
for d in /b /b/sub /b/sub/deeper; do
        t_assert_contains "$log" "READONLY $d" "$d is read-only inside the workload"
done
case $log in *WRITABLE*) t_fail "a read-only bind is writable below its top: $log" ;; esac
for f in "$H/w" "$H/sub/w" "$H/sub/deeper/w"; do
        [ ! -e "$f" ] || t_fail "the workload wrote $f on the host"
done
PID=$(t_ctr tasks ls | awk '$1 == "bindro-v1-writer" && $3 == "RUNNING" {print $2}')
[ -n "$PID" ] || t_fail "the writer task does not run"
for d in /b /b/sub /b/sub/deeper; do
        opts=$(awk -v d="$d" '$5 == d {print $6}' "/proc/$PID/mountinfo")
        case ,$opts, in *,ro,*) ;; *) t_fail "$d is mounted '$opts' in the container, not ro" ;; esac
done

# ---- a runtime that left the submounts writable: refused before the workload runs ---------
# v2's container is made beforehand with the spec berth would build, but asking runc for
# a plain top-level "ro" only, as before recursive read-only: berth adopts the container
# record (same id), creates its task, finds the writable submounts and does not start it.
"$B" import --config "$W/policy.conf" "${IO[@]}" --trust "$W/trust" "$W/bindro2.berth" >/dev/null
t_ctr containers info bindro-v1-writer | jq '.Spec' >"$W/v1-spec.json"
jq '(.mounts[] | select(.destination == "/b") | .options) = ["rbind", "ro", "nosuid", "nodev"]
    | .process.args = ["/bin/sh", "-c", "echo RAN; touch /b/sub/w2; exec sleep 100000"]
    | .linux.cgroupsPath = "/'"$NS"'/bindro-v2-writer"' "$W/v1-spec.json" >"$W/v2-spec.json"
CHAIN=$(t_ctr snapshots info bindro-v1-writer | jq -r '.Parent')
t_ctr snapshots prepare bindro-v2-writer "$CHAIN" >/dev/null || t_fail "cannot prepare v2's rootfs snapshot"
t_ctr containers create --config "$W/v2-spec.json" bindro-v2-writer >/dev/null ||
        t_fail "cannot create the v2 container with ctr"
if out=$("$B" activate "${O[@]}" bindro 2 2>&1); then t_fail "v2 with writable submounts committed: $out"; fi
t_assert_contains "$out" "the read-only bind /b (host $H) has a writable mount below it inside the container (/b/sub)" \
        "activation names the bind and the writable submount"
t_assert_contains "$out" "upgrade runc" "the sentence says what to do"
t_log "v2: $out"
[ ! -e "$H/sub/w2" ] || t_fail "the v2 workload ran and wrote into the submount"
if grep -q RAN "$ST/logs/bindro-v2-writer.log" 2>/dev/null; then t_fail "the v2 workload's process ran"; fi
t_assert_eq "$(t_ctr tasks ls | awk '$1 == "bindro-v2-writer" && $3 == "RUNNING"' | wc -l)" 0 "no v2 task runs"
t_log "ok: read-only binds are read-only at every depth; a writable submount is refused"
