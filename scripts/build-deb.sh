#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-deb.sh — builds the berth and berth-server .deb packages with dpkg-buildpackage.
#
#   scripts/build-deb.sh [-o OUTDIR] [-j N] [--lintian]
#
# The Debian packaging lives in packaging/debian/ (the project keeps debian/ out of the
# source root). This copies the tracked source tree (git ls-files, or the whole tree
# without build dirs when not in git) to a scratch directory, puts packaging/debian there
# as debian/, runs `dpkg-buildpackage -us -uc -b` and copies the .deb/.buildinfo/.changes
# files to OUTDIR (default: build/deb). The scratch directory is removed afterwards.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$SRC/build/deb
JOBS=2
LINTIAN=0
while [ $# -gt 0 ]; do
        case "$1" in
        -o) OUT=$2; shift 2 ;;
        -j) JOBS=$2; shift 2 ;;
        --lintian) LINTIAN=1; shift ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb.sh: unknown option '$1'" >&2; exit 2 ;;
        esac
done
for t in dpkg-buildpackage dh; do
        command -v "$t" >/dev/null || { echo "build-deb.sh: $t missing (scripts/deps.sh installs it)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/berth
mkdir -p "$TREE" "$OUT"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked files as they are in the work tree (uncommitted edits included).
        (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
                grep -zv '^build' | xargs -0 cp --parents -t "$TREE" 2>/dev/null) || true
else
        # Not a git checkout: everything but VCS data and build trees (any directory that
        # holds a CMakeCache.txt), which may contain sockets and gigabytes of test data.
        tar -C "$SRC" --exclude=./.git --exclude-tag-all=CMakeCache.txt --warning=no-file-ignored \
                -cf - . | tar -C "$TREE" -xf -
fi
[ -f "$TREE/CMakeLists.txt" ] || { echo "build-deb.sh: copying the source tree failed" >&2; exit 1; }
rm -rf "$TREE/debian"
cp -a "$SRC/packaging/debian" "$TREE/debian"

(cd "$TREE" && DEB_BUILD_OPTIONS="parallel=$JOBS nocheck ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b >"$WORK/build.log" 2>&1) || {
        tail -40 "$WORK/build.log" >&2
        echo "build-deb.sh: dpkg-buildpackage failed (log above)" >&2
        exit 1
}
for f in "$WORK"/*.deb "$WORK"/*.buildinfo "$WORK"/*.changes; do
        [ -e "$f" ] && cp "$f" "$OUT/"
done
ls "$OUT"/*.deb
if [ "$LINTIAN" = 1 ]; then
        lintian --fail-on error --suppress-tags-from-file /dev/null "$OUT"/*.changes
fi
