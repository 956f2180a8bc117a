/* SPDX-License-Identifier: Apache-2.0 */
/* backend.h — the registry mirror as a preload target of `berth import`.
 *
 * After a bundle is verified and stored, preload() pushes each of its images from
 * the content store into the mirror (push.h). Settings come from the [registry]
 * section of the config file, which the command line may override:
 *
 *   [registry]
 *   url = http://10.0.0.5:5000        # or https://…; enables the backend
 *   ca_file = /etc/berth/mirror-ca.pem
 *   username = berth                  # basic auth or the token service's credentials
 *   password_file = /etc/berth/mirror-password    (or password = …)
 *   prefix = site1                    # optional repository prefix on the mirror
 *   insecure = false                  # https without verification (testing only)
 *   chunk_size = 67108864             # bytes per PATCH for large blobs
 *   parallel = 4                      # blobs uploaded at once (1 = one by one)
 *
 * Interrupted uploads are journalled under STATE/registry and resumed by the next run.
 */
#pragma once

#include "bundle/format.h"
#include "config/config.h"
#include "import/import.h"
#include "registry/client.h"

/* Fills o from the registry.* keys (strings point into c); o->url stays NULL when no
 * registry is configured. */
int registry_opts_from_config(const struct berth_config *c, struct registry_opts *o, berr *e);

/* A backend for o (strings are copied). journal_dir NULL = derived from the store. */
int registry_backend_new(const struct registry_opts *o, struct import_backend **ret, berr *e);

/* Counters of the last preload (for the caller's summary line). */
const struct registry_stats *registry_backend_stats(const struct import_backend *b);

/* For commands: the backend configured by cfg with --registry/--registry-ca overrides
 * (NULL = not given). *ret is NULL when neither names a registry. */
int registry_backend_from_cli(const struct berth_config *cfg, const char *url, const char *ca_file,
                              struct import_backend **ret, berr *e);
