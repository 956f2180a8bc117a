#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# proto_drift.sh — checks berth's containerd .proto subset (proto/) against the
# originals in Debian's golang-github-containerd-containerd-dev: every message and enum
# we define must exist upstream with the same field names, numbers, types and labels
# (and enum values), so a drift between our subset and containerd's API is caught.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

PY=/usr/bin/python3 # Debian's python3-protobuf lives there
[ -x "$PY" ] || PY=python3
src=$BERTH_SRC
gocode=/usr/share/gocode/src
api=$gocode/github.com/containerd/containerd/api
if [ ! -d "$api" ] || ! command -v protoc >/dev/null || ! "$PY" -c 'import google.protobuf' 2>/dev/null; then
        t_skip "needs golang-github-containerd-containerd-dev, protobuf-compiler, python3-protobuf"
fi
tmp=$(t_tmpdir)

ours=$(cd "$src/proto" && find containerd -name '*.proto' | sort)
(cd "$src/proto" && protoc -I. -I/usr/include --include_imports --descriptor_set_out="$tmp/ours.pb" $ours)

theirs=()
for s in containers content diff events images leases snapshots tasks version; do
        theirs+=("github.com/containerd/containerd/api/services/$s/v1/$s.proto")
done
(cd "$gocode" && protoc -I. -I/usr/include -Igithub.com/gogo/protobuf --include_imports \
        --descriptor_set_out="$tmp/theirs.pb" "${theirs[@]}" \
        github.com/containerd/containerd/api/types/*.proto \
        github.com/containerd/containerd/api/types/task/task.proto \
        github.com/containerd/containerd/api/events/*.proto 2>"$tmp/protoc.err") ||
        t_fail "protoc on containerd's protos: $(cat "$tmp/protoc.err")"

"$PY" - "$tmp/ours.pb" "$tmp/theirs.pb" <<'PY' || t_fail "our .proto subset drifted from containerd's (above)"
import sys
from google.protobuf import descriptor_pb2 as d

def load(path):
    fds = d.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    msgs, enums, svcs = {}, {}, {}
    def walk(prefix, m):
        name = prefix + "." + m.name
        msgs[name] = m
        for n in m.nested_type:
            walk(name, n)
        for e in m.enum_type:
            enums[name + "." + e.name] = e
    for fd in fds.file:
        if fd.name.startswith("google/protobuf/") or fd.name.startswith("gogoproto/"):
            continue
        for m in fd.message_type:
            walk("." + fd.package, m)
        for e in fd.enum_type:
            enums["." + fd.package + "." + e.name] = e
        for s in fd.service:
            svcs["." + fd.package + "." + s.name] = s
    return msgs, enums, svcs

om, oe, os_ = load(sys.argv[1])
tm, te, ts = load(sys.argv[2])
errors = []
checked = 0
for name, m in sorted(om.items()):
    if name not in tm:
        errors.append(f"message {name} does not exist upstream")
        continue
    up = {f.number: f for f in tm[name].field}
    for f in m.field:
        checked += 1
        u = up.get(f.number)
        if u is None:
            errors.append(f"{name}.{f.name} = {f.number}: no such field number upstream")
            continue
        for attr in ("name", "type", "label", "type_name"):
            if getattr(f, attr) != getattr(u, attr):
                errors.append(f"{name}.{f.name} = {f.number}: {attr} is {getattr(f, attr)!r}, upstream {getattr(u, attr)!r}")
for name, e in sorted(oe.items()):
    if name not in te:
        errors.append(f"enum {name} does not exist upstream")
        continue
    up = {v.name: v.number for v in te[name].value}
    for v in e.value:
        checked += 1
        if up.get(v.name) != v.number:
            errors.append(f"enum {name}.{v.name} = {v.number}: upstream {up.get(v.name)}")
for name, s in sorted(os_.items()):
    if name not in ts:
        errors.append(f"service {name} does not exist upstream")
        continue
    up = {m.name: m for m in ts[name].method}
    for m in s.method:
        checked += 1
        u = up.get(m.name)
        if u is None:
            errors.append(f"rpc {name}/{m.name} does not exist upstream")
            continue
        for attr in ("input_type", "output_type", "client_streaming", "server_streaming"):
            if getattr(m, attr) != getattr(u, attr):
                errors.append(f"rpc {name}/{m.name}: {attr} is {getattr(m, attr)!r}, upstream {getattr(u, attr)!r}")
for e in errors:
    print("drift:", e, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"proto subset matches upstream: {len(om)} messages, {len(oe)} enums, {len(os_)} services, {checked} fields/values/rpcs checked")
PY
