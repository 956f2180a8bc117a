#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""mkbundle.py — an independent writer of .berth bundles, for berth's CLI tests.

Written from agent/bundle/README.md alone (not from berth's C code): it lays out the
canonical ustar archive byte by byte (headers from tarfile.TarInfo.tobuf in USTAR
format, zero padding to 512, two zero blocks, no record padding) and signs the exact
manifest bytes with Ed25519 (PyNaCl) using a berth `.key` file. With --defect it breaks
the bundle in one precise way, so tests can check that berth rejects each defect.
Without --defect the bundle must be accepted by `berth bundle verify` and `berth import`
(the positive control that makes every negative case meaningful).

Usage: mkbundle.py -k KEY.key [-k ...] --image REF=OCI_ARCHIVE.tar [--image ...] [--tiny-image REF]
                   [--name N] [--version V] [--created T] [--expires T]
                   [--extra-field K=JSON] [--defect NAME] -o OUT.berth
       mkbundle.py ... --all-defects DIR     (DIR/<defect>.berth for every defect)
       mkbundle.py --list-defects
       mkbundle.py --check-layout FILE.berth    (checks anyone's bundle against the layout rules)
"""
import argparse
import base64
import copy
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

import nacl.signing

SIGN_CONTEXT = b"berth-bundle-manifest-v1\x00"
MANIFEST_MEDIA_TYPE = "application/vnd.berth.bundle.manifest.v1+json"
BLOCK = 512


def pad512(n):
    return (n + BLOCK - 1) // BLOCK * BLOCK


# ---- keys ------------------------------------------------------------------------------

class Key:
    def __init__(self, path):
        with open(path, encoding="ascii") as f:
            parts = f.read().split()
        if len(parts) != 3 or parts[0] != "berth-ed25519-secret":
            sys.exit(f"mkbundle: {path} is not a berth secret key file")
        sk = base64.b64decode(parts[1], validate=True)
        if len(sk) != 64:
            sys.exit(f"mkbundle: {path}: secret key is not 64 bytes")
        # libsodium's 64-byte secret key is seed || public key.
        self.signer = nacl.signing.SigningKey(sk[:32])
        pk = bytes(self.signer.verify_key)
        if pk != sk[32:]:
            sys.exit(f"mkbundle: {path}: public half does not match the seed")
        self.keyid = hashlib.sha256(pk).hexdigest()[:32]
        self.pk = pk

    def sign(self, manifest_bytes):
        return self.signer.sign(SIGN_CONTEXT + manifest_bytes).signature


# ---- OCI image-layout archives ---------------------------------------------------------

def load_oci(path):
    """Returns (top descriptor from index.json, {digest: bytes}) of an OCI layout tar."""
    blobs = {}
    index = None
    with tarfile.open(path, "r:") as t:
        for m in t.getmembers():
            if not m.isfile():
                continue
            name = m.name.lstrip("./")
            data = t.extractfile(m).read()
            if name == "index.json":
                index = json.loads(data)
            elif name.startswith("blobs/sha256/"):
                blobs["sha256:" + name[len("blobs/sha256/"):]] = data
    if index is None or not index.get("manifests"):
        sys.exit(f"mkbundle: {path} has no index.json with manifests")
    return index["manifests"][0], blobs


def tiny_image(ref):
    """A minimal valid OCI image (a few KiB): one gzip layer holding /hello.txt."""
    lt = io.BytesIO()
    with tarfile.open(fileobj=lt, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = ("hello from a tiny image: %s\n" % ref).encode() * 20
        ti = tarfile.TarInfo("hello.txt")
        ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
        t.addfile(ti, io.BytesIO(data))
    layer_tar = lt.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/true"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer_tar)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer),
                    "size": len(layer)}]}).encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest)}
    return desc, {sha(manifest): manifest, sha(config): config, sha(layer): layer}


def reachable(desc, blobs, out):
    """Appends (digest, mediaType) of desc and everything it references, parents first."""
    d = desc["digest"]
    if any(x[0] == d for x in out):
        return
    out.append((d, desc["mediaType"]))
    doc_types = ("manifest", "index", "list")
    if any(k in desc["mediaType"] for k in doc_types) and "json" in desc["mediaType"]:
        doc = json.loads(blobs[d])
        children = list(doc.get("manifests", []))
        if "config" in doc:
            children.append(doc["config"])
        children += doc.get("layers", [])
        for c in children:
            reachable(c, blobs, out)


# ---- tar entries -----------------------------------------------------------------------

# Numeric header fields: Python writes "0000644\0", libarchive (berth's writer) writes
# "000644 \0", size/mtime with a trailing space and devmajor/devminor as "000000 \0". The
# README fixes the values, not the encoding; both are tried by the tests.
HEADER_STYLE = "libarchive"


def libarchive_style(h, e):
    h = bytearray(h)
    h[100:108] = b"%06o \0" % e.mode
    h[108:116] = b"%06o \0" % e.uid
    h[116:124] = b"%06o \0" % 0
    h[124:136] = b"%011o " % e.size
    h[136:148] = b"%011o " % e.mtime
    h[329:337] = b"%06o \0" % 0
    h[337:345] = b"%06o \0" % 0
    rechecksum(h, 0)
    return bytes(h)


class Entry:
    def __init__(self, name, data=b"", typ=tarfile.REGTYPE, linkname="", size=None, fmt=tarfile.USTAR_FORMAT,
                 mode=0o644, uid=0, mtime=0, pax=None):
        self.name, self.data, self.typ, self.linkname = name, data, typ, linkname
        self.size = len(data) if size is None else size
        self.fmt, self.mode, self.uid, self.mtime, self.pax = fmt, mode, uid, mtime, pax

    def header(self):
        ti = tarfile.TarInfo(self.name)
        ti.size = self.size if self.typ == tarfile.REGTYPE else 0
        ti.type = self.typ
        ti.linkname = self.linkname
        ti.mode, ti.uid, ti.gid, ti.mtime = self.mode, self.uid, 0, self.mtime
        ti.uname = ti.gname = ""
        if self.typ == tarfile.CHRTYPE:
            ti.devmajor, ti.devminor = 1, 3
        if self.pax:
            ti.pax_headers = dict(self.pax)
        h = ti.tobuf(self.fmt, "utf-8", "surrogateescape")
        if HEADER_STYLE == "libarchive" and self.fmt == tarfile.USTAR_FORMAT and self.typ == tarfile.REGTYPE:
            h = libarchive_style(h, self)
        return h

    def serialize(self):
        h = self.header()
        body = self.data if self.typ == tarfile.REGTYPE else b""
        return h + body + b"\0" * (pad512(len(body)) - len(body))


def archive(entries):
    """Canonical layout: each entry, then exactly two zero blocks (no record padding)."""
    out = bytearray()
    offsets = []
    for e in entries:
        offsets.append(len(out))
        out += e.serialize()
    trailer = len(out)
    out += b"\0" * (2 * BLOCK)
    return out, offsets, trailer


# ---- defects ---------------------------------------------------------------------------
# Each defect is applied at one of four stages: "manifest" (edits the manifest dict or
# bytes before signing), "sign" (edits the signatures), "entries" (edits the list of tar
# entries) or "bytes" (edits the final file). Descriptions say what berth must reject.

DEFECTS = {
    # signatures
    "unsigned": "signatures.json holds an empty list",
    "flip-manifest": "one byte of the manifest data changed after signing",
    "flip-signature": "one base64 character of the signature changed",
    "sig-not-base64": "the signature value is not base64 of 64 bytes",
    "sig-dup-key": "the same key id appears twice in signatures.json",
    "sig-bad-json": "signatures.json is not JSON",
    "sig-too-many": "33 signature entries (limit 32)",
    "sig-too-big": "signatures.json is larger than 64 KiB",
    "flip-keyid": "one hex digit of the key id changed (the signer becomes unknown)",
    # manifest content (signed, so only the parser can object)
    "manifest-bad-json": "manifest is not valid JSON",
    "manifest-dup-key": "manifest JSON has a duplicate key",
    "manifest-not-object": "manifest top level is an array",
    "manifest-missing-created": "manifest lacks the required field created",
    "manifest-missing-blobs": "manifest lacks the required field blobs",
    "manifest-bad-digest": "a blob digest has upper-case hex",
    "manifest-short-digest": "a blob digest is too short",
    "manifest-image-unlisted": "the image points at a digest that is not among the blobs",
    "manifest-image-size": "the image descriptor size disagrees with its blob",
    "manifest-blob-too-big": "a blob's size is over the 8 GiB - 1 limit",
    "manifest-total-too-big": "nine blobs of 8 GiB - 1 listed: over the 64 GiB bundle limit",
    "manifest-too-many-blobs": "4097 blobs listed (limit 4096)",
    "manifest-schema-2": "schemaVersion is 2",
    "manifest-bad-media-type": "the manifest mediaType is wrong",
    "manifest-bad-name": "the bundle name has a '/'",
    "manifest-version-0": "version is 0",
    "manifest-version-string": "version is a string",
    "manifest-bad-time": "created is not RFC 3339",
    "manifest-expires-before-created": "expires is not later than created",
    "manifest-no-images": "the images array is empty",
    "manifest-dup-blob": "the blobs array lists one digest twice (and the archive carries it twice)",
    "manifest-too-big": "manifest.json is larger than 4 MiB",
    "manifest-blob-size-lie": "the manifest states a blob size one byte larger than the blob",
    # tar entries
    "missing-signatures": "no signatures.json entry",
    "swap-head": "signatures.json comes before manifest.json",
    "missing-last-blob": "the last blob's entry is absent",
    "missing-middle-blob": "a middle blob's entry is absent",
    "extra-entry": "a regular file entry after the last blob",
    "extra-unlisted-blob": "a blobs/sha256/<hex> entry not in the manifest, after the last blob",
    "duplicate-blob": "the first blob's entry appears twice in a row",
    "swap-blobs": "the first two blob entries are swapped",
    "absolute-path": "an entry named /etc/passwd where the first blob belongs",
    "dotdot-path": "an entry named blobs/sha256/../../x where the first blob belongs",
    "symlink": "a symlink entry where the first blob belongs",
    "hardlink": "a hardlink entry where the first blob belongs",
    "chardev": "a character device entry where the first blob belongs",
    "directory": "a directory entry where the first blob belongs",
    "fifo": "a FIFO entry where the first blob belongs",
    "blob-longer": "the first blob's entry carries one byte more than the manifest says",
    "pax-header": "manifest.json is preceded by a pax extended header",
    "gnu-longname": "an entry with a GNU long-name header where the first blob belongs",
    "mode-0755": "the first blob's entry has mode 0755",
    "uid-1000": "the first blob's entry has uid 1000",
    "mtime-nonzero": "the first blob's entry has a non-zero mtime",
    # the optional roots.json entry (trust roots) after signatures.json
    "roots-empty": "an empty roots.json entry after signatures.json",
    "roots-after-blob": "a roots.json entry after the first blob instead of before it",
    "roots-twice": "two roots.json entries after signatures.json",
    "roots-bad-json": "roots.json is not JSON",
    "roots-too-big": "roots.json is larger than 1 MiB",
    "roots-bad-root": "roots.json holds an envelope whose payload is not a trust root",
    # bytes of the file
    "flip-blob": "one byte in the middle of the last blob changed",
    "flip-blob-first": "the first byte of the first blob changed",
    "flip-header-name": "one byte of the first blob header's name changed (checksum kept wrong)",
    "flip-header-rechecksum": "a blob header's name changed to another valid digest, checksum recomputed",
    "flip-manifest-header": "one byte of manifest.json's header changed",
    # header bytes that libarchive ignores; each header still has a valid checksum, so
    # only a check of the raw header bytes catches them (tests/cli/bundle_header_strict.sh)
    "header-tail": "a byte in the unused tail (500..511) of the first blob's header, re-checksummed",
    "header-tail-manifest": "a byte in the unused tail of manifest.json's header, re-checksummed",
    "header-linkname": "a linkname on the first blob's regular-file header, re-checksummed",
    "header-devmajor": "devmajor 1 on the first blob's regular-file header, re-checksummed",
    "header-prefix": "the first blob's name split into ustar prefix + name, re-checksummed",
    "header-version": "the first blob's ustar version field is NUL NUL instead of 00, re-checksummed",
    "flip-padding": "a zero padding byte after a blob is 0x01",
    "flip-head-padding": "a zero padding byte after manifest.json is 0x01",
    "flip-trailer": "a byte of the first end-of-archive block is 0x01",
    "flip-trailer-last": "the last byte of the file is 0x01",
    "truncate-mid-blob": "the file ends in the middle of the last blob",
    "truncate-head": "the file ends in the middle of manifest.json",
    "truncate-trailer": "the second end-of-archive block is missing",
    "truncate-all-trailer": "both end-of-archive blocks are missing",
    "trailing-garbage": "16 bytes of garbage after the end of the archive",
    "trailing-zeros": "record padding: zero blocks up to 10 KiB after the trailer",
    "gzip": "the whole bundle is gzip-compressed",
    "random": "4 KiB of random bytes (not a tar)",
    "empty": "an empty file",
    "text": "a text file",
}


def apply_manifest_defect(defect, man, blobs):
    """Edits the manifest dict (or returns replacement bytes) before signing."""
    if defect == "manifest-bad-json":
        return b'{"schemaVersion": 1, "name": "demo",'
    if defect == "manifest-dup-key":
        s = json.dumps(man, indent=2)
        return s.replace('"name":', '"name": "other",\n  "name":', 1).encode()
    if defect == "manifest-not-object":
        return json.dumps([man]).encode()
    if defect == "manifest-missing-created":
        del man["created"]
    elif defect == "manifest-missing-blobs":
        del man["blobs"]
    elif defect == "manifest-bad-digest":
        man["blobs"][-1]["digest"] = man["blobs"][-1]["digest"].upper().replace("SHA256:", "sha256:")
    elif defect == "manifest-short-digest":
        man["blobs"][-1]["digest"] = man["blobs"][-1]["digest"][:-2]
    elif defect == "manifest-image-unlisted":
        man["images"][0]["digest"] = "sha256:" + hashlib.sha256(b"not in this bundle").hexdigest()
    elif defect == "manifest-image-size":
        man["images"][0]["size"] += 1
    elif defect == "manifest-blob-too-big":
        man["blobs"][-1]["size"] = 8 * 1024 ** 3
    elif defect == "manifest-total-too-big":
        for i in range(9):
            man["blobs"].append({"digest": "sha256:" + hashlib.sha256(b"%d" % i).hexdigest(),
                                 "size": 8 * 1024 ** 3 - 1, "mediaType": "application/octet-stream"})
    elif defect == "manifest-too-many-blobs":
        for i in range(4097 - len(man["blobs"])):
            man["blobs"].append({"digest": "sha256:" + hashlib.sha256(b"%d" % i).hexdigest(),
                                 "size": 1, "mediaType": "application/octet-stream"})
    elif defect == "manifest-schema-2":
        man["schemaVersion"] = 2
    elif defect == "manifest-bad-media-type":
        man["mediaType"] = "application/json"
    elif defect == "manifest-bad-name":
        man["name"] = "demo/evil"
    elif defect == "manifest-version-0":
        man["version"] = 0
    elif defect == "manifest-version-string":
        man["version"] = str(man["version"])
    elif defect == "manifest-bad-time":
        man["created"] = "yesterday"
    elif defect == "manifest-expires-before-created":
        man["expires"] = man["created"]
    elif defect == "manifest-no-images":
        man["images"] = []
    elif defect == "manifest-dup-blob":
        man["blobs"].insert(1, dict(man["blobs"][0]))
    elif defect == "manifest-too-big":
        man["padding"] = "x" * (4 * 1024 * 1024)
    elif defect == "manifest-blob-size-lie":
        man["blobs"][-1]["size"] += 1
    return None


def make_signatures(defect, keys, mbytes):
    sigs = [{"keyid": k.keyid, "sig": base64.b64encode(k.sign(mbytes)).decode()} for k in keys]
    if defect == "unsigned":
        sigs = []
    elif defect == "flip-signature":
        s = sigs[0]["sig"]
        i = 20
        sigs[0]["sig"] = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
    elif defect == "sig-not-base64":
        sigs[0]["sig"] = "not*base64"
    elif defect == "sig-dup-key":
        sigs.append(dict(sigs[0]))
    elif defect == "sig-too-many":
        for i in range(33 - len(sigs)):
            sigs.append({"keyid": "%032x" % i, "sig": sigs[0]["sig"]})
    elif defect == "flip-keyid":
        k = sigs[0]["keyid"]
        sigs[0]["keyid"] = k[:5] + ("0" if k[5] != "0" else "1") + k[6:]
    sigs.sort(key=lambda x: x["keyid"])
    if defect == "sig-too-big":
        return (json.dumps({"signatures": sigs, "padding": "x" * 70000}) + "\n").encode()
    if defect == "sig-bad-json":
        return b"{signatures: ]\n"
    return (json.dumps({"signatures": sigs}, indent=2) + "\n").encode()


def version1_roots(keys):
    """A roots.json holding one well-formed trust root of version 1 (the first key in both
    roles, unsigned): a node at version 1 or later skips it, so it is harmless where it
    belongs and only its place can be wrong."""
    k = keys[0]
    payload = {"type": "berth-trust-root", "schemaVersion": 1, "version": 1, "expires": "2098-01-01T00:00:00Z",
               "keys": [{"keyid": k.keyid, "name": "placeholder", "publicKey": base64.b64encode(k.pk).decode()}],
               "roles": {"root": {"threshold": 1, "keyids": [k.keyid]},
                         "release": {"threshold": 1, "keyids": [k.keyid]}}}
    env = {"signed": base64.b64encode(json.dumps(payload).encode()).decode(), "signatures": []}
    return (json.dumps({"roots": [env]}) + "\n").encode()


def apply_entry_defect(defect, entries, first_blob, keys):
    """Edits the entry list; first_blob is the index of the first blob entry."""
    fb = first_blob
    last = len(entries) - 1
    placeholder = version1_roots(keys) if defect.startswith("roots-") else b""
    if defect == "roots-empty":
        entries.insert(2, Entry("roots.json", b""))
    elif defect == "roots-after-blob":
        entries.insert(fb + 1, Entry("roots.json", placeholder))
    elif defect == "roots-twice":
        entries.insert(2, Entry("roots.json", placeholder))
        entries.insert(2, Entry("roots.json", placeholder))
    elif defect == "roots-bad-json":
        entries.insert(2, Entry("roots.json", b"{roots: ]\n"))
    elif defect == "roots-too-big":
        entries.insert(2, Entry("roots.json", b'{"roots": [], "padding": "' + b"x" * (1 << 20) + b'"}\n'))
    elif defect == "roots-bad-root":
        env = {"signed": base64.b64encode(b'{"type": "something else"}').decode(), "signatures": []}
        entries.insert(2, Entry("roots.json", (json.dumps({"roots": [env]}) + "\n").encode()))
    elif defect == "missing-signatures":
        del entries[1]
    elif defect == "swap-head":
        entries[0], entries[1] = entries[1], entries[0]
    elif defect == "missing-last-blob":
        del entries[last]
    elif defect == "missing-middle-blob":
        del entries[fb + 1]
    elif defect == "extra-entry":
        entries.append(Entry("README.txt", b"hello\n"))
    elif defect == "extra-unlisted-blob":
        data = b"an unlisted blob\n"
        entries.append(Entry("blobs/sha256/" + hashlib.sha256(data).hexdigest(), data))
    elif defect == "duplicate-blob":
        e = entries[fb]
        entries.insert(fb + 1, Entry(e.name, e.data))
    elif defect == "swap-blobs":
        entries[fb], entries[fb + 1] = entries[fb + 1], entries[fb]
    elif defect == "absolute-path":
        entries.insert(fb, Entry("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n"))
    elif defect == "dotdot-path":
        entries.insert(fb, Entry("blobs/sha256/../../x", b"x\n"))
    elif defect == "symlink":
        entries.insert(fb, Entry(entries[fb].name, typ=tarfile.SYMTYPE, linkname="/etc/passwd"))
    elif defect == "hardlink":
        entries.insert(fb, Entry(entries[fb].name, typ=tarfile.LNKTYPE, linkname="manifest.json"))
    elif defect == "chardev":
        entries.insert(fb, Entry(entries[fb].name, typ=tarfile.CHRTYPE))
    elif defect == "directory":
        entries.insert(fb, Entry("blobs/sha256/", typ=tarfile.DIRTYPE, mode=0o755))
    elif defect == "fifo":
        entries.insert(fb, Entry(entries[fb].name, typ=tarfile.FIFOTYPE))
    elif defect == "blob-longer":
        e = entries[fb]
        entries[fb] = Entry(e.name, e.data + b"\n")
    elif defect == "pax-header":
        e = entries[0]
        entries[0] = Entry(e.name, e.data, fmt=tarfile.PAX_FORMAT, pax={"comment": "berth test"})
    elif defect == "gnu-longname":
        entries.insert(fb, Entry("blobs/sha256/" + "a" * 120, b"x\n", fmt=tarfile.GNU_FORMAT))
    elif defect == "mode-0755":
        entries[fb].mode = 0o755
    elif defect == "uid-1000":
        entries[fb].uid = 1000
    elif defect == "mtime-nonzero":
        entries[fb].mtime = 1700000000


def rechecksum(buf, off):
    h = bytearray(buf[off:off + BLOCK])
    h[148:156] = b"        "
    buf[off + 148:off + 156] = ("%06o\0 " % sum(h)).encode()


def apply_byte_defect(defect, buf, entries, offsets, trailer, fb):
    last = len(entries) - 1
    lb_data = offsets[last] + BLOCK
    lb_size = len(entries[last].data)

    def blob_with_padding():
        for i in range(fb, len(entries)):
            if len(entries[i].data) % BLOCK:
                return i
        sys.exit("mkbundle: no blob has padding; use another image")

    if defect == "flip-blob":
        buf[lb_data + lb_size // 2] ^= 0x01
    elif defect == "flip-blob-first":
        buf[offsets[fb] + BLOCK] ^= 0x80
    elif defect == "flip-header-name":
        buf[offsets[fb] + 20] ^= 0x01
    elif defect == "flip-header-rechecksum":
        # Still a valid lower-case hex name, and a valid header checksum: only the
        # layout/name check can catch it.
        c = buf[offsets[fb] + 20]
        buf[offsets[fb] + 20] = ord("0") if c != ord("0") else ord("1")
        rechecksum(buf, offsets[fb])
    elif defect.startswith("header-"):
        o = 0 if defect == "header-tail-manifest" else offsets[fb]
        h = buf  # edits in place, then the checksum is made valid again
        if defect in ("header-tail", "header-tail-manifest"):
            h[o + 505] = ord("A")
        elif defect == "header-linkname":
            h[o + 157:o + 160] = b"abc"
        elif defect == "header-devmajor":
            h[o + 329:o + 337] = b"0000001\0"
        elif defect == "header-prefix":
            name = bytes(h[o:o + 100]).rstrip(b"\0")
            pre, _, nm = name.rpartition(b"/")
            h[o:o + 100] = nm.ljust(100, b"\0")
            h[o + 345:o + 500] = pre.ljust(155, b"\0")
        elif defect == "header-version":
            h[o + 263:o + 265] = b"\0\0"
        rechecksum(buf, o)
    elif defect == "flip-manifest-header":
        buf[5] ^= 0x01
    elif defect == "flip-padding":
        i = blob_with_padding()
        buf[offsets[i] + BLOCK + len(entries[i].data)] = 1
    elif defect == "flip-head-padding":
        n = len(entries[0].data)
        if n % BLOCK == 0:
            sys.exit("mkbundle: manifest has no padding")
        buf[BLOCK + n + (BLOCK - n % BLOCK) // 2] = 1
    elif defect == "flip-trailer":
        buf[trailer + 100] = 1
    elif defect == "flip-trailer-last":
        buf[-1] = 1
    elif defect == "truncate-mid-blob":
        del buf[lb_data + lb_size // 2:]
    elif defect == "truncate-head":
        del buf[BLOCK + 100:]
    elif defect == "truncate-trailer":
        del buf[-BLOCK:]
    elif defect == "truncate-all-trailer":
        del buf[-2 * BLOCK:]
    elif defect == "trailing-garbage":
        buf += b"GARBAGE-GARBAGE!"
    elif defect == "trailing-zeros":
        buf += b"\0" * (10240 - len(buf) % 10240)
    elif defect == "gzip":
        return bytearray(gzip.compress(bytes(buf), mtime=0))
    elif defect == "random":
        return bytearray(random.Random(42).randbytes(4096))
    elif defect == "empty":
        return bytearray()
    elif defect == "text":
        return bytearray(b"this is not a bundle\n" * 40)
    return buf


# ---- main ------------------------------------------------------------------------------

def check_layout(path):
    """Checks a bundle written by anyone against the README's layout rules, independently
    of berth's reader. Returns a list of problems (empty = conforms)."""
    buf = open(path, "rb").read()
    bad = []

    def header(off):
        h = buf[off:off + BLOCK]
        if len(h) < BLOCK:
            bad.append(f"header at {off} is cut off")
            return None
        try:
            ti = tarfile.TarInfo.frombuf(h, "utf-8", "surrogateescape")
        except tarfile.HeaderError as ex:
            bad.append(f"header at {off}: {ex}")
            return None
        if h[257:265] != b"ustar\x0000":
            bad.append(f"header at {off} ({ti.name}) is not ustar")
        if ti.type != tarfile.REGTYPE or ti.mode != 0o644 or ti.uid or ti.gid or ti.mtime or ti.uname or ti.gname:
            bad.append(f"header at {off} ({ti.name}) is not canonical")
        if h[157:257].strip(b"\0") or h[345:512].strip(b"\0"):
            bad.append(f"header at {off} ({ti.name}) has linkname, prefix or tail bytes")
        return ti

    def data(off, ti):
        d = buf[off + BLOCK:off + BLOCK + ti.size]
        pad = buf[off + BLOCK + ti.size:off + BLOCK + pad512(ti.size)]
        if pad.strip(b"\0"):
            bad.append(f"padding after {ti.name} is not zero")
        return d, off + BLOCK + pad512(ti.size)

    off = 0
    ti = header(off)
    if not ti or ti.name != "manifest.json":
        return bad + ["first entry is not manifest.json"]
    mbytes, off = data(off, ti)
    man = json.loads(mbytes)
    ti = header(off)
    if not ti or ti.name != "signatures.json":
        return bad + ["second entry is not signatures.json"]
    sbytes, off = data(off, ti)
    keyids = [x["keyid"] for x in json.loads(sbytes)["signatures"]]
    if keyids != sorted(keyids):
        bad.append("signatures are not sorted by keyid")
    ti = header(off) if man["blobs"] else None
    if ti and ti.name == "roots.json":  # the optional trust roots
        rbytes, off = data(off, ti)
        versions = [json.loads(base64.b64decode(r["signed"]))["version"] for r in json.loads(rbytes)["roots"]]
        if not versions or versions != sorted(set(versions)):
            bad.append(f"roots.json versions are not increasing: {versions}")
    for b in man["blobs"]:
        ti = header(off)
        if not ti:
            return bad
        if ti.name != "blobs/sha256/" + b["digest"][7:] or ti.size != b["size"]:
            bad.append(f"entry at {off} is {ti.name} ({ti.size} B), manifest says {b['digest']} ({b['size']} B)")
        d, off = data(off, ti)
        if "sha256:" + hashlib.sha256(d).hexdigest() != b["digest"]:
            bad.append(f"blob {b['digest']} does not match its digest")
    if buf[off:] != b"\0" * (2 * BLOCK):
        bad.append(f"the file does not end with exactly two zero blocks at {off} (size {len(buf)})")
    return bad


def main():
    ap = argparse.ArgumentParser(description="writes canonical (or deliberately broken) .berth bundles")
    ap.add_argument("-k", "--key", action="append", default=[], help="secret .key file to sign with (repeatable)")
    ap.add_argument("--image", action="append", default=[], metavar="REF=OCI.tar")
    ap.add_argument("--tiny-image", action="append", default=[], metavar="REF",
                    help="add a synthetic image of a few KiB (no archive needed)")
    ap.add_argument("--name", default="demo")
    ap.add_argument("--version", type=int, default=1)
    ap.add_argument("--created", default="2024-01-01T00:00:00Z")
    ap.add_argument("--expires", default="2098-01-01T00:00:00Z")
    ap.add_argument("--roots", metavar="FILE",
                    help="a roots.json (trust roots) to carry after signatures.json, verbatim")
    ap.add_argument("--extra-field", action="append", default=[], metavar="KEY=JSON",
                    help="unknown top-level manifest field (must survive import)")
    ap.add_argument("--defect", choices=sorted(DEFECTS), help="break the bundle in this way")
    ap.add_argument("--list-defects", action="store_true")
    ap.add_argument("--all-defects", metavar="DIR", help="write DIR/<defect>.berth for every defect")
    ap.add_argument("--check-layout", metavar="FILE", help="check FILE against the layout rules and exit")
    ap.add_argument("--header-style", choices=("python", "libarchive"), default="libarchive",
                    help="encoding of numeric header fields (libarchive, the canonical one berth writes: 000644 \\0; "
                         "python: 0000644\\0, which berth must refuse)")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()

    global HEADER_STYLE
    HEADER_STYLE = a.header_style
    if a.check_layout:
        problems = check_layout(a.check_layout)
        for p in problems:
            print(f"mkbundle: {a.check_layout}: {p}", file=sys.stderr)
        sys.exit(1 if problems else 0)
    if a.list_defects:
        for k in sorted(DEFECTS):
            print(f"{k}\t{DEFECTS[k]}")
        return
    if not (a.output or a.all_defects) or not (a.image or a.tiny_image):
        ap.error("-o (or --all-defects) and --image or --tiny-image are required")

    keys = [Key(p) for p in a.key]
    images, order, data = [], [], {}
    specs = [(s.partition("=")[0], s.partition("=")[2]) for s in a.image] + [(r, None) for r in a.tiny_image]
    for ref, path in specs:
        desc, blobs = load_oci(path) if path else tiny_image(ref)
        data.update(blobs)
        reachable(desc, blobs, order)
        images.append({"ref": ref, "mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"]})

    man = {
        "schemaVersion": 1,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "name": a.name,
        "version": a.version,
        "created": a.created,
        "expires": a.expires,
        "images": images,
        "blobs": [{"digest": d, "size": len(data[d]), "mediaType": mt} for d, mt in order],
    }
    for kv in a.extra_field:
        k, _, v = kv.partition("=")
        man[k] = json.loads(v)

    roots = open(a.roots, "rb").read() if a.roots else None
    if a.all_defects:
        os.makedirs(a.all_defects, exist_ok=True)
        for d in sorted(DEFECTS):
            write(os.path.join(a.all_defects, d + ".berth"), build(d, copy.deepcopy(man), keys, data, roots))
    if a.output:
        write(a.output, build(a.defect or "", man, keys, data, roots))


def write(path, buf):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf)
    os.replace(tmp, path)


def build(d, man, keys, data, roots=None):
    """The bundle bytes for manifest dict man with defect d ("" = none)."""
    mbytes = apply_manifest_defect(d, man, data)
    if mbytes is None:
        mbytes = (json.dumps(man, indent=2) + "\n").encode()
    sbytes = make_signatures(d, keys, mbytes)
    if d == "flip-manifest":
        i = mbytes.index(b'"demo"') + 1 if b'"demo"' in mbytes else len(mbytes) // 2
        mbytes = bytearray(mbytes)
        mbytes[i] ^= 0x20  # "demo" -> "Demo": still valid JSON, different bytes
        mbytes = bytes(mbytes)

    entries = [Entry("manifest.json", mbytes), Entry("signatures.json", sbytes)]
    if roots is not None:
        entries.append(Entry("roots.json", roots))
    fb = len(entries)
    for b in man.get("blobs", []):
        dg = b["digest"]
        if dg.lower() in data:
            entries.append(Entry("blobs/sha256/" + dg.split(":", 1)[1].lower(), data[dg.lower()]))
        else:  # truncated digest: the original bytes under the name the manifest implies
            full = next((k for k in data if k.startswith(dg)), None)
            if full:  # (blobs that only exist in the manifest get no entry)
                entries.append(Entry("blobs/sha256/" + dg.split(":", 1)[1], data[full]))
    apply_entry_defect(d, entries, fb, keys)
    buf, offsets, trailer = archive(entries)
    return apply_byte_defect(d, buf, entries, offsets, trailer, fb)


if __name__ == "__main__":
    main()
