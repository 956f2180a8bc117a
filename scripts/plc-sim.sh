#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# plc-sim.sh — a tiny "PLC" for the example gateway stack: busybox httpd on loopback whose
# CGI /cgi-bin/registers answers a few process values as "name value" lines (what the
# example poller reads). Runs in the foreground until killed; used by the gateway stack
# test and the demo, never inside berth.
set -euo pipefail

usage() {
        cat <<EOF
Usage: plc-sim.sh -p PORT [-d DIR]

Serves http://127.0.0.1:PORT/cgi-bin/registers, e.g.
  temperature_c 21.3
  pressure_kpa 101.7
  pump_running 1
  cycles 42            (increments on every read)
DIR (default: a new temporary directory, removed on exit) holds the CGI and the counter.
EOF
}

PORT='' DIR=''
while [ $# -gt 0 ]; do
        case $1 in
        -p | --port) PORT=${2:?}; shift 2 ;;
        -d | --dir) DIR=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "plc-sim.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        esac
done
[[ $PORT =~ ^[0-9]+$ ]] || { echo "plc-sim.sh: -p PORT is required" >&2; exit 2; }
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || { echo "plc-sim.sh: busybox is not installed (scripts/deps.sh)" >&2; exit 1; }
OWNED=
if [ -z "$DIR" ]; then
        DIR=$(mktemp -d /tmp/plc-sim.XXXXXX)
        OWNED=1
fi
mkdir -p "$DIR/www/cgi-bin" "$DIR/state"
# The CGI runs in its own directory: it needs DIR as an absolute path.
DIR=$(cd "$DIR" && pwd)
echo 0 >"$DIR/state/cycles"
cat >"$DIR/www/cgi-bin/registers" <<EOF
#!/bin/sh
# Simulated process values: a temperature swinging with the clock, a counter per read.
state='$DIR/state'
n=\$(( \$(cat "\$state/cycles" 2>/dev/null || echo 0) + 1 ))
echo "\$n" >"\$state/cycles.tmp.\$\$" && mv "\$state/cycles.tmp.\$\$" "\$state/cycles"
t=\$(date +%s)
printf 'Content-Type: text/plain\r\n\r\n'
printf 'temperature_c %d.%d\n' \$(( 20 + t % 7 )) \$(( t % 10 ))
printf 'pressure_kpa %d.%d\n' \$(( 100 + t % 3 )) \$(( (t / 3) % 10 ))
printf 'pump_running %d\n' \$(( (t / 30) % 2 ))
printf 'cycles %d\n' "\$n"
EOF
chmod 0755 "$DIR/www/cgi-bin/registers"
echo "plc-sim: http://127.0.0.1:$PORT/cgi-bin/registers (dir $DIR)" >&2
# Not exec: the EXIT trap must stop httpd and remove a temporary DIR.
"$BUSYBOX" httpd -f -p "127.0.0.1:$PORT" -h "$DIR/www" &
HTTPD=$!
trap 'kill $HTTPD 2>/dev/null; wait $HTTPD 2>/dev/null || true; [ -z "$OWNED" ] || rm -rf "$DIR"' EXIT
trap 'exit 0' TERM INT
wait $HTTPD
