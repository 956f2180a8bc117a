#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# containerd_preload.sh — berth import --containerd against a real containerd (private
# socket/root/state, CRI disabled), for the overlayfs and native snapshotters:
#   - the image is listed with the bundle's digest and `ctr run` prints its output
#     (no pull: the test has no registry and no network); berth unpacks the layer
#     itself, so neither berth's store nor containerd's content store keeps a
#     compressed copy (--keep-layers keeps berth's; --unpack containerd has containerd
#     store and unpack every layer, as before);
#   - berth status reports it present and unpacked;
#   - a containerd GC and `ctr content prune references` remove nothing the image
#     needs; importing again is a no-op (nothing written, unpacked or changed);
#   - after containerd lost the image (and berth pruned its layer copy), importing
#     the bundle file again restores it from the verified file;
#   - berth killed (SIGKILL) in the middle of a Content.Write (--unpack containerd), then
#     rerun: resumes the half-written ingest and completes; killed while it unpacks a
#     layer itself, then rerun: completes;
#   - image indexes, Docker media types, zstd and uncompressed layers import and run
#     (zstd through containerd's applier: berth's reads tar and gzip only);
#   - containerd stopped: clear error, non-zero exit, store and DB intact; rerun
#     after containerd is back completes the preload.
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, mounts)"
B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.example/busybox:1.0
BIGREF=berth.example/big:1.0
vn=0

t_make_image -o "$W/img.tar" --ref "$REF"
# One big random layer, so a Content.Write lasts long enough to be interrupted.
t_make_image -o "$W/big.tar" --ref "$BIGREF" --compression none --random-layers 1 --random-size 160M --seed kill
t_keys
t_bundle "$W/demo.berth" --name demo --version 1 --image "$W/img.tar" --ref "$REF"
t_bundle "$W/big.berth" --name big --version 1 --image "$W/big.tar" --ref "$BIGREF"
DIGEST=$(tar -xOf "$W/img.tar" index.json | jq -r '.manifests[0].digest')
BIGDIGEST=$(tar -xOf "$W/big.tar" index.json | jq -r '.manifests[0].digest')

CTRD_DIR=$(t_tmpdir)
t_containerd_start "$CTRD_DIR"

for SN in overlayfs native; do
        t_log "snapshotter $SN"
        NS=$T_CTRD_NS-$SN
        ST=$W/state-$SN
        imp() { "$B" import --state-dir "$ST" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$NS" \
                --snapshotter "$SN" "$@"; }
        c() { ctr -a "$T_CTRD_SOCK" -n "$NS" "$@"; }

        out=$(imp "$W/demo.berth")
        t_assert_contains "$out" "containerd: 2 blob(s) written" "first import writes manifest and config"
        t_assert_contains "$out" "1 layer(s) unpacked (1 by berth" "first import unpacks the layer itself"
        # One copy on disk: the layer lives only unpacked; berth keeps manifest + config.
        t_assert_contains "$("$B" status --state-dir "$ST")" "store:   2 blob(s)" "berth keeps no layer copy"
        t_assert_eq "$(c content ls -q | wc -l)" "2" "containerd holds no compressed layer"
        line=$(c images ls | awk -v r="$REF" '$1 == r')
        t_assert_contains "$line" "$DIGEST" "ctr images ls shows $REF with the bundle's digest"
        key=$(c snapshots --snapshotter "$SN" ls | awk 'NR > 1 && $NF == "Committed" {print $1}')
        [ -n "$key" ] || t_fail "no committed snapshot in $SN"
        t_assert_contains "$(c content ls)" "containerd.io/gc.ref.snapshot.$SN=$key" \
                "the config carries the containerd.io/gc.ref.snapshot.$SN label"
        [ -z "$(c leases ls -q)" ] || t_fail "the preload lease was not deleted"

        run=$(c run --rm --snapshotter "$SN" "$REF" "t-$SN-1")
        t_assert_eq "$run" "hello from berth example image" "ctr run prints the image's output"

        st=$("$B" status --state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS" --snapshotter "$SN")
        t_assert_contains "$st" "containerd: present, unpacked" "berth status reports present and unpacked"

        # A GC (deleting an unrelated image with --sync runs one) keeps everything.
        before=$(c content ls -q | sort)
        c images tag "$REF" berth.example/throwaway:1 >/dev/null
        c images rm --sync berth.example/throwaway:1 >/dev/null
        t_assert_eq "$(c content ls -q | sort)" "$before" "a GC removes no preloaded blob"
        t_assert_eq "$(c snapshots --snapshotter "$SN" ls | awk 'NR > 1 {print $1}')" "$key" "a GC keeps the snapshot"

        # Importing again changes nothing.
        out=$(imp "$W/demo.berth")
        t_assert_contains "$out" "already installed" "second import: bundle already installed"
        t_assert_contains "$out" "containerd: 0 blob(s) written (0 B), 2 already present; 0 layer(s) unpacked (0 by berth, 0 B of files), 1 already unpacked; 0 image record(s) changed" \
                "second import is a no-op in containerd"

        # containerd's own 'prune references' drops unpacked layer blobs; the image stays usable.
        c content prune references >/dev/null
        t_assert_contains "$(c images ls)" "$DIGEST" "image still listed after prune references"
        run=$(c run --rm --snapshotter "$SN" "$REF" "t-$SN-2")
        t_assert_eq "$run" "hello from berth example image" "ctr run still works after prune references"
        out=$(imp "$W/demo.berth")
        # The layer is unpacked, so nothing is written or unpacked and no image record changes.
        t_assert_contains "$out" "0 layer(s) unpacked (0 by berth, 0 B of files), 1 already unpacked; 0 image record(s) changed" \
                "import after prune references unpacks nothing"
        st=$("$B" status --state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS" --snapshotter "$SN")
        t_assert_contains "$st" "containerd: present, unpacked" "status after prune references"

        # containerd loses the image entirely (layers already pruned from berth's store):
        # importing the bundle file again unpacks the layer straight from the verified file.
        c images rm --sync "$REF" >/dev/null
        t_assert_eq "$(c content ls -q)" "" "the GC removed the image's content"
        st=$("$B" status --state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS" --snapshotter "$SN")
        t_assert_contains "$st" "containerd: missing" "status reports the image missing"
        out=$(imp "$W/demo.berth")
        t_assert_contains "$out" "containerd: 2 blob(s) written" "re-import restores manifest and config"
        t_assert_contains "$out" "1 layer(s) unpacked (1 by berth" "re-import unpacks the layer again"
        run=$(c run --rm --snapshotter "$SN" "$REF" "t-$SN-3")
        t_assert_eq "$run" "hello from berth example image" "ctr run works after the restore"
done

# --- killed mid-preload, then rerun -------------------------------------------------
NS=$T_CTRD_NS-kill
ST=$W/state-kill
imp() { "$B" import --state-dir "$ST" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$NS" "$@"; }
c() { ctr -a "$T_CTRD_SOCK" -n "$NS" "$@"; }
# berth itself in the background (not a function: $! must be berth's pid).
"$B" import --state-dir "$ST" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$NS" --unpack containerd \
        "$W/big.berth" >"$W/kill.out" 2>&1 &
pid=$!
t_defer "kill -9 $pid 2>/dev/null || true"
# Wait until containerd holds > 8 MB of the big layer in an ingest, then kill berth.
if ! t_wait_for "[ -n \"\$(c content active | awk 'NR > 1 && \$1 ~ /^berth-/ && \$2 ~ /MB$/ && \$2 + 0 > 8')\" ]" 120; then
        cat "$W/kill.out" >&2
        t_fail "never saw berth's ingest in containerd"
fi
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
active=$(c content active | awk 'NR > 1 && $1 ~ /^berth-/')
t_log "after kill: $active"
[ -n "$active" ] || t_fail "no half-written ingest left after the kill"
t_assert_eq "$(c images ls -q)" "" "no image record after an interrupted preload"

out=$(imp --unpack containerd "$W/big.berth")
t_log "rerun: $out"
t_assert_contains "$out" "1 image record(s) changed" "rerun completes the preload"
written=$(printf '%s\n' "$out" | sed -n 's/.*containerd: [0-9]* blob(s) written (\([^)]*\)).*/\1/p')
case "$written" in
*MiB) [ "${written%%.*}" -lt 160 ] || t_fail "rerun wrote $written: the ingest was not resumed" ;;
*) ;;
esac
t_assert_contains "$(c images ls)" "$BIGDIGEST" "big image listed after the rerun"
[ -z "$(c content active | awk 'NR > 1')" ] || t_fail "ingest left behind"
run=$(c run --rm "$BIGREF" t-big)
t_assert_eq "$run" "hello from berth example image" "big image runs after the rerun"

# --- killed while berth unpacks a layer itself, then rerun ----------------------------
# (a fault-point build kills berth after the first tar entry it wrote into a snapshot)
NS=$T_CTRD_NS-kill2
c() { ctr -a "$T_CTRD_SOCK" -n "$NS" "$@"; }
rc=0
BERTH_FAULT=layer.after_first_entry "$B" import --state-dir "$W/state-kill2" --trust "$T_TRUST" \
        --containerd "$T_CTRD_SOCK" --namespace "$NS" "$W/big.berth" >"$W/kill2.out" 2>&1 || rc=$?
if [ "$rc" = 137 ]; then
        t_assert_contains "$(c snapshots ls)" "extract-berth-" "the killed unpack left its active snapshot"
        t_assert_eq "$(c images ls -q)" "" "no image record after the killed unpack"
        out=$("$B" import --state-dir "$W/state-kill2" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" \
                --namespace "$NS" "$W/big.berth")
        t_assert_contains "$out" "2 layer(s) unpacked (2 by berth" "the rerun unpacks both layers itself"
        t_assert_contains "$out" "1 image record(s) changed" "the rerun completes the preload"
        t_assert_eq "$(c content ls -q | wc -l)" "2" "no compressed layer in containerd after the rerun"
        run=$(c run --rm "$BIGREF" t-big2)
        t_assert_eq "$run" "hello from berth example image" "big image runs after the killed unpack"
else
        t_log "berth was not built with fault points (rc $rc): the kill during an unpack runs in the ASan build"
fi

# --- other image shapes: index, Docker media types, zstd, uncompressed ------------------
for variant in "--index" "--docker-media-types" "--compression zstd" "--compression none"; do
        n=v$((++vn))
        t_make_image -o "$W/$n.tar" --ref "berth.example/$n:1" $variant
        t_bundle "$W/$n.berth" --name "$n" --version 1 --image "$W/$n.tar" --ref "berth.example/$n:1"
        # A namespace each: the variants share their layer's diff ID, so one would
        # find the others' snapshot already unpacked.
        out=$("$B" import --state-dir "$W/state-$n" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" \
                --namespace "$T_CTRD_NS-$n" "$W/$n.berth")
        d=$(tar -xOf "$W/$n.tar" index.json | jq -r '.manifests[0].digest')
        t_assert_contains "$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS-$n" images ls)" "$d" "$variant image listed"
        run=$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS-$n" run --rm "berth.example/$n:1" "t-$n")
        t_assert_eq "$run" "hello from berth example image" "$variant image runs"
        case $variant in
        *zstd) t_assert_contains "$out" "1 layer(s) unpacked (0 by berth" "zstd layers go through containerd's applier" ;;
        *) t_assert_contains "$out" "1 layer(s) unpacked (1 by berth" "$variant: berth unpacks the layer" ;;
        esac
done

# --- --keep-layers keeps berth's own copy ------------------------------------------
out=$("$B" import --state-dir "$W/state-keep" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" \
        --namespace "$T_CTRD_NS-keep" --keep-layers "$W/demo.berth")
t_assert_contains "$out" "containerd: 2 blob(s) written" "--keep-layers import preloads"
t_assert_contains "$out" "1 layer(s) unpacked (1 by berth" "--keep-layers: berth still unpacks from its copy"
t_assert_contains "$("$B" status --state-dir "$W/state-keep")" "store:   3 blob(s)" "--keep-layers keeps the layer"
t_assert_eq "$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS-keep" content ls -q | wc -l)" "2" \
        "--keep-layers: still no compressed layer in containerd"
out=$("$B" import --state-dir "$W/state-ctrd" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" \
        --namespace "$T_CTRD_NS-ctrd" --unpack containerd "$W/demo.berth")
t_assert_contains "$out" "containerd: 3 blob(s) written" "--unpack containerd writes every blob to containerd"
t_assert_contains "$out" "1 layer(s) unpacked (0 by berth" "--unpack containerd: containerd unpacks"
t_expect_fail "$B" import --state-dir "$W/state-ctrd" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" \
        --unpack nobody "$W/demo.berth"
t_assert_contains "$T_ERR" "containerd.unpack is 'nobody'" "a bad --unpack is refused with its value"

# --- containerd stopped -------------------------------------------------------------
ST=$W/state-down
t_containerd_stop
t_expect_fail "$B" import --state-dir "$ST" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$T_CTRD_NS" \
        "$W/demo.berth"
t_assert_contains "$T_ERR" "containerd at $T_CTRD_SOCK is not reachable" "clear error when containerd is down"
t_assert_contains "$T_ERR" "is containerd running" "the error says what to check"
st=$("$B" status --state-dir "$ST")
t_assert_contains "$st" "demo version 1" "the bundle is stored and recorded despite the failed preload"
t_assert_contains "$("$B" status --state-dir "$ST" --containerd "$T_CTRD_SOCK")" "containerd: unreachable" \
        "status says containerd is unreachable"
t_containerd_start "$CTRD_DIR"
out=$("$B" import --state-dir "$ST" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$T_CTRD_NS" \
        "$W/demo.berth")
t_assert_contains "$out" "1 image record(s) changed" "rerun with containerd back completes"
run=$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS" run --rm "$REF" t-down)
t_assert_eq "$run" "hello from berth example image" "image runs after the late preload"
t_log "ok"
