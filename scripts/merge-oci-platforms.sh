#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# merge-oci-platforms.sh — merges single-platform OCI image-layout archives of one image
# (as make-oci-image.sh writes them, e.g. with different --arch) into one multi-platform
# archive: an image index listing each input's manifest with the platform its config
# names, every blob once. What `docker buildx --platform a,b -o type=oci` would give.
# Deterministic: the same inputs give the same bytes.
set -euo pipefail

usage() {
        cat <<'EOF'
Usage: merge-oci-platforms.sh -o OUT.tar IN.tar [IN.tar...]

Each IN.tar holds one image (a manifest, or an index whose manifests are all taken).
The reference (index.json annotations) is the first input's.
EOF
}

out=""
ins=()
while [ $# -gt 0 ]; do
        case $1 in
        -o | --output) out=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "merge-oci-platforms.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) ins+=("$1"); shift ;;
        esac
done
[ -n "$out" ] && [ ${#ins[@]} -ge 1 ] || { usage >&2; exit 2; }

exec python3 - "$out" "${ins[@]}" <<'PY'
import hashlib, io, json, os, sys, tarfile, tempfile

out, ins = sys.argv[1], sys.argv[2:]
MT_INDEX = "application/vnd.oci.image.index.v1+json"
INDEXES = (MT_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json")

def die(msg):
    sys.exit("merge-oci-platforms.sh: " + msg)

def canon_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

blobs = {}          # hex -> bytes
manifests = []      # descriptors with platform
ref = None
for path in ins:
    with tarfile.open(path) as tf:
        files = {m.name.lstrip("./"): tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
    if "index.json" not in files:
        die(f"{path} is not an OCI image layout (no index.json)")
    def blob(d):
        return files["blobs/sha256/" + d["digest"].split(":", 1)[1]]
    top = json.loads(files["index.json"])["manifests"][0]
    if ref is None:
        ref = top.get("annotations", {})
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            blobs[name[len("blobs/sha256/"):]] = data
    descs = json.loads(blob(top))["manifests"] if top.get("mediaType") in INDEXES else [top]
    for d in descs:
        cfg = json.loads(blob(json.loads(blob(d))["config"]))
        platform = {"architecture": cfg["architecture"], "os": cfg["os"]}
        if cfg.get("variant"):
            platform["variant"] = cfg["variant"]
        entry = {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"], "platform": platform}
        if any(m["platform"] == platform for m in manifests):
            die(f"{path}: a second image for platform {platform}")
        manifests.append(entry)

index = canon_json({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests})
ihex = hashlib.sha256(index).hexdigest()
blobs[ihex] = index
top = {"mediaType": MT_INDEX, "digest": "sha256:" + ihex, "size": len(index), "annotations": ref}
index_json = canon_json({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [top]})

def entry(name, size=0, typ=tarfile.REGTYPE, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname, ti.type, ti.size = 0, mode, 0, 0, "", "", typ, size
    return ti

fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out)), prefix=".merge-")
with os.fdopen(fd, "wb") as f:
    with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        layout = canon_json({"imageLayoutVersion": "1.0.0"})
        tf.addfile(entry("oci-layout", len(layout)), io.BytesIO(layout))
        tf.addfile(entry("index.json", len(index_json)), io.BytesIO(index_json))
        tf.addfile(entry("blobs/", typ=tarfile.DIRTYPE, mode=0o755))
        tf.addfile(entry("blobs/sha256/", typ=tarfile.DIRTYPE, mode=0o755))
        for h in sorted(blobs):
            tf.addfile(entry("blobs/sha256/" + h, len(blobs[h])), io.BytesIO(blobs[h]))
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, out)
PY
