#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# packaging_sysext.sh — scripts/build-sysext.sh builds a squashfs system extension whose
# listing (`unsquashfs -l`) holds the binaries under /usr/bin, their libraries, the units
# under /usr/lib/systemd/system, the udev rule, tmpfiles/sysusers snippets, man pages and
# /usr/lib/extension-release.d/extension-release.berth (ID, SYSEXT_LEVEL, ARCHITECTURE),
# and nothing outside /usr. The extracted binary runs on its bundled libraries alone.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

for t in mksquashfs unsquashfs patchelf; do
        command -v "$t" >/dev/null || t_skip "$t not installed (scripts/deps.sh)"
done
[ -x "$BERTH_BUILD/server-stub/berth-server" ] || t_skip "berth-server not built"
W=$(t_tmpdir)

"$BERTH_SRC/scripts/build-sysext.sh" --build-dir "$BERTH_BUILD" -o "$W/berth.raw" >"$W/build.log" 2>&1 ||
        t_fail "build-sysext.sh failed: $(cat "$W/build.log")"
t_assert_eq "$(head -c 4 "$W/berth.raw")" "hsqs" "squashfs magic"

unsquashfs -l "$W/berth.raw" | sed -n 's|^squashfs-root||p' | grep . >"$W/list"
for f in /usr/bin/berth /usr/bin/berth-server /usr/lib/berth/berth-usb-import \
        /usr/lib/systemd/system/berth-agent.service /usr/lib/systemd/system/berth-server.service \
        /usr/lib/systemd/system/berth-usb@.service /usr/lib/systemd/system/multi-user.target.d/10-berth.conf \
        /usr/lib/udev/rules.d/80-berth-usb.rules /usr/lib/tmpfiles.d/berth.conf \
        /usr/lib/sysusers.d/berth-server.conf /usr/share/man/man1/berth.1.gz /usr/share/man/man5/berth.conf.5.gz \
        /usr/lib/extension-release.d/extension-release.berth /usr/lib/berth/lib/libsodium.so.23 \
        /usr/lib/berth/lib/libjansson.so.4; do
        grep -qxF "$f" "$W/list" || t_fail "missing in the image: $f"
done
outside=$(grep -v '^/usr\(/\|$\)' "$W/list" || true)
t_assert_eq "$outside" "" "only /usr in a sysext"
grep -q '/usr/lib/berth/lib/libc\.so' "$W/list" && t_fail "glibc must come from the host"

unsquashfs -q -d "$W/x" "$W/berth.raw" >/dev/null
rel=$(cat "$W/x/usr/lib/extension-release.d/extension-release.berth")
t_assert_contains "$rel" "ID=flatcar" "extension-release ID"
t_assert_contains "$rel" "SYSEXT_LEVEL=1.0" "extension-release SYSEXT_LEVEL"
t_assert_contains "$rel" "ARCHITECTURE=x86-64" "extension-release ARCHITECTURE"
t_assert_contains "$(patchelf --print-rpath "$W/x/usr/bin/berth")" "/usr/lib/berth/lib" "rpath"
t_assert_contains "$(cat "$W/x/usr/lib/systemd/system/multi-user.target.d/10-berth.conf")" "Upholds=berth-agent.service" "upholds drop-in"

# The bundled libraries are complete: the binary runs with nothing but them and glibc
# (the rpath is absolute, so point the loader at the extracted copy).
v=$(env -i LD_LIBRARY_PATH="$W/x/usr/lib/berth/lib" "$W/x/usr/bin/berth" --version) || t_fail "extracted berth does not run"
t_assert_contains "$v" "berth " "extracted berth --version"
missing=$(env -i LD_LIBRARY_PATH="$W/x/usr/lib/berth/lib" ldd "$W/x/usr/bin/berth" "$W/x/usr/bin/berth-server" | grep "not found" || true)
t_assert_eq "$missing" "" "unresolved libraries"

# --id _any drops SYSEXT_LEVEL.
"$BERTH_SRC/scripts/build-sysext.sh" --build-dir "$BERTH_BUILD" --id _any --no-enable -o "$W/any.raw" >/dev/null 2>&1 ||
        t_fail "build-sysext.sh --id _any failed"
unsquashfs -q -d "$W/y" "$W/any.raw" >/dev/null
t_assert_eq "$(grep -c SYSEXT_LEVEL "$W/y/usr/lib/extension-release.d/extension-release.berth" || true)" 0 "no SYSEXT_LEVEL with _any"
[ ! -e "$W/y/usr/lib/systemd/system/multi-user.target.d" ] || t_fail "--no-enable still upholds the agent"
