/* SPDX-License-Identifier: Apache-2.0 */
/* platform.h — which blobs of a bundle a node of one platform needs.
 *
 * A bundle may carry multi-platform images: an OCI image index (or Docker manifest list)
 * whose manifests are for linux/amd64, linux/arm64, linux/arm/v7 … A node runs one
 * platform, and needs only: every index on the way, the one manifest picked for its
 * platform in each index, and that manifest's config and layers. A plain manifest (no
 * index) is needed whole. The pick follows containerd's: the first manifest of an index
 * that the bundle carries and whose platform matches (a descriptor without a platform
 * matches any), so what berth fetches is what containerd then unpacks.
 *
 * The image documents (indexes and manifests; for platform_list() also the configs of
 * plain manifests) come from the caller (doc_fn: the
 * bundle file, the content store), which must have checked their digests. They are
 * small (≤ PLATFORM_MAX_DOC); a layer is never read. No I/O of its own but
 * platform_file_doc(), which reads them from a bundle file.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/manifest.h"

#define PLATFORM_MAX_DOC (4u << 20)
#define PLATFORM_NAME_MAX 96

/* Reads blob b (an index, manifest or config of m) as a JSON object into *ret; -ENOENT
 * when the caller does not hold it (yet). */
typedef int (*platform_doc_fn)(void *userdata, const struct bundle_blob *b, json_t **ret, berr *e);

/* The body of a platform_doc_fn: b's bytes at offset in fd (pread), checked against its
 * digest (-EBADMSG when they differ), parsed. */
int platform_read_doc(int fd, uint64_t offset, const struct bundle_blob *b, json_t **ret, berr *e);
/* A platform_doc_fn for a .berth file (userdata: int *fd, the manifest laid out): each
 * blob at its offset in the file. */
int platform_file_doc(void *userdata, const struct bundle_blob *b, json_t **ret, berr *e);

/* "os/architecture" or "os/architecture/variant", e.g. "linux/arm/v7". */
struct platform {
        char os[32];
        char arch[32];
        char variant[24];       /* "" = any */
};

/* The platform this node runs: linux and uname's machine in OCI terms (x86_64 → amd64,
 * aarch64 → arm64, armv7l → arm/v7, i686 → 386). */
void platform_host(struct platform *p);
/* Parses "os/arch[/variant]"; -EINVAL with a sentence when it is not one. */
int platform_parse(const char *s, struct platform *p, berr *e);
/* Formats p into buf (PLATFORM_NAME_MAX bytes). */
const char *platform_format(const struct platform *p, char buf[PLATFORM_NAME_MAX]);

/* Does an index's manifest descriptor fit p? One without a platform fits any; a variant
 * only counts when both name one. The one rule of berth's picks (containerd/plan.c too). */
bool platform_desc_matches(json_t *desc, const struct platform *p);

/* need[i] (for every m->blobs[i]) is set true for the blobs a node of platform p needs,
 * false for the others; *ret_bytes (unless NULL) is their total size. An index none of
 * whose carried manifests matches p: -ENOEXEC, naming the image. A plain manifest (no
 * index) is needed whole whatever its config says (platform_list() tells). */
int platform_need(const struct bundle_manifest *m, const struct platform *p, platform_doc_fn doc, void *userdata,
                  bool *need, uint64_t *ret_bytes, berr *e);

struct platform_bytes {
        struct platform platform;
        size_t n_blobs;         /* blobs a node of this platform needs */
        uint64_t bytes;         /* and their size */
        bool incomplete;        /* some image has no manifest for it */
};

/* Every platform the bundle carries a manifest for (from its indexes' descriptors; for a
 * plain manifest, from its config), each with what a node of that platform needs and
 * whether every image has something for it. *ret is malloc'd, in the order first seen. */
int platform_list(const struct bundle_manifest *m, platform_doc_fn doc, void *userdata, struct platform_bytes **ret,
                  size_t *n, berr *e);
