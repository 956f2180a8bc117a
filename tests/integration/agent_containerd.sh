#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_containerd.sh — `berth agent` with update.backends = containerd against a real
# containerd (private socket/root, CRI off), one copy of every layer on disk:
#   * a deployment ends with the image present and unpacked in containerd (`ctr run`
#     runs it, no pull), the server sees success, and berth's store keeps no compressed
#     layer (containerd holds them unpacked; import/held.h);
#   * every layer was unpacked as it arrived (daemon/update_stream.c): the agent wrote
#     the unpacked size to disk (/proc/PID/io), not the compressed layers too, and
#     a connection cut in the middle of a layer resumed at the byte where it broke;
#   * the next version, sharing all layers but one, downloads only the changed blobs
#     (counted by a proxy in front of the server), although the store has none of them;
#   * containerd loses the layers (images removed, garbage collected): the next version
#     still installs, the agent fetching what containerd no longer holds;
#   * a layer damaged on the server is refused at its last byte: three tries, the action
#     fails naming it, nothing is committed and no prepared snapshot is left;
#     damaged mid-data, it stops unpacking early: stored first instead, the digest
#     refuses it;
#   * an agent killed in the middle of a layer leaves a prepared snapshot and nothing
#     committed; restarted, it starts that layer over and leaves no snapshot or lease;
#   * a gateway that serves site peers keeps the compressed layers for peers.keep_for,
#     then drops them; meanwhile a gateway of its site streams them from it into its
#     own containerd, past a lying peer.
source "$(dirname "$0")/../lib/harness.sh"
[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, mounts)"
CTRD_DIR=$(t_tmpdir)
t_containerd_start "$CTRD_DIR"

AGENT_PROXY=1 PROXY_ARGS="--cut-after 700000 --cuts 1" agent_env_setup
# No workloads: a bundle of images only, whose update soaks 1 s (not the default 30 s).
echo '{"soak": "1s", "workloads": []}' >"$T_ROOT/wl.json"
for v in 1 2 3 4 5; do
        head -c 300000 /dev/urandom >"$T_ROOT/data-$v"
        t_make_image -o "$T_ROOT/img$v.tar" --ref "registry.local/test/app:$v" --random-layers 2 --random-size 2M \
                --seed onecopy --file "$T_ROOT/data-$v:/data/blob" --cmd 'echo hello from the agent deployment'
        t_bundle "$T_ROOT/app-$v.berth" --name app --version "$v" --image "$T_ROOT/img$v.tar" \
                --ref "registry.local/test/app:$v" -- --workloads "$T_ROOT/wl.json"
done
blobs() { tar -xOf "$1" manifest.json | jq -r '.blobs[] | "\(.digest) \(.size)"' | sort; }
layers() { tar -xOf "$1" manifest.json | jq -r '.blobs[] | select(.mediaType | test("layer")) | .digest'; }
store_layers() { # gateway bundle: how many of the bundle's layers berth's store holds
        local n=0 l
        for l in $(layers "$2"); do
                [ -f "${AGENT_DIR[$1]}/state/store/blobs/sha256/${l#sha256:}" ] && n=$((n + 1))
        done
        echo "$n"
}
declare -A UPLOADED
deploy() { # gateway version
        [ -n "${UPLOADED[$2]:-}" ] || { srv_upload "$T_ROOT/app-$2.berth"; UPLOADED[$2]=$BUNDLE_ID; }
        rollout_create "$(jq -cn --argjson b "${UPLOADED[$2]}" --arg n "$1-$2" --arg c "$1" \
                '{name: $n, bundleId: $b, filter: {controllerId: $c}}')"
        t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 90 ||
                t_fail "rollout of app $2 to $1 did not finish: $(tail -5 "${AGENT_DIR[$1]}/agent.log")"
}

# What the layers of a bundle unpack to (their tar streams).
unpacked_bytes() { # image.tar bundle
        local l n=0
        for l in $(layers "$2"); do
                n=$(( n + $(tar -xOf "$1" "blobs/sha256/${l#sha256:}" | gzip -dc | wc -c) ))
        done
        echo "$n"
}
# What a process sent (or will send) to the disk: bytes written less those whose pages
# were dropped before they reached it (files deleted or truncated first).
written() { awk '$1 == "write_bytes:" {w = $2} $1 == "cancelled_write_bytes:" {c = $2} END {print w - c}' "/proc/$1/io"; }
streams() { ctr -a "$T_CTRD_SOCK" -n "$1" snapshots --snapshotter overlayfs ls | grep -c 'extract-berth-stream' || true; }
stream_leases() { ctr -a "$T_CTRD_SOCK" -n "$1" leases ls | grep -c 'berth-stream-' || true; }

agent_add gw-ctrd "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = $T_CTRD_NS" "snapshotter = overlayfs" "[metrics]" "listen = 127.0.0.1:$(t_free_port)"
agent_start gw-ctrd
w0=$(written "${AGENT_PID[gw-ctrd]}")
deploy gw-ctrd 1
w1=$(( $(written "${AGENT_PID[gw-ctrd]}") - w0 ))
REF=registry.local/test/app:1
DIGEST=$(tar -xOf "$T_ROOT/img1.tar" index.json | jq -r '.manifests[0].digest')
t_ctr images ls | awk -v r="$REF" '$1 == r' | grep -q "$DIGEST" || t_fail "containerd lacks $REF@$DIGEST: $(t_ctr images ls)"
out=$(t_ctr run --rm --snapshotter overlayfs "$REF" agent-ctrd-1)
t_assert_contains "$out" "hello from the agent deployment" "ctr run of the deployed image"
t_assert_eq "$(store_layers gw-ctrd "$T_ROOT/app-1.berth")" 0 "compressed layers of app 1 left in berth's store"
t_pass "deployment preloaded into containerd (ctr run works, no pull); berth's store keeps no layer"

# Each layer went from the wire into its snapshot: written once, as unpacked files.
u1=$(unpacked_bytes "$T_ROOT/img1.tar" "$T_ROOT/app-1.berth")
c1=$(tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq '[.blobs[] | select(.mediaType | test("layer")) | .size] | add')
echo "app 1: the agent wrote $w1 bytes for $u1 bytes of unpacked layers ($c1 compressed)"
# Storing the compressed layers too would write u1 + c1 and more; the database, the log
# and the documents add some 0.5-1 MiB here, depending on how many polls the deployment
# took (the 202 MiB benchmark, where they vanish, gives the ratio: tests/bench).
[ "$w1" -le $(( u1 + c1 / 2 )) ] ||
        t_fail "the agent wrote $w1 bytes for $u1 bytes of unpacked layers (the $c1 compressed bytes went to disk too?)"
n1=$(layers "$T_ROOT/app-1.berth" | wc -l)
t_assert_eq "$(grep -c 'unpacked into containerd as it arrived' "${AGENT_DIR[gw-ctrd]}/agent.log")" "$n1" \
        "layers of app 1 unpacked as they arrived"
CPORT=$(sed -n 's/^listen = 127.0.0.1:\([0-9]*\)$/\1/p' "${AGENT_DIR[gw-ctrd]}/agent.conf" | tail -1)
m=$(curl -s "http://127.0.0.1:$CPORT/metrics")
t_assert_eq "$(awk '$1 == "berth_layers_streamed_total" {print $2}' <<<"$m")" "$n1" "the metric of streamed layers"
t_assert_eq "$(streams "$T_CTRD_NS")$(stream_leases "$T_CTRD_NS")" 00 "prepared snapshots and stream leases left"
# The proxy cut one transfer in the middle of a layer; the applier kept its bytes.
t_assert_eq "$(grep -c 'cut=1' "$T_ROOT/proxy.log")" 1 "transfers the proxy cut"
all1=$(blobs "$T_ROOT/app-1.berth" | awk '{s += $2} END {print s}')
b1=$(proxy_bytes)
[ "$b1" -le $(( all1 + 16384 )) ] ||
        t_fail "app 1 took $b1 bytes for $all1 bytes of blobs: the layer cut in the middle was fetched again"
t_pass "every layer unpacked as it arrived: $w1 bytes written for $u1 unpacked; a cut resumed mid-layer ($b1 bytes for $all1)"

# Version 2 shares every layer but the files layer: only the changed blobs travel.
changed=$(comm -13 <(blobs "$T_ROOT/app-1.berth") <(blobs "$T_ROOT/app-2.berth") | awk '{s += $2} END {print s + 0}')
all2=$(blobs "$T_ROOT/app-2.berth" | awk '{s += $2} END {print s}')
deploy gw-ctrd 2
b2=$(( $(proxy_bytes) - b1 ))
echo "version 2: $b2 artifact bytes for $changed bytes of changed blobs ($all2 in all)"
# The changed blobs, the head (≤ 8 KiB) and a tar header per request.
[ "$b2" -le $(( changed + 16384 )) ] ||
        t_fail "version 2 fetched $b2 bytes; only $changed bytes of blobs changed (the shared layers were fetched again)"
t_assert_eq "$(store_layers gw-ctrd "$T_ROOT/app-2.berth")" 0 "compressed layers of app 2 left in berth's store"
out=$(t_ctr run --rm --snapshotter overlayfs registry.local/test/app:2 agent-ctrd-2)
t_assert_contains "$out" "hello from the agent deployment" "ctr run of version 2"
t_pass "version 2 fetched $b2 bytes for $changed bytes of changed blobs: the layers containerd holds were not fetched"

# containerd loses everything (an operator's `ctr images rm`, its GC): version 3 shares
# the base layers, which the agent believes containerd holds. The preload finds them
# missing; the agent forgets them and fetches them.
t_ctr images rm --sync registry.local/test/app:1 registry.local/test/app:2 >/dev/null
t_wait_for '[ -z "$(t_ctr snapshots --snapshotter overlayfs ls | tail -n +2)" ]' 30 ||
        t_fail "containerd kept snapshots after the images went: $(t_ctr snapshots --snapshotter overlayfs ls)"
deploy gw-ctrd 3
t_wait_for 'agent_has gw-ctrd app 3' 10 || t_fail "app 3 not recorded"
t_assert_eq "$(target_action_status gw-ctrd)" success "app 3's action"
out=$(t_ctr run --rm --snapshotter overlayfs registry.local/test/app:3 agent-ctrd-3)
t_assert_contains "$out" "hello from the agent deployment" "ctr run of version 3 after containerd lost the layers"
grep -q "in neither containerd nor berth's store" "${AGENT_DIR[gw-ctrd]}/agent.log" ||
        t_fail "the agent did not find the lost layers missing (did it fetch everything anyway?)"
t_pass "containerd lost the layers: version 3 installed, the agent fetched what containerd no longer held"

# deploy_damaged VERSION AT: the server's copy of app VERSION gets one byte of its new
# layer (NEW) changed after the upload's check, at byte AT of the layer ("mid": its
# middle); deploys it to gw-ctrd and waits for the action to fail.
committed() { t_ctr snapshots --snapshotter overlayfs ls | awk '$3 == "Committed"' | wc -l; }
deploy_damaged() {
        local art off
        srv_upload "$T_ROOT/app-$1.berth"
        NEW=$(comm -13 <(layers "$T_ROOT/app-3.berth" | sort) <(layers "$T_ROOT/app-$1.berth" | sort))
        art=$(ls -t "$SRV_STATE/artifacts"/* | head -1)
        off=$(python3 -c 'import sys, tarfile
m = tarfile.open(sys.argv[1]).getmember("blobs/sha256/" + sys.argv[2][7:])
print(m.offset_data + (m.size // 2 if sys.argv[3] == "mid" else int(sys.argv[3])))' "$art" "$NEW" "$2")
        printf '\x5a' | dd of="$art" bs=1 seek="$off" conv=notrunc status=none
        rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" --arg n "bad-$1" '{name: $n, bundleId: $b, filter: {controllerId: "gw-ctrd"}}')"
        t_wait_for '[ "$(target_action_status gw-ctrd)" = failure ]' 60 ||
                t_fail "the damaged layer of app $1 was not refused: $(tail -3 "${AGENT_DIR[gw-ctrd]}/agent.log")"
        t_assert_eq "$(committed)" "$c3" "committed snapshots after app $1's damaged layer"
        t_assert_eq "$(streams "$T_CTRD_NS")" 0 "prepared snapshots left by app $1's damaged layer"
        t_ctr images ls | grep -q "registry.local/test/app:$1" && t_fail "containerd has an image record for app $1"
        agent_has gw-ctrd app 3 || t_fail "app 3 no longer recorded"
        ! agent_has gw-ctrd app "$1" || t_fail "the damaged app $1 was recorded"
}
c3=$(committed)

# Damaged in the gzip header's time field, version 4's new layer still unpacks whole,
# and only its digest, at the last byte, tells. Nothing may be committed; app 3 stays.
deploy_damaged 4 4
grep -q "layer $NEW from the server is corrupt: its bytes hash to .*, not to the digest the signed manifest names" \
        "${AGENT_DIR[gw-ctrd]}/agent.log" ||
        t_fail "no message naming the damaged layer: $(grep -i corrupt "${AGENT_DIR[gw-ctrd]}/agent.log" | tail -2)"
t_pass "a layer unpacked whole but not hashing right was refused and removed: nothing committed, app 3 stays"

# Damaged in the middle of its data, version 5's new layer stops unpacking before its
# digest is known: the agent stores it first instead (the digest then tells), and the
# store's check refuses it. Nothing committed either.
deploy_damaged 5 mid
grep -q "layer $NEW cannot be unpacked as it arrives (its bytes are not valid gzip" \
        "${AGENT_DIR[gw-ctrd]}/agent.log" || t_fail "the agent did not fall back to storing layer $NEW first"
grep -q "blob $NEW from .* is corrupt" "${AGENT_DIR[gw-ctrd]}/agent.log" ||
        t_fail "the stored copy of $NEW was not refused by its digest"
t_pass "a layer that stopped unpacking before its digest was known was stored first and refused by its digest"
agent_stop gw-ctrd

# Killed in the middle of a layer (a capped link keeps it there): the prepared snapshot
# holds part of it, nothing is committed; restarted, the agent starts the layer over.
agent_add gw-kill "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = killns" "snapshotter = overlayfs" "[download]" "bandwidth = 512k"
agent_start gw-kill
deploy_async() { # gateway version
        rollout_create "$(jq -cn --argjson b "${UPLOADED[$2]}" --arg n "$1-$2" --arg c "$1" \
                '{name: $n, bundleId: $b, filter: {controllerId: $c}}')"
}
deploy_async gw-kill 1
t_wait_for '[ "$(streams killns)" = 1 ]' 60 || t_fail "gw-kill never streamed a layer: $(tail -3 "${AGENT_DIR[gw-kill]}/agent.log")"
agent_kill gw-kill
t_assert_eq "$(streams killns)" 1 "the prepared snapshot the killed agent left"
sed -i '/^bandwidth = /d' "${AGENT_DIR[gw-kill]}/agent.conf"
agent_start gw-kill
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 90 ||
        t_fail "gw-kill did not finish after the restart: $(tail -5 "${AGENT_DIR[gw-kill]}/agent.log")"
t_assert_eq "$(target_action_status gw-kill)" success "gw-kill's action"
t_assert_eq "$(streams killns)$(stream_leases killns)" 00 "prepared snapshots and stream leases left after the restart"
out=$(ctr -a "$T_CTRD_SOCK" -n killns run --rm --snapshotter overlayfs registry.local/test/app:1 agent-kill-1)
t_assert_contains "$out" "hello from the agent deployment" "ctr run after a kill mid-layer"
t_pass "killed mid-layer: nothing committed, the restarted agent started the layer over and installed"
agent_stop gw-kill

# A gateway serving its site's peers keeps the compressed layers for peers.keep_for.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T_ROOT/site.key"
chmod 600 "$T_ROOT/site.key"
PPORT=$(t_free_port)
agent_add gw-peer "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = peerns" "snapshotter = overlayfs" "[peers]" "discovery = false" \
        "key_file = $T_ROOT/site.key" "listen = 127.0.0.1:$PPORT" "keep_for = 1h" \
        "[metrics]" "listen = 127.0.0.1:$(t_free_port)"
agent_start gw-peer
deploy gw-peer 3
n=$(layers "$T_ROOT/app-3.berth" | wc -l)
t_assert_eq "$(store_layers gw-peer "$T_ROOT/app-3.berth")" "$n" "layers kept for the site peers right after the install"
# A blob published in the last 10 minutes is never dropped (an import may be about to
# record the bundle that needs it): age them past that, so keep_for alone keeps them.
for l in $(layers "$T_ROOT/app-3.berth"); do
        touch -h -d '-20 minutes' "${AGENT_DIR[gw-peer]}/state/store/blobs/sha256/${l#sha256:}"
done
t_wait_for 'grep -q "keeping $n compressed layer(s) in berth.s store for the site peers" "${AGENT_DIR[gw-peer]}/agent.log"' 30 ||
        t_fail "no sweep kept the layers for the peers: $(tail -3 "${AGENT_DIR[gw-peer]}/agent.log")"
t_assert_eq "$(store_layers gw-peer "$T_ROOT/app-3.berth")" "$n" "layers kept within peers.keep_for"
MPORT=$(sed -n 's/^listen = 127.0.0.1:\([0-9]*\)$/\1/p' "${AGENT_DIR[gw-peer]}/agent.conf" | tail -1)
metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
t_assert_eq "$(metric berth_layers_kept_for_peers)" "$n" "the metric of layers kept for the peers"

# A gateway of the same site that does not serve peers streams the layers from gw-peer
# into its containerd, past a peer that lies (every blob's first byte flipped: the
# bytes do not unpack), which it blames; the WAN carries the head and the documents.
python3 "$BERTH_SRC/tests/lib/liarpeer.py" "${AGENT_DIR[gw-peer]}/state/store" "$T_ROOT/liar.port" 2>"$T_ROOT/liar.log" &
LIAR_PID=$!
t_defer "kill $LIAR_PID"
t_wait_for "test -s '$T_ROOT/liar.port'" 10 || t_fail "the lying peer did not start: $(cat "$T_ROOT/liar.log")"
LIAR=$(cat "$T_ROOT/liar.port")
agent_add gw-follow "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = followns" "snapshotter = overlayfs" "[peers]" "discovery = false" \
        "key_file = $T_ROOT/site.key" "peers = 127.0.0.1:$LIAR, 127.0.0.1:$PPORT"
agent_start gw-follow
w0=$(proxy_bytes)
deploy gw-follow 3
wan=$(( $(proxy_bytes) - w0 ))
docs=$(tar -xOf "$T_ROOT/app-3.berth" manifest.json | jq '[.blobs[] | select(.mediaType | test("layer") | not) | .size] | add')
t_assert_eq "$(grep -c 'unpacked into containerd as it arrived' "${AGENT_DIR[gw-follow]}/agent.log")" "$n" \
        "layers gw-follow unpacked as they arrived"
grep -q "site peer 127.0.0.1:$LIAR served layer .* with bytes that do not unpack" "${AGENT_DIR[gw-follow]}/agent.log" ||
        t_fail "gw-follow did not blame the lying peer: $(grep -i 'peer' "${AGENT_DIR[gw-follow]}/agent.log" | tail -3)"
[ "$wan" -le $(( docs + 16384 )) ] ||
        t_fail "gw-follow fetched $wan bytes over the WAN; the documents are $docs bytes (layers came from the server?)"
t_assert_eq "$(store_layers gw-follow "$T_ROOT/app-3.berth")" 0 "compressed layers in gw-follow's store"
out=$(ctr -a "$T_CTRD_SOCK" -n followns run --rm --snapshotter overlayfs registry.local/test/app:3 agent-follow-3)
t_assert_contains "$out" "hello from the agent deployment" "ctr run on gw-follow"
t_pass "gw-follow streamed the $n layers from its site peer past a liar: $wan bytes over the WAN"
agent_stop gw-follow

# Two hours later (the agent's clock: BERTH_NOW), keep_for has passed.
agent_stop gw-peer
agent_start gw-peer BERTH_NOW=$(($(date +%s) + 7200))
t_wait_for '[ "$(store_layers gw-peer "$T_ROOT/app-3.berth")" = 0 ]' 30 ||
        t_fail "layers still in berth's store after peers.keep_for: $(store_layers gw-peer "$T_ROOT/app-3.berth") of $n"
grep -q "dropped $n compressed layer(s)" "${AGENT_DIR[gw-peer]}/agent.log" || t_fail "no log line for the dropped layers"
dropped=$(metric berth_layers_dropped_bytes_total)
bytes=$(tar -xOf "$T_ROOT/app-3.berth" manifest.json | jq '[.blobs[] | select(.mediaType | test("layer")) | .size] | add')
t_assert_eq "${dropped%.*}" "$bytes" "the metric of dropped layer bytes"
out=$(ctr -a "$T_CTRD_SOCK" -n peerns run --rm --snapshotter overlayfs registry.local/test/app:3 agent-peer-3)
t_assert_contains "$out" "hello from the agent deployment" "ctr run after the layers were dropped"
t_pass "a gateway serving peers kept the $n layers for peers.keep_for, then dropped them"
agent_stop gw-peer
