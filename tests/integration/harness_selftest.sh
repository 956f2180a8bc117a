#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# harness_selftest.sh — checks tests/lib/harness.sh itself: assertions fail when they
# should, cleanups run in reverse order even when a test fails, a failed test shows the
# logs registered with t_show_log, t_wait_for times out and passes a t_fail in its
# condition through, and the private docker-registry accepts and serves an example
# image (pushed by skopeo).
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

W=$(t_tmpdir)
H="$BERTH_SRC/tests/lib/harness.sh"

# Assertions and the cleanup stack, in a child test script.
cat >"$W/child.sh" <<EOF
source "$H"
t_defer "echo first >>'$W/order'"
t_defer "echo second >>'$W/order'"
echo "\$T_ROOT" >"$W/root"
t_assert_eq a a "eq"
t_assert_contains "haystack" "st" "contains"
t_expect_fail false
t_assert_eq "\$T_RC" 1 "rc of false"
t_expect_fail sh -c 'echo oops >&2; exit 3'
t_assert_eq "\$T_ERR" oops "stderr captured"
t_wait_for false 1 && t_fail "wait_for on false succeeded"
t_wait_for '[ -e "$W/order" ] || true' 1 || t_fail "wait_for on true failed"
echo "the service's last words" >"$W/svc.log"
t_show_log "$W/svc.log" "svc log"
t_assert_eq 1 2 "deliberate"
echo unreachable
EOF
rc=0
BERTH_TEST_TMP="$W" bash "$W/child.sh" >"$W/child.out" 2>&1 || rc=$?
t_assert_eq "$rc" 1 "child exit code"
t_assert_contains "$(cat "$W/child.out")" "deliberate: expected '2', got '1'" "failure message"
t_assert_eq "$(tr '\n' ' ' <"$W/order")" "second first " "cleanup order"
t_assert_contains "$(cat "$W/child.out")" "--- svc log (last 30 lines) ---
the service's last words" "a registered log is shown on failure"
[ -e "$(cat "$W/root")" ] && t_fail "child scratch root not removed"

# A t_fail inside a t_wait_for condition (whose output is discarded) still says why.
printf 'source "%s"\necho "its last words" >"$T_ROOT/svc.log"\nt_show_log "$T_ROOT/svc.log" svc\ncheck() { t_fail "inside the condition"; }\nt_wait_for check 5\n' "$H" >"$W/cond.sh"
rc=0
BERTH_TEST_TMP="$W" bash "$W/cond.sh" >"$W/cond.out" 2>&1 || rc=$?
t_assert_eq "$rc" 1 "exit code of a t_fail in a condition"
t_assert_contains "$(cat "$W/cond.out")" "[cond] FAIL (" "the failure inside a condition is reported"
t_assert_contains "$(cat "$W/cond.out")" "inside the condition" "with its message"
t_assert_contains "$(cat "$W/cond.out")" "its last words" "and the registered log"

# t_skip exits 77.
printf 'source "%s"\nt_skip "because"\n' "$H" >"$W/skip.sh"
rc=0
BERTH_TEST_TMP="$W" bash "$W/skip.sh" 2>/dev/null || rc=$?
t_assert_eq "$rc" 77 "skip exit code"

# Registry: push an example image with skopeo, read it back through the API.
command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"
t_registry_start "$(t_tmpdir)"
t_make_image -o "$W/img.tar" --ref berth.example/busybox:1.0
skopeo copy -q --dest-tls-verify=false "oci-archive:$W/img.tar" "docker://$T_REGISTRY/berth/busybox:1.0" ||
        t_fail "skopeo push to $T_REGISTRY"
t_assert_contains "$(curl -fsS "http://$T_REGISTRY/v2/berth/busybox/tags/list")" '"1.0"' "tag list"
digest=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/berth/busybox:1.0" | jq -r .Digest)
t_assert_eq "$digest" "$(skopeo inspect "oci-archive:$W/img.tar" | jq -r .Digest)" "digest after push"
pid=$T_REGISTRY_PID
t_registry_stop
kill -0 "$pid" 2>/dev/null && t_fail "registry still running after t_registry_stop"
t_log "ok"
