/* SPDX-License-Identifier: Apache-2.0 */
/* backends.h — the preload backends of an import (registry mirror, containerd),
 * assembled in one place for `berth import` and the agent, with one set of defaults.
 * Owns only the choice and the options of the backends; the backends themselves are
 * registry/backend.h and containerd/preload.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "config/config.h"
#include "containerd/preload.h"
#include "import/import.h"

#define IMPORT_MAX_BACKENDS 4

struct import_backends_opts {
        /* "store,registry,containerd" (update.backends; "store" is implicit), in preload
         * order; each one named must be configured. NULL: every configured backend,
         * the registry mirror first (registry.url or registry_url; containerd.address or
         * containerd). */
        const char *names;
        const char *registry_url;       /* overrides registry.url (NULL: config) */
        const char *registry_ca;        /* overrides registry.ca_file (NULL: config) */
        /* Overrides of containerd.address/namespace/snapshotter (NULL members: config).
         * Setting ctrd (with or without address) enables containerd when names is NULL. */
        const struct containerd_backend_opts *ctrd;
        bool keep_layers;               /* --keep-layers: never prune berth's layer copies */
};

/* Creates the backends into ret[0..*n). The containerd backend drops berth's copy of the
 * layers it unpacked (one copy on disk; import/held.h keeps deltas knowing them) unless
 * something reads them from berth's store: a registry mirror backend, keep_layers or
 * containerd.keep_layers = true, or a site peer server ([peers] listen with key_file),
 * whose agent drops them after peers.keep_for (daemon/layers.c). On failure nothing is
 * left allocated. */
/* Whether this node serves its blobs to site peers ([peers] listen and key_file). */
bool import_serves_peers(const struct berth_config *cfg);
int import_backends_new(const struct berth_config *cfg, const struct import_backends_opts *o,
                        struct import_backend *ret[IMPORT_MAX_BACKENDS], size_t *n, berr *e);
void import_backends_free(struct import_backend **b, size_t n);
