#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# containerd_grpc.sh — runs the program built from containerd_grpc.c (the gRPC client and
# the containerd wrappers: unary, client/server streaming, events, deadlines, namespaces)
# against a private containerd started here.
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd)"
bin=${BERTH_BUILD:?}/tests/containerd_grpc
[ -x "$bin" ] || t_fail "$bin not built"
t_containerd_start "$(t_tmpdir)"
BERTH_TEST_CONTAINERD_SOCK=$T_CTRD_SOCK "$bin" || t_fail "the gRPC client against containerd (above)"
t_log "ok"
