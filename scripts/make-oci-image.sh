#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make-oci-image.sh — builds a small example container image (busybox-static from Debian,
# no network) as an OCI image-layout tar archive, the format `skopeo copy … oci-archive:`
# writes. Used by every test, benchmark and the demo. Same options → byte-identical output:
# fixed mtimes, uid/gid 0 (or as set), sorted entries, gzip -n, seeded random data.
# The heavy lifting (layer tars, JSON, hashing, outer tar) is the Python program below.
set -euo pipefail

usage() {
        cat <<'EOF'
Usage: make-oci-image.sh -o OUT.tar [options]

Builds an OCI image-layout tar archive (oci-layout, index.json, blobs/sha256/<hex>)
from Debian's busybox-static, without network. Identical options give a
byte-identical archive.

Layers, bottom to top:
  1. base: /bin/busybox + applet symlinks (sh, echo, cat, sleep, ls, wget, nc, httpd, ...),
     /etc/passwd and /etc/group (root, app uid/gid 1000, nobody), /tmp (1777),
     /root, /home/app (owned by 1000:1000)
  2. N random layers (only with --random-layers)
  3. files layer (only with --file/--script)
  4. prebuilt layers (only with --layer-tar)

Options:
  -o, --output OUT.tar      archive to write (required; written atomically)
  --ref NAME                image reference stored in index.json annotations
                            org.opencontainers.image.ref.name and
                            io.containerd.image.name (default berth.example/busybox:1.0)
  --compression C           gzip (default) | zstd | none
                            (layer types ...layer.v1.tar+gzip / +zstd / .tar)
  --random-layers N         add N layers of incompressible random data (default 0)
  --random-size BYTES       total size of the random data over all N layers
                            (default 1048576; suffixes K, M, G = KiB, MiB, GiB allowed)
  --seed S                  seed for the random data (default "berth")
  --cmd CMD                 image Cmd. A JSON array ('["/bin/sh","-c","..."]') is used
                            as is; any other string becomes ["/bin/sh","-c",CMD].
                            Default: ["/bin/echo","hello from berth example image"]
  --entrypoint EP           image Entrypoint; a JSON array, or one path (["EP"])
  --env K=V                 add an environment variable (repeatable; PATH is preset)
  --user UID[:GID]          image config User (e.g. 1000:1000)
  --workdir DIR             image config WorkingDir (default /)
  --label K=V               image config label (repeatable)
  --file SRC:DEST[:MODE]    add file (or directory, recursively) SRC at absolute DEST in
                            the top layer; MODE octal, default 0755 if SRC is executable,
                            else 0644 (repeatable)
  --script SRC:DEST         add a shell script (must start with #!) with mode 0755
  --owner UID:GID           owner of --file/--script entries (default 0:0)
  --layer-tar TAR           add TAR (an uncompressed layer tar, taken byte for byte:
                            whiteouts, hard links, devices, xattrs as it has them) as
                            the top layer (repeatable, in order)
  --index                   wrap the manifest in an image index (with platform) and
                            point index.json at the index
  --docker-media-types      Docker v2 schema2 manifest / manifest list / config / layer
                            media types (gzip or none only)
  --arch ARCH               config architecture (default: dpkg --print-architecture
                            mapped to OCI; the busybox binary is always the host's)
  --mtime EPOCH             timestamp for every file and "created"
                            (default $SOURCE_DATE_EPOCH, else 1704067200)
  --busybox PATH            busybox binary to use (default /bin/busybox; must be static)
  -q, --quiet               print nothing on success (default: prints the manifest digest)
  -h, --help                this help

Example:
  scripts/make-oci-image.sh -o busybox.tar --ref berth.example/busybox:1.0
  skopeo inspect oci-archive:busybox.tar
  ctr -n test images import busybox.tar && ctr -n test run --rm berth.example/busybox:1.0 c1
EOF
}

for a in "$@"; do
        case "$a" in -h|--help) usage; exit 0 ;; esac
done

PY=$(command -v python3) || { echo "make-oci-image.sh: python3 not found (apt-get install python3)" >&2; exit 1; }
# Prefer Debian's interpreter when present (pyenv shims etc. may differ between users).
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

exec "$PY" - "$@" <<'PYEOF'
import argparse, hashlib, io, json, os, random, re, shutil, stat, subprocess, sys, tarfile, tempfile

PROG = "make-oci-image.sh"

def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(2)

def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)(i?B)?", s.strip(), re.I)
    if not m:
        die(f"invalid size '{s}' (use BYTES or a K/M/G suffix)")
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]

ap = argparse.ArgumentParser(prog=PROG, add_help=False)
ap.add_argument("-o", "--output", required=True)
ap.add_argument("--ref", default="berth.example/busybox:1.0")
ap.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
ap.add_argument("--random-layers", type=int, default=0)
ap.add_argument("--random-size", default="1048576")
ap.add_argument("--seed", default="berth")
ap.add_argument("--cmd")
ap.add_argument("--entrypoint")
ap.add_argument("--env", action="append", default=[])
ap.add_argument("--user")
ap.add_argument("--workdir", default="/")
ap.add_argument("--label", action="append", default=[])
ap.add_argument("--file", action="append", default=[])
ap.add_argument("--script", action="append", default=[])
ap.add_argument("--owner", default="0:0")
ap.add_argument("--layer-tar", action="append", default=[])
ap.add_argument("--index", action="store_true")
ap.add_argument("--docker-media-types", action="store_true")
ap.add_argument("--arch")
ap.add_argument("--mtime")
ap.add_argument("--busybox", default="/bin/busybox")
ap.add_argument("-q", "--quiet", action="store_true")
try:
    args = ap.parse_args(sys.argv[1:])
except SystemExit as e:
    if e.code:
        print(f"{PROG}: see --help", file=sys.stderr)
    sys.exit(2 if e.code else 0)

# ---- option checks -------------------------------------------------------------------
if args.mtime is None:
    args.mtime = os.environ.get("SOURCE_DATE_EPOCH", "1704067200")
if not args.mtime.isdigit():
    die(f"--mtime must be seconds since the epoch, got '{args.mtime}'")
MTIME = int(args.mtime)
if args.random_layers < 0 or args.random_layers > 64:
    die("--random-layers must be between 0 and 64")
RANDOM_SIZE = parse_size(args.random_size)
if args.docker_media_types and args.compression == "zstd":
    die("--docker-media-types has no zstd layer type; use --compression gzip or none")
if not re.fullmatch(r"\d+:\d+", args.owner):
    die(f"--owner must be UID:GID, got '{args.owner}'")
FILE_UID, FILE_GID = (int(x) for x in args.owner.split(":"))

if args.arch is None:
    try:
        deb = subprocess.run(["dpkg", "--print-architecture"], check=True,
                             capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        deb = os.uname().machine
    args.arch = {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64",
                 "armhf": "arm", "armel": "arm", "i386": "386", "riscv64": "riscv64",
                 "ppc64el": "ppc64le", "s390x": "s390x"}.get(deb, deb)
VARIANT = {"arm64": "v8", "arm": "v7"}.get(args.arch)

if not os.path.isfile(args.busybox):
    die(f"busybox binary {args.busybox} not found; install it: apt-get install busybox-static")
with open(args.busybox, "rb") as f:
    head = f.read(4096)
if head[:4] != b"\x7fELF":
    die(f"{args.busybox} is not an ELF binary")
if b"/lib64/ld-linux" in head or b"/lib/ld-linux" in head:
    die(f"{args.busybox} is dynamically linked; install busybox-static")

def parse_kv(s, what):
    if "=" not in s or s.startswith("="):
        die(f"{what} needs K=V, got '{s}'")
    return s.split("=", 1)

def split_spec(s, what, nmax):
    parts = s.split(":")
    if len(parts) < 2 or len(parts) > nmax or not parts[0] or not parts[1].startswith("/"):
        die(f"{what} needs SRC:/ABS/DEST, got '{s}'")
    return parts

# ---- media types ---------------------------------------------------------------------
if args.docker_media_types:
    MT_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
    MT_INDEX = "application/vnd.docker.distribution.manifest.list.v2+json"
    MT_CONFIG = "application/vnd.docker.container.image.v1+json"
    MT_LAYER = {"gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "none": "application/vnd.docker.image.rootfs.diff.tar"}[args.compression]
else:
    MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    MT_INDEX = "application/vnd.oci.image.index.v1+json"
    MT_CONFIG = "application/vnd.oci.image.config.v1+json"
    MT_LAYER = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
                "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
                "none": "application/vnd.oci.image.layer.v1.tar"}[args.compression]
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"

# ---- work area -----------------------------------------------------------------------
out = os.path.abspath(args.output)
outdir = os.path.dirname(out)
if not os.path.isdir(outdir):
    die(f"output directory {outdir} does not exist")
work = tempfile.mkdtemp(prefix=".make-oci-image.", dir=outdir)
blobdir = os.path.join(work, "blobs")
os.mkdir(blobdir)

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()

def add_blob_file(path):
    """Moves a finished file into the blob dir; returns (digest, size)."""
    hexd = sha256_file(path)
    size = os.path.getsize(path)
    os.replace(path, os.path.join(blobdir, hexd))
    return "sha256:" + hexd, size

def add_blob_bytes(data):
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobdir, hexd), "wb") as f:
        f.write(data)
    return "sha256:" + hexd, len(data)

def canon_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

# ---- layer writer --------------------------------------------------------------------
class Layer:
    """Collects entries, then writes a deterministic tar sorted by path."""
    def __init__(self):
        self.entries = {}  # path -> (kind, mode, uid, gid, payload)

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.entries:
                self.entries[p] = ("dir", 0o755, 0, 0, None)

    def dir(self, path, mode=0o755, uid=0, gid=0):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("dir", mode, uid, gid, None)

    def file(self, path, mode, data=None, src=None, size=None, uid=0, gid=0):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("file", mode, uid, gid, (data, src, size))

    def symlink(self, path, target):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("sym", 0o777, 0, 0, target)

    def write(self, f):
        with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for path in sorted(self.entries):
                kind, mode, uid, gid, payload = self.entries[path]
                ti = tarfile.TarInfo(path)
                ti.mtime, ti.mode, ti.uid, ti.gid = MTIME, mode, uid, gid
                ti.uname = ti.gname = ""
                if kind == "dir":
                    ti.type = tarfile.DIRTYPE
                    tf.addfile(ti)
                elif kind == "sym":
                    ti.type, ti.linkname = tarfile.SYMTYPE, payload
                    tf.addfile(ti)
                else:
                    data, src, size = payload
                    if data is not None:
                        ti.size = len(data)
                        tf.addfile(ti, io.BytesIO(data))
                    elif src is not None:
                        ti.size = os.path.getsize(src)
                        with open(src, "rb") as sf:
                            tf.addfile(ti, sf)
                    else:
                        ti.size = size
                        tf.addfile(ti, RandomStream(size, path))

class RandomStream:
    """File-like object yielding `size` seeded pseudo-random bytes (incompressible)."""
    def __init__(self, size, name):
        self.left = size
        self.rng = random.Random(hashlib.sha256(f"{args.seed}/{name}".encode()).digest())
    def read(self, n=-1):
        if n < 0 or n > self.left:
            n = self.left
        self.left -= n
        return self.rng.randbytes(n)

def finish_layer(layer, name, level=6):
    """Writes layer tar, compresses it; returns (descriptor, diff_id).
    Random layers use gzip -1: their data is incompressible and -6 only costs time."""
    raw = os.path.join(work, name + ".tar")
    if isinstance(layer, str):
        shutil.copyfile(layer, raw)
    else:
        with open(raw, "wb") as f:
            layer.write(f)
    diff_id = "sha256:" + sha256_file(raw)
    if args.compression == "none":
        path = raw
    else:
        path = raw + "." + args.compression
        cmd = ["gzip", "-n", f"-{level}", "-c"] if args.compression == "gzip" else \
              ["zstd", "-q", "-3", "-T1", "--no-progress", "-c"]
        try:
            with open(raw, "rb") as src, open(path, "wb") as dst:
                subprocess.run(cmd, stdin=src, stdout=dst, check=True)
        except FileNotFoundError:
            die(f"{cmd[0]} not found; install it: apt-get install {cmd[0]}")
        os.unlink(raw)
    digest, size = add_blob_file(path)
    return {"mediaType": MT_LAYER, "digest": digest, "size": size}, diff_id

try:
    layers, diff_ids, history = [], [], []

    # 1. base layer
    base = Layer()
    for d in ("bin", "dev", "etc", "proc", "sys", "usr/bin", "usr/sbin", "sbin", "var"):
        base.dir(d)
    base.dir("tmp", 0o1777)
    base.dir("var/tmp", 0o1777)
    base.dir("root", 0o700)
    base.dir("home/app", 0o755, 1000, 1000)
    base.file("bin/busybox", 0o755, src=args.busybox)
    applets = subprocess.run([args.busybox, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in applets:
        a = a.strip("/")
        if a in ("bin/busybox", "linuxrc") or not a:
            continue
        base.symlink(a, "/bin/busybox")
    base.file("etc/passwd", 0o644, data=(
        "root:x:0:0:root:/root:/bin/sh\n"
        "app:x:1000:1000:app:/home/app:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").encode())
    base.file("etc/group", 0o644, data=(
        "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n").encode())
    base.file("etc/hostname", 0o644, data=b"berth-example\n")
    desc, did = finish_layer(base, "base")
    layers.append(desc); diff_ids.append(did)
    history.append({"created_by": f"make-oci-image.sh: busybox-static base ({len(applets)} applets)"})

    # 2. random layers
    if args.random_layers:
        per = RANDOM_SIZE // args.random_layers
        for i in range(args.random_layers):
            size = per if i < args.random_layers - 1 else RANDOM_SIZE - per * i
            lay = Layer()
            lay.dir("random")
            lay.file(f"random/layer-{i}.bin", 0o644, size=size)
            desc, did = finish_layer(lay, f"random{i}", level=1)
            layers.append(desc); diff_ids.append(did)
            history.append({"created_by": f"make-oci-image.sh: random layer {i} ({size} bytes, seed {args.seed!r})"})

    # 3. files layer
    if args.file or args.script:
        lay = Layer()
        def add_src(src, dest, mode):
            if os.path.isdir(src):
                lay.dir(dest, 0o755, FILE_UID, FILE_GID)
                for n in sorted(os.listdir(src)):
                    add_src(os.path.join(src, n), dest.rstrip("/") + "/" + n, None)
            elif os.path.isfile(src):
                m = mode if mode is not None else \
                    (0o755 if os.stat(src).st_mode & stat.S_IXUSR else 0o644)
                lay.file(dest, m, src=src, uid=FILE_UID, gid=FILE_GID)
            else:
                die(f"--file source {src} is not a regular file or directory")
        for spec in args.file:
            p = split_spec(spec, "--file", 3)
            mode = None
            if len(p) == 3:
                if not re.fullmatch(r"[0-7]{3,4}", p[2]):
                    die(f"--file mode must be octal, got '{p[2]}'")
                mode = int(p[2], 8)
            add_src(p[0], p[1], mode)
        for spec in args.script:
            p = split_spec(spec, "--script", 2)
            if not os.path.isfile(p[0]):
                die(f"--script source {p[0]} is not a regular file")
            with open(p[0], "rb") as f:
                if f.read(2) != b"#!":
                    die(f"--script {p[0]} does not start with #! (use --file for other files)")
            lay.file(p[1], 0o755, src=p[0], uid=FILE_UID, gid=FILE_GID)
        desc, did = finish_layer(lay, "files")
        layers.append(desc); diff_ids.append(did)
        history.append({"created_by": "make-oci-image.sh: files " +
                        " ".join(s.split(":")[1] for s in args.file + args.script)})

    # 4. prebuilt layers
    for i, t in enumerate(args.layer_tar):
        if not os.path.isfile(t):
            die(f"--layer-tar {t} is not a file")
        desc, did = finish_layer(t, f"prebuilt{i}")
        layers.append(desc); diff_ids.append(did)
        history.append({"created_by": f"make-oci-image.sh: prebuilt layer {os.path.basename(t)}"})

    # ---- config ------------------------------------------------------------------------
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    for e in args.env:
        k, v = parse_kv(e, "--env")
        env[k] = v
    def to_argv(s, shell):
        if s.lstrip().startswith("["):
            try:
                v = json.loads(s)
            except ValueError as ex:
                die(f"invalid JSON array '{s}': {ex}")
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                die(f"'{s}' must be a JSON array of strings")
            return v
        return ["/bin/sh", "-c", s] if shell else [s]
    cfg = {"Env": [f"{k}={v}" for k, v in env.items()], "WorkingDir": args.workdir,
           "Cmd": to_argv(args.cmd, True) if args.cmd is not None
                  else ["/bin/echo", "hello from berth example image"]}
    if args.entrypoint is not None:
        cfg["Entrypoint"] = to_argv(args.entrypoint, False)
    if args.user:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?", args.user):
            die(f"--user must be UID[:GID], got '{args.user}'")
        cfg["User"] = args.user
    if args.label:
        cfg["Labels"] = dict(parse_kv(l, "--label") for l in args.label)
    import time
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(MTIME))
    for h in history:
        h["created"] = created
    config = {"architecture": args.arch, "os": "linux", "created": created, "config": cfg,
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}
    if VARIANT:
        config["variant"] = VARIANT
    cdigest, csize = add_blob_bytes(canon_json(config))

    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": cdigest, "size": csize},
                "layers": layers}
    mdigest, msize = add_blob_bytes(canon_json(manifest))
    top = {"mediaType": MT_MANIFEST, "digest": mdigest, "size": msize}
    if args.index:
        platform = {"architecture": args.arch, "os": "linux"}
        if VARIANT:
            platform["variant"] = VARIANT
        index = {"schemaVersion": 2, "mediaType": MT_INDEX,
                 "manifests": [dict(top, platform=platform)]}
        idigest, isize = add_blob_bytes(canon_json(index))
        top = {"mediaType": MT_INDEX, "digest": idigest, "size": isize}
    top["annotations"] = {"org.opencontainers.image.ref.name": args.ref,
                          "io.containerd.image.name": args.ref}
    index_json = canon_json({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [top]})
    oci_layout = canon_json({"imageLayoutVersion": "1.0.0"})

    # ---- outer archive: oci-layout, index.json, blobs/, blobs/sha256/, blobs sorted ---
    def entry(name, mode, typ=tarfile.REGTYPE, size=0):
        ti = tarfile.TarInfo(name)
        ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, mode, 0, 0, "", ""
        ti.type, ti.size = typ, size
        return ti
    tmp_out = os.path.join(work, "out.tar")
    f = open(tmp_out, "wb")
    with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(entry("oci-layout", 0o644, size=len(oci_layout)), io.BytesIO(oci_layout))
        tf.addfile(entry("index.json", 0o644, size=len(index_json)), io.BytesIO(index_json))
        tf.addfile(entry("blobs/", 0o755, tarfile.DIRTYPE))
        tf.addfile(entry("blobs/sha256/", 0o755, tarfile.DIRTYPE))
        for hexd in sorted(os.listdir(blobdir)):
            p = os.path.join(blobdir, hexd)
            with open(p, "rb") as bf:
                tf.addfile(entry("blobs/sha256/" + hexd, 0o644, size=os.path.getsize(p)), bf)
    # tarfile has written the end-of-archive blocks; make the file durable, then publish.
    f.flush()
    os.fsync(f.fileno())
    f.close()
    os.replace(tmp_out, out)
    if not args.quiet:
        print(f"{args.output}: {args.ref} {top['mediaType']} {top['digest']} "
              f"({len(layers)} layers, {args.compression})")
finally:
    shutil.rmtree(work, ignore_errors=True)
PYEOF
