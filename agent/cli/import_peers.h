/* SPDX-License-Identifier: Apache-2.0 */
/* import_peers.h — `berth import --from-peers NAME VERSION`: the offline site. One
 * gateway imported a bundle from a USB stick; the others take the same bundle from it
 * over the plant network, verified exactly as the agent verifies a download.
 *
 * With the site key ([peers] key_file) it finds the peers ([peers] peers, and the
 * multicast discovery unless discovery = false), asks them in turn for the bundle's
 * signed head (GET /v2/heads/NAME/VERSION, peers/serve.h), verifies it against this
 * gateway's own trust root (import_head_verify: signatures, expiry, policy, not older
 * than installed; the trust roots it carries may advance this gateway's), then fetches
 * the image documents and every blob this gateway needs and lacks (its platform; not the
 * layers containerd holds unpacked, import/held.h) from the peers, each checked against
 * the signed digest before it enters the store. A peer that serves a head or a blob that
 * does not verify is not asked again. The caller then imports the stored bundle
 * (berth_import_stored, through the agent when one runs). Nothing goes to the WAN.
 */
#pragma once

#include <stdint.h>

#include "config/config.h"
#include "import/import.h"

struct peers_import_stats {
        unsigned blobs;                 /* fetched from peers */
        uint64_t bytes;
        unsigned present;               /* already on this node (stored or held unpacked) */
        unsigned peers;                 /* peers found */
        char from[256];                 /* the peers that served, "gw-a (10.0.0.5:7379), …" */
};

/* Fetches the head and the missing blobs of name/version into o->state_dir's store.
 * On success *ret_head is a malloc'd copy of the verified head (*ret_len bytes). One
 * sentence in e on failure (no key, no peer has it, a blob nobody could serve). */
int peers_import_fetch(const struct berth_config *cfg, const struct import_opts *o, const char *name,
                       int64_t version, void **ret_head, size_t *ret_len, struct peers_import_stats *st, berr *e);
