#!/usr/bin/env bash
# The main job, start to finish on one machine: installs dependencies, builds berth,
# and walks through what a release engineer and a gateway do with a signed bundle.
# Everything happens in a temporary directory that is removed at the end
# (DEMO_KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Installing dependencies and building berth"
bash scripts/deps.sh
cmake -S "$SRC" -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" >/dev/null
BERTH=$SRC/build/demo/agent/berth
W=$(mktemp -d /tmp/berth-demo.XXXXXX)
[ "${DEMO_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
cd "$W"
echo "working in $W"

step "Build machine: make an example OCI image (busybox, from Debian packages, no network)"
run bash "$SRC/scripts/make-oci-image.sh" -q -o gateway-app.tar --ref berth.example/gateway-app:1.0 \
  --cmd 'echo "gateway app 1.0 running as $(id -u)"' --user 1000:1000
ls -l gateway-app.tar

step "Build machine: two signing keys (a release needs both: 2-of-2)"
run "$BERTH" keygen -o keys --name release
run "$BERTH" keygen -o keys --name qa

step "Build machine: create the signed bundle, then the QA co-signature"
run "$BERTH" bundle create -k keys/release.key --name gateway-stack --version 1 --expires 30d \
  --image berth.example/gateway-app:1.0=gateway-app.tar -o gateway-stack-1.berth
run "$BERTH" bundle sign -k keys/qa.key gateway-stack-1.berth -o gateway-stack-1.berth
run "$BERTH" bundle inspect gateway-stack-1.berth

step "Gateway: trust both keys, require 2 signatures"
mkdir -p gw/trust && cp keys/release.pub keys/qa.pub gw/trust/ && echo 2 >gw/trust/threshold
run "$BERTH" bundle verify --trust gw/trust gateway-stack-1.berth

step "Gateway: import from the 'USB stick' (verified while streaming, then stored)"
run "$BERTH" import --state-dir gw/state --trust gw/trust gateway-stack-1.berth
run "$BERTH" import --state-dir gw/state --trust gw/trust gateway-stack-1.berth

step "Gateway: a tampered copy is refused and nothing changes"
cp gateway-stack-1.berth tampered.berth
printf 'X' | dd of=tampered.berth bs=1 seek=$(( $(stat -c %s tampered.berth) - 2000 )) conv=notrunc status=none
if "$BERTH" import --state-dir gw/state --trust gw/trust tampered.berth; then
  echo "demo failed: a tampered bundle was accepted" >&2; exit 1
fi

step "Build machine: release version 2; the gateway upgrades (only the changed layer is new)"
run bash "$SRC/scripts/make-oci-image.sh" -q -o gateway-app-2.tar --ref berth.example/gateway-app:2.0 \
  --cmd 'echo "gateway app 2.0 running as $(id -u)"' --user 1000:1000
run "$BERTH" bundle create -k keys/release.key -k keys/qa.key --name gateway-stack --version 2 --expires 30d \
  --image berth.example/gateway-app:2.0=gateway-app-2.tar -o gateway-stack-2.berth
run "$BERTH" import --state-dir gw/state --trust gw/trust gateway-stack-2.berth

step "Gateway: someone plugs in the old stick again: version 1 is refused (rollback protection)"
if "$BERTH" import --state-dir gw/state --trust gw/trust gateway-stack-1.berth; then
  echo "demo failed: a downgrade was accepted" >&2; exit 1
fi

step "Gateway: status"
run "$BERTH" status --state-dir gw/state

printf '\n\033[1mDemo finished: bundle built, co-signed, verified, imported, upgraded; tampered and downgraded bundles refused.\033[0m\n'
