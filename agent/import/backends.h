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
        /* Later downloads compare against berth's store (the agent's delta fetch), so
         * pruning is off unless containerd.keep_layers = false says otherwise. */
        bool store_feeds_deltas;
};

/* Creates the backends into ret[0..*n). Pruning of layers (containerd) is on only when
 * nothing later reads them from berth's store: never with a registry mirror backend,
 * never with keep_layers or containerd.keep_layers = true; containerd.keep_layers
 * defaults to store_feeds_deltas. On failure nothing is left allocated. */
int import_backends_new(const struct berth_config *cfg, const struct import_backends_opts *o,
                        struct import_backend *ret[IMPORT_MAX_BACKENDS], size_t *n, berr *e);
void import_backends_free(struct import_backend **b, size_t n);
