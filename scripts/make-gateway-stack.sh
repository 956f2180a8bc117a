#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make-gateway-stack.sh — builds, without network and from Debian packages, the example
# gateway telemetry stack: two OCI image archives (an MQTT broker with Debian's mosquitto,
# a poller that publishes PLC readings with mosquitto_pub) and the workload spec that runs
# them under berth. Optionally signs the bundle right away (-k KEY).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=make-gateway-stack.sh

usage() {
        cat <<EOF
Usage: $PROG -o DIR [options]

Writes into DIR:
  broker.tar              OCI image berth.example/gw/mosquitto:2 (mosquitto + its shared
                          libraries + the loader, copied from this Debian system; the
                          entrypoint generates mosquitto.conf from the environment)
  poller-V.tar            OCI image berth.example/gw/poller:V (busybox wget + mosquitto_pub)
  workloads-V.json        the workload spec (berth bundle create --workloads)
  gateway-stack-V.berth   the signed bundle (only with -k KEY)
and prints the 'berth bundle create' command line (without -k).

The stack (both workloads: network host, read-only rootfs, non-root, memory + CPU limits):
  broker  mosquitto as 1883:1883 on 127.0.0.1:BROKER_PORT, persistence on the volume
          'data' (/var/lib/mosquitto), bridged to UPSTREAM (topic site/#, QoS 1,
          cleansession false) with at most QUEUE messages held while the WAN is down
          (mosquitto then drops new messages); probe: tcp BROKER_PORT.
  poller  as 1000:1000, every INTERVAL s reads PLC_URL and publishes a JSON reading
          {"gateway","version","seq","ts",<registers>} to site/GATEWAY/poller/reading;
          probe: exec 'poller check' (a publish within 3 × INTERVAL).

Options:
  -o, --output DIR        output directory (required; created)
  --version V             bundle version, an integer (default 1)
  --broken                a bad release: the poller is configured with a wrong broker
                          address (127.0.0.2, where nothing listens; a site file does not
                          override it), never publishes, and its heartbeat probe fails
                          (berth rolls it back)
  --name NAME             bundle name (default gateway-stack)
  --gateway ID            gateway id in topics and bridge client ids (default gw1)
  --upstream HOST:PORT    upstream broker the bridge forwards to (default 127.0.0.1:18883)
  --broker-port PORT      local broker port (default 1883)
  --plc-url URL           what the poller reads (default http://127.0.0.1:8502/cgi-bin/registers,
                          see scripts/plc-sim.sh)
  --interval SECONDS      poll interval, may be fractional (default 10)
  --queue N               bridge queue bound, mosquitto max_queued_messages (default 1000)
  --soak DURATION         how long the new version must stay healthy (default 60s)
  --site-config           per-gateway settings: both workloads read /etc/gateway/site.env
                          (shell KEY=value lines: GATEWAY_ID, BROKER_PORT, UPSTREAM,
                          PLC_URL, POLL_INTERVAL, QUEUE_MAX) from a read-only volume 'site'
                          (host side <workloads.data_dir>/{broker,poller}/site/site.env),
                          overriding the bundle's values, so one bundle serves gateways
                          with different ids, upstreams or ports (several agents on one
                          machine); the broker's probe then checks the port it really
                          listens on (exec 'broker-start check') instead of tcp BROKER_PORT
  --fast                  probe timings for tests and the demo (initial delay 2 s,
                          period 500 ms) instead of the production ones (15 s, 10 s)
  -k, --key KEY           sign: run 'berth bundle create -k KEY' (berth from \$BERTH, PATH or
                          build/agent/berth)
  -q, --quiet             print only the output file names
  -h, --help              this help

Example:
  scripts/plc-sim.sh -p 8502 &
  scripts/make-gateway-stack.sh -o out --version 1 -k keys/release.key
  berth import --trust trust --activate out/gateway-stack-1.berth
  mosquitto_sub -p 1883 -t 'site/#' -v
EOF
}

die() { echo "$PROG: $*" >&2; exit 2; }

OUT='' VERSION=1 BROKEN=0 NAME=gateway-stack GATEWAY=gw1 UPSTREAM=127.0.0.1:18883
BROKER_PORT=1883 PLC_URL=http://127.0.0.1:8502/cgi-bin/registers INTERVAL=10 QUEUE=1000
SOAK=60s FAST=0 KEY='' QUIET=0 SITE=0
while [ $# -gt 0 ]; do
        case $1 in
        -o | --output) OUT=${2:?}; shift 2 ;;
        --version) VERSION=${2:?}; shift 2 ;;
        --broken) BROKEN=1; shift ;;
        --name) NAME=${2:?}; shift 2 ;;
        --gateway) GATEWAY=${2:?}; shift 2 ;;
        --upstream) UPSTREAM=${2:?}; shift 2 ;;
        --broker-port) BROKER_PORT=${2:?}; shift 2 ;;
        --plc-url) PLC_URL=${2:?}; shift 2 ;;
        --interval) INTERVAL=${2:?}; shift 2 ;;
        --queue) QUEUE=${2:?}; shift 2 ;;
        --soak) SOAK=${2:?}; shift 2 ;;
        --fast) FAST=1; shift ;;
        --site-config) SITE=1; shift ;;
        -k | --key) KEY=${2:?}; shift 2 ;;
        -q | --quiet) QUIET=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
        esac
done
[ -n "$OUT" ] || die "-o DIR is required (see --help)"
[[ $VERSION =~ ^[1-9][0-9]{0,17}$ ]] || die "--version must be a positive integer, got '$VERSION'"
[[ $GATEWAY =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "--gateway must match [a-z0-9][a-z0-9-]*, got '$GATEWAY'"
[[ $UPSTREAM =~ ^[0-9A-Za-z.:-]+:[0-9]{1,5}$ ]] || die "--upstream must be HOST:PORT, got '$UPSTREAM'"
if ! [[ $BROKER_PORT =~ ^[0-9]{1,5}$ ]] || ((BROKER_PORT == 0 || BROKER_PORT > 65535)); then
        die "--broker-port must be a TCP port, got '$BROKER_PORT'"
fi
if ! [[ $INTERVAL =~ ^[0-9]+(\.[0-9]+)?$ ]] || awk -v i="$INTERVAL" 'BEGIN { exit !(i <= 0) }'; then
        die "--interval must be a positive number of seconds, got '$INTERVAL'"
fi
[[ $QUEUE =~ ^[1-9][0-9]{0,8}$ ]] || die "--queue must be a positive integer, got '$QUEUE'"
[[ $PLC_URL =~ ^http://[^[:space:]\"]+$ ]] || die "--plc-url must be an http:// URL, got '$PLC_URL'"
[[ $SOAK =~ ^[0-9]+(ms|s|m|h)?$ ]] || die "--soak must be a duration like 30s, got '$SOAK'"
for b in /usr/sbin/mosquitto /usr/bin/mosquitto_pub; do
        [ -x "$b" ] || die "$b is missing: install mosquitto and mosquitto-clients (scripts/deps.sh)"
done
command -v ldd >/dev/null || die "ldd is missing (libc-bin)"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAGE=$(mktemp -d "$OUT/.stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

# collect ROOT BIN...: copies each binary, the shared libraries ldd lists for it and the
# dynamic loader to the same absolute paths below ROOT (symlinks resolved).
collect() {
        local root=$1 bin lib
        shift
        for bin in "$@"; do
                install -D -m 0755 "$(readlink -f "$bin")" "$root$bin"
                while read -r lib; do
                        [ -e "$root$lib" ] && continue
                        case $lib in
                        */ld-linux*) install -D -m 0755 "$(readlink -f "$lib")" "$root$lib" ;;
                        *) install -D -m 0644 "$(readlink -f "$lib")" "$root$lib" ;;
                        esac
                done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
        done
        # glibc dlopen()s libgcc_s for thread exit/cancellation (mosquitto's bridge thread).
        lib=$(ldconfig -p | awk '$1 == "libgcc_s.so.1" && $NF ~ /^\// && !f {f = $NF} END {print f}')  # no early exit: pipefail + SIGPIPE
        [ -n "$lib" ] || die "libgcc_s.so.1 not found (libgcc-s1)"
        [ -e "$root$lib" ] || install -D -m 0644 "$(readlink -f "$lib")" "$root$lib"
}

# file_args ROOT: --file arguments for every top-level entry of ROOT
file_args() {
        local e
        for e in "$1"/*; do
                printf -- '--file\n%s:/%s\n' "$e" "${e##*/}"
        done
}

BROKER_REF=berth.example/gw/mosquitto:2
POLLER_REF=berth.example/gw/poller:$VERSION

# ---- broker image -----------------------------------------------------------------------
B=$STAGE/broker
collect "$B" /usr/sbin/mosquitto
install -D -m 0755 "$SRC/scripts/gateway-stack/broker-start" "$B/usr/local/bin/broker-start"
mkdir -p "$B/etc" "$B/var/lib/mosquitto" "$B/run/mosquitto"
printf '%s\n' "root:x:0:0:root:/root:/bin/sh" "mosquitto:x:1883:1883:mosquitto:/var/lib/mosquitto:/bin/false" \
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false" >"$B/etc/passwd"
printf '%s\n' "root:x:0:" "mosquitto:x:1883:" "nogroup:x:65534:" >"$B/etc/group"
mapfile -t fa < <(file_args "$B")
"$SRC/scripts/make-oci-image.sh" -q -o "$OUT/broker.tar" --ref "$BROKER_REF" \
        "${fa[@]}" --entrypoint '["/usr/local/bin/broker-start"]' --cmd '[]' --user 1883:1883 \
        --label org.opencontainers.image.title=mosquitto \
        --label "org.opencontainers.image.version=$(dpkg-query -W -f='${Version}' mosquitto 2>/dev/null || echo unknown)"

# ---- poller image -----------------------------------------------------------------------
P=$STAGE/poller
collect "$P" /usr/bin/mosquitto_pub
install -D -m 0755 "$SRC/scripts/gateway-stack/poller" "$P/usr/local/bin/poller"
mkdir -p "$P/run/poller"
mapfile -t fa < <(file_args "$P")
"$SRC/scripts/make-oci-image.sh" -q -o "$OUT/poller-$VERSION.tar" --ref "$POLLER_REF" \
        "${fa[@]}" --entrypoint '["/usr/local/bin/poller"]' --cmd '[]' --user 1000:1000 \
        --label org.opencontainers.image.title=poller --label "org.opencontainers.image.version=$VERSION"

# ---- workload spec ----------------------------------------------------------------------
# Heartbeat age allowed by the probe: 3 poll intervals, at least 3 s (whole seconds).
MAX_AGE=$(awk -v i="$INTERVAL" 'BEGIN { a = int(3 * i + 0.999); print (a < 3 ? 3 : a) }')
if [ "$FAST" = 1 ]; then
        PROBE_B='"initialDelay": "1s", "period": "500ms", "timeout": "1s", "failureThreshold": 3'
        PROBE_P='"initialDelay": "2s", "period": "500ms", "timeout": "2s", "failureThreshold": 3'
        GRACE=2s
else
        PROBE_B='"initialDelay": "5s", "period": "10s", "timeout": "2s", "failureThreshold": 3'
        PROBE_P='"initialDelay": "15s", "period": "10s", "timeout": "5s", "failureThreshold": 3'
        GRACE=10s
fi
POLLER_BROKER_HOST=127.0.0.1
if [ "$BROKEN" = 1 ]; then
        # The bad release: a typo in the poller's broker address.
        POLLER_BROKER_HOST=127.0.0.2
fi
SPEC=$OUT/workloads-$VERSION.json
jq -n --arg soak "$SOAK" --arg bref "$BROKER_REF" --arg pref "$POLLER_REF" \
        --arg gw "$GATEWAY" --arg up "$UPSTREAM" --arg queue "$QUEUE" \
        --argjson bport "$BROKER_PORT" --arg phost "$POLLER_BROKER_HOST" --arg plc "$PLC_URL" \
        --arg interval "$INTERVAL" --arg ver "$VERSION" --arg maxage "$MAX_AGE" --arg grace "$GRACE" \
        --argjson probe_b "{$PROBE_B}" --argjson probe_p "{$PROBE_P}" --argjson site "$SITE" '
{
  soak: $soak,
  workloads: [
    {
      name: "broker",
      image: $bref,
      env: {LISTEN_PORT: ($bport | tostring), UPSTREAM: $up, GATEWAY_ID: $gw,
            QUEUE_MAX: $queue, QUEUE_QOS0: "false", BRIDGE_TOPIC: "site/#",
            DATA_DIR: "/var/lib/mosquitto", CONF_DIR: "/run/mosquitto"},
      user: "1883:1883",
      readOnlyRootfs: true,
      tmpfs: [{path: "/run/mosquitto", size: "1M"}],
      volumes: [{name: "data", path: "/var/lib/mosquitto"}],
      network: "host",
      resources: {memory: "32M", cpu: "250m"},
      noNewPrivileges: true,
      restart: {policy: "always", backoff: "1s", maxBackoff: "30s"},
      stop: {signal: "SIGTERM", grace: $grace},
      probe: ((if $site == 1 then {exec: {command: ["/usr/local/bin/broker-start", "check"]}}
               else {tcp: {port: $bport}} end) + $probe_b)
    },
    {
      name: "poller",
      image: $pref,
      dependsOn: ["broker"],
      env: {PLC_URL: $plc, BROKER_HOST: $phost, BROKER_PORT: ($bport | tostring), GATEWAY_ID: $gw,
            STACK_VERSION: $ver, POLL_INTERVAL: $interval, HEARTBEAT: "/run/poller/heartbeat"},
      user: "1000:1000",
      readOnlyRootfs: true,
      tmpfs: [{path: "/run/poller", size: "64k"}],
      network: "host",
      resources: {memory: "16M", cpu: "100m"},
      noNewPrivileges: true,
      restart: {policy: "always", backoff: "1s", maxBackoff: "30s"},
      stop: {signal: "SIGTERM", grace: $grace},
      probe: ({exec: {command: ["/usr/local/bin/poller", "check", "/run/poller/heartbeat", $maxage]}} + $probe_p)
    }
  ]
}
| if $site == 1 then .workloads |= map(.volumes += [{name: "site", path: "/etc/gateway", readOnly: true}])
  else . end' >"$SPEC.new"
mv "$SPEC.new" "$SPEC"

BUNDLE=$OUT/$NAME-$VERSION.berth
CMD=(bundle create --name "$NAME" --version "$VERSION"
        --image "$BROKER_REF=$OUT/broker.tar" --image "$POLLER_REF=$OUT/poller-$VERSION.tar"
        --workloads "$SPEC" -o "$BUNDLE")
if [ -n "$KEY" ]; then
        BERTH_BIN=${BERTH:-}
        [ -n "$BERTH_BIN" ] || BERTH_BIN=$(command -v berth || true)
        [ -n "$BERTH_BIN" ] || [ ! -x "$SRC/build/agent/berth" ] || BERTH_BIN=$SRC/build/agent/berth
        [ -n "$BERTH_BIN" ] || die "berth not found: set BERTH=path/to/berth"
        "$BERTH_BIN" "${CMD[0]}" "${CMD[1]}" -k "$KEY" "${CMD[@]:2}" >/dev/null
fi
if [ "$QUIET" = 1 ]; then
        printf '%s\n' "$OUT/broker.tar" "$OUT/poller-$VERSION.tar" "$SPEC"
        [ -z "$KEY" ] || printf '%s\n' "$BUNDLE"
else
        echo "broker image  $OUT/broker.tar ($BROKER_REF)"
        echo "poller image  $OUT/poller-$VERSION.tar ($POLLER_REF)"
        echo "spec          $SPEC$([ "$BROKEN" = 0 ] || echo " (BROKEN: the poller publishes to $POLLER_BROKER_HOST)")"
        if [ -n "$KEY" ]; then
                echo "bundle        $BUNDLE"
        else
                printf 'create the bundle with:\n  berth bundle create -k KEY'
                printf ' %q' "${CMD[@]:2}"
                echo
        fi
fi
