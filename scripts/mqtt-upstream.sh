#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# mqtt-upstream.sh — the "cloud" side of the example gateway stack: a plain mosquitto on
# loopback with persistence, which the gateway's bridge forwards readings to. Runs in the
# foreground until killed (SIGTERM saves its store). Used by the gateway stack test and the
# demo, never inside berth.
set -euo pipefail

usage() {
        cat <<EOF
Usage: mqtt-upstream.sh -p PORT -d DIR

Runs mosquitto on 127.0.0.1:PORT with its config, store and log in DIR (kept between runs,
so a consumer's persistent session survives a restart: that is a WAN outage seen from the
gateway). Watch what arrives with:
  mosquitto_sub -p PORT -c -i cloud-consumer -q 1 -t 'site/#' -v
EOF
}

PORT='' DIR=''
while [ $# -gt 0 ]; do
        case $1 in
        -p | --port) PORT=${2:?}; shift 2 ;;
        -d | --dir) DIR=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "mqtt-upstream.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        esac
done
[[ $PORT =~ ^[0-9]+$ ]] || { echo "mqtt-upstream.sh: -p PORT is required" >&2; exit 2; }
[ -n "$DIR" ] || { echo "mqtt-upstream.sh: -d DIR is required" >&2; exit 2; }
command -v mosquitto >/dev/null || { echo "mqtt-upstream.sh: mosquitto is not installed (scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$DIR/data"
DIR=$(cd "$DIR" && pwd)
# As root mosquitto would switch to the 'mosquitto' user, which cannot write DIR.
user=$(id -un)
cat >"$DIR/mosquitto.conf" <<EOF
user $user
listener $PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $DIR/data/
max_queued_messages 100000
log_dest stderr
log_timestamp_format %Y-%m-%dT%H:%M:%S
EOF
exec mosquitto -c "$DIR/mosquitto.conf"
