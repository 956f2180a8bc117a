#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-sysext.sh — builds a systemd system extension (Flatcar "sysext") image of berth.
#
#   scripts/build-sysext.sh [-o OUT.raw] [--build-dir DIR] [--id flatcar|_any]
#                           [--sysext-level 1.0] [--no-enable]
#
# The image is a squashfs holding only /usr (Flatcar merges /usr and /opt, never /etc):
#   /usr/bin/berth, /usr/bin/berth-server   the binaries, with DT_RPATH /usr/lib/berth/lib
#   /usr/lib/berth/lib/                     every shared library they need except glibc's
#                                           (Flatcar ships none of libsodium, jansson, ...)
#   /usr/lib/berth/berth-usb-import
#   /usr/lib/systemd/system/                berth-agent.service, berth-usb@.service,
#                                           berth-server.service, and (unless --no-enable)
#                                           multi-user.target.d/10-berth.conf that Upholds=
#                                           the agent, since a sysext cannot run
#                                           `systemctl enable`
#   /usr/lib/udev/rules.d/, /usr/lib/tmpfiles.d/, /usr/lib/sysusers.d/, /usr/share/man/
#   /usr/share/berth/{agent,server}.conf    examples; write /etc/berth/agent.conf with
#                                           Ignition (the agent waits for it)
#   /usr/lib/extension-release.d/extension-release.berth
#                                           ID=flatcar, SYSEXT_LEVEL=1.0, ARCHITECTURE
# With --build-dir the binaries of an existing build are used; otherwise a Release build
# is made in a scratch directory. Put the image in /etc/extensions/ on the host (or
# /var/lib/extensions/) and run `systemd-sysext refresh`.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$SRC/build/berth.raw
BUILD=
ID=flatcar
LEVEL=1.0
ENABLE=1
while [ $# -gt 0 ]; do
        case "$1" in
        -o) OUT=$2; shift 2 ;;
        --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
        --id) ID=$2; shift 2 ;;
        --sysext-level) LEVEL=$2; shift 2 ;;
        --no-enable) ENABLE=0; shift ;;
        -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-sysext.sh: unknown option '$1'" >&2; exit 2 ;;
        esac
done
for t in mksquashfs patchelf; do
        command -v "$t" >/dev/null || { echo "build-sysext.sh: $t missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
case "$(uname -m)" in
x86_64) ARCH=x86-64 ;;
aarch64) ARCH=arm64 ;;
*) ARCH=$(uname -m) ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-sysext.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [ -z "$BUILD" ]; then
        BUILD=$WORK/build
        cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBERTH_TESTS=OFF >/dev/null
        cmake --build "$BUILD" -j2 >/dev/null
fi
BINS=("$BUILD/agent/berth" "$BUILD/server-stub/berth-server")
for b in "${BINS[@]}"; do
        [ -x "$b" ] || { echo "build-sysext.sh: $b not built" >&2; exit 1; }
done

R=$WORK/root
P=$SRC/packaging
install -d "$R/usr/bin" "$R/usr/lib/berth/lib" "$R/usr/lib/systemd/system" "$R/usr/lib/udev/rules.d" \
        "$R/usr/lib/tmpfiles.d" "$R/usr/lib/sysusers.d" "$R/usr/lib/extension-release.d" \
        "$R/usr/share/man/man1" "$R/usr/share/man/man5" "$R/usr/share/berth"

# Binaries (stripped) and the closure of their shared libraries, glibc's own excepted.
for b in "${BINS[@]}"; do
        install -m 0755 -s "$b" "$R/usr/bin/"
        patchelf --force-rpath --set-rpath /usr/lib/berth/lib "$R/usr/bin/$(basename "$b")"
done
ldd "${BINS[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u | while read -r lib; do
        case "$(basename "$lib")" in
        libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libresolv.so.* | ld-linux*) continue ;;
        esac
        install -m 0644 "$(readlink -f "$lib")" "$R/usr/lib/berth/lib/$(basename "$lib")"
done

install -m 0755 "$P/berth-usb-import" "$R/usr/lib/berth/"
install -m 0644 "$P"/systemd/*.service "$R/usr/lib/systemd/system/"
if [ "$ENABLE" = 1 ]; then
        install -d "$R/usr/lib/systemd/system/multi-user.target.d"
        printf '# Started whenever the extension is merged (a sysext cannot be "enabled").\n[Unit]\nUpholds=berth-agent.service\n' \
                >"$R/usr/lib/systemd/system/multi-user.target.d/10-berth.conf"
fi
install -m 0644 "$P/udev/80-berth-usb.rules" "$R/usr/lib/udev/rules.d/"
install -m 0644 "$P"/tmpfiles.d/*.conf "$R/usr/lib/tmpfiles.d/"
install -m 0644 "$P"/sysusers.d/*.conf "$R/usr/lib/sysusers.d/"
install -m 0644 "$P"/conf/*.conf "$R/usr/share/berth/"
for m in "$P"/man/*.1; do gzip -9n <"$m" >"$R/usr/share/man/man1/$(basename "$m").gz"; done
for m in "$P"/man/*.5; do gzip -9n <"$m" >"$R/usr/share/man/man5/$(basename "$m").gz"; done

{
        echo "ID=$ID"
        [ "$ID" = _any ] || echo "SYSEXT_LEVEL=$LEVEL"
        echo "ARCHITECTURE=$ARCH"
        echo "EXTENSION_RELOAD_MANAGER=1"
} >"$R/usr/lib/extension-release.d/extension-release.berth"

mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || date +%s)} \
        mksquashfs "$R" "$OUT" -all-root -noappend -quiet -no-progress >/dev/null
echo "$OUT"
