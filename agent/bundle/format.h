/* SPDX-License-Identifier: Apache-2.0 */
/* format.h — the constants that define the .berth container format.
 *
 * Changing any of these changes the format; agent/bundle/README.md documents them
 * for third-party tools and must be kept in step.
 */
#pragma once

#define BUNDLE_MANIFEST_ENTRY "manifest.json"
#define BUNDLE_SIGNATURES_ENTRY "signatures.json"
/* Optional third entry: the chain of trust roots (README.md, "Trust roots"). */
#define BUNDLE_ROOTS_ENTRY "roots.json"
#define BUNDLE_BLOB_DIR "blobs/sha256/"
#define BUNDLE_MANIFEST_MEDIA_TYPE "application/vnd.berth.bundle.manifest.v1+json"
/* Ed25519 signs SIGN_CONTEXT (including its trailing NUL byte) followed by the manifest. */
#define BUNDLE_SIGN_CONTEXT "berth-bundle-manifest-v1"
#define BUNDLE_TAR_BLOCK 512u

/* Hard limits: every size that comes from the outside is checked against one. */
#define BUNDLE_MAX_MANIFEST_SIZE (4u * 1024 * 1024)
#define BUNDLE_MAX_SIGNATURES_SIZE (64u * 1024)
#define BUNDLE_MAX_SIGNATURES 32u
#define BUNDLE_MAX_ROOTS_SIZE (1024u * 1024)
#define BUNDLE_MAX_ROOTS 64u
#define BUNDLE_MAX_BLOBS 4096u
#define BUNDLE_MAX_IMAGES 256u
#define BUNDLE_MAX_BLOB_SIZE 077777777777ULL /* ustar size field: 8 GiB - 1 */
#define BUNDLE_MAX_TOTAL_SIZE (64ULL * 1024 * 1024 * 1024)
#define BUNDLE_MAX_NAME_LEN 128u
#define BUNDLE_MAX_REF_LEN 255u
#define BUNDLE_MAX_VERSION 9007199254740991LL /* 2^53 - 1: exact in every JSON parser */
