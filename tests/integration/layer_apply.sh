#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# layer_apply.sh — berth's own layer applier against containerd's, on a layer built to be
# awkward: whiteouts of a file and of a directory, an opaque directory, a file replacing
# a lower directory, a hard link, relative and absolute symlinks, a setuid file owned by
# 1000, an xattr, a fifo, a character device, a 150-character name, names with "..",
# and a symlink pointing above the root with a file written through it.
#
# The same bundle is imported twice into one containerd (overlayfs): with --unpack
# containerd (containerd's Diff.Apply unpacks, as before) and without (berth unpacks, no
# compressed copy anywhere). Both images' top snapshots are mounted read-only and walked: every
# path, type, mode, owner, size, time, link target, device number, link count, user
# xattr and content hash must be the same. Nothing may appear outside the snapshot.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, mounts, device nodes)"
B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.test/awkward:1
MARK=berth-layer-apply-$$

for p in "/$MARK-target" "/$MARK-out.txt"; do
        [ ! -e "$p" ] || t_fail "$p exists before the test"
done
t_defer "rm -rf /$MARK-target /$MARK-out.txt"

python3 - "$W/awkward.tar" "$MARK" <<'EOF'
import io, sys, tarfile
out, mark = sys.argv[1], sys.argv[2]
T = 1700000000
def info(name, typ=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = typ, mode, uid, gid, T
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    def f(name, data=b"", **kw):
        ti = info(name, **kw); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    def d(name, mode=0o755, **kw):
        t.addfile(info(name, tarfile.DIRTYPE, mode, **kw))
    d("etc"); d("var"); d("usr"); d("data", 0o750, uid=1000, gid=1000); d(mark + "-target")
    f("etc/.wh.group")                      # a file of the base layer goes
    f(".wh.root")                           # a directory of the base layer goes
    f("var/.wh..wh..opq")                   # var/tmp of the base layer disappears
    f("var/new.txt", b"new\n")
    f("usr/sbin", b"a file where a directory was\n")
    f("data/a.txt", b"alpha\n")
    t.addfile(info("data/b.txt", tarfile.LNKTYPE, linkname="data/a.txt"))
    t.addfile(info("data/rel", tarfile.SYMTYPE, 0o777, linkname="../etc/passwd"))
    t.addfile(info("data/abs", tarfile.SYMTYPE, 0o777, linkname="/etc/hostname"))
    f("data/suid", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000)
    ti = info("data/x.txt"); ti.size = 3
    ti.pax_headers = {"SCHILY.xattr.user.berth": "yes"}
    t.addfile(ti, io.BytesIO(b"x!\n"))
    f("data/" + "l" * 150 + ".txt", b"long\n")
    t.addfile(info("data/fifo", tarfile.FIFOTYPE, 0o600))
    t.addfile(info("data/null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3))
    f("../../../../" + mark + "-out.txt", b"stays inside\n")
    t.addfile(info("data/up", tarfile.SYMTYPE, 0o777, linkname="../../../../../" + mark + "-target"))
    f("data/up/through.txt", b"written through a symlink\n")
EOF

t_make_image -o "$W/img.tar" --ref "$REF" --layer-tar "$W/awkward.tar"
t_keys
t_bundle "$W/a.berth" --name awkward --version 1 --image "$W/img.tar" --ref "$REF"
t_containerd_start "$(t_tmpdir)"

imp() { "$B" import --state-dir "$W/state-$1" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" \
        --namespace "$T_CTRD_NS-$1" --snapshotter overlayfs "${@:2}" "$W/a.berth"; }
out=$(imp ctrd --unpack containerd)
t_assert_contains "$out" "2 layer(s) unpacked (0 by berth" "--unpack containerd: containerd unpacks"
out=$(imp berth)
t_assert_contains "$out" "2 layer(s) unpacked (2 by berth" "berth unpacks both layers itself"
t_assert_eq "$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS-berth" content ls -q | wc -l)" "2" \
        "containerd keeps no compressed layer of berth's unpack"

# Mount the top snapshot of an import read-only and list it.
walk() {
        local ns=$T_CTRD_NS-$1 mnt=$W/mnt-$1 top
        local c=(ctr -a "$T_CTRD_SOCK" -n "$ns" snapshots --snapshotter overlayfs)
        # The top is the committed snapshot no other one names as its parent (an active one
        # that containerd's unpack has not removed yet is not a layer).
        local ls
        ls=$("${c[@]}" ls)
        top=$(awk 'NR > 1 && $NF == "Committed" {k[$1] = 1; if (NF == 3) p[$2] = 1}
                END {for (x in k) if (!(x in p)) print x}' <<<"$ls")
        [ -n "$top" ] && [ "$(wc -l <<<"$top")" = 1 ] || t_fail "no single top snapshot in $ns: $ls"
        mkdir -p "$mnt"
        # The view and its mount command in one call: an unleased view may be garbage
        # collected by containerd at any moment after (its mount needs only the parents).
        local m
        m=$("${c[@]}" view --target "$mnt" "view-$1" "$top") || t_fail "ctr snapshots view of $top in $ns failed: $ls"
        eval "$m"
        t_defer "umount $mnt 2>/dev/null || true"
        python3 - "$mnt" >"$W/list-$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(dirpath, n); st = os.lstat(p); rel = os.path.relpath(p, root)
        row = [rel, oct(st.st_mode), st.st_uid, st.st_gid, st.st_nlink, st.st_mtime_ns]
        if stat.S_ISREG(st.st_mode):
            row += [st.st_size, hashlib.sha256(open(p, "rb").read()).hexdigest()]
        if stat.S_ISLNK(st.st_mode):
            row.append(os.readlink(p))
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            row.append((os.major(st.st_rdev), os.minor(st.st_rdev)))
        if not stat.S_ISLNK(st.st_mode):
            row += sorted((k, os.getxattr(p, k)) for k in os.listxattr(p) if k.startswith("user."))
        print(*row)
EOF
        umount "$mnt"
}
walk ctrd
walk berth
n=$(wc -l <"$W/list-berth")
t_log "$n paths in each view"
[ "$n" -gt 100 ] || t_fail "the view holds only $n paths"
if ! diff -u "$W/list-ctrd" "$W/list-berth" >"$W/diff"; then
        cat "$W/diff" >&2
        t_fail "berth's unpack differs from containerd's (above: - containerd, + berth)"
fi
t_log "berth's unpack matches containerd's path for path"

# A few of the awkward cases, spelled out (the diff above already holds them equal).
L=$W/list-berth
t_assert_contains "$(grep '^data/suid ' "$L")" "0o104755 1000 1000" "setuid file owned by 1000"
t_assert_contains "$(grep '^data/a.txt ' "$L")" " 2 " "hard link: two links"
t_assert_contains "$(grep '^data/x.txt ' "$L")" "('user.berth', b'yes')" "xattr set"
t_assert_contains "$(grep '^data/null ' "$L")" "(1, 3)" "character device 1:3"
grep -q '^etc/group ' "$L" && t_fail "the whiteout left etc/group"
grep -q '^root ' "$L" && t_fail "the whiteout left /root"
grep -q '^var/tmp ' "$L" && t_fail "the opaque var still shows var/tmp"
t_assert_contains "$(grep '^usr/sbin ' "$L")" "0o100644" "a file replaced the directory usr/sbin"
t_assert_contains "$(cat "$L")" "$MARK-out.txt" "the '..' name landed inside the snapshot"
t_assert_contains "$(cat "$L")" "$MARK-target/through.txt" "the file written through the symlink stays inside"
for p in "/$MARK-target" "/$MARK-out.txt"; do
        [ ! -e "$p" ] || t_fail "$p was created outside the snapshot"
done

run=$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS-berth" run --rm "$REF" t-awk cat /data/a.txt /data/b.txt)
t_assert_eq "$run" "$(printf 'alpha\nalpha')" "a container runs on berth's unpack"
t_log "ok"
