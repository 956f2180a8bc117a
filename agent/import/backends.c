/* SPDX-License-Identifier: Apache-2.0 */
/* backends.c — see backends.h. Decides which preload backends an import gets and with
 * which options; never performs a preload itself. */
#include "import/backends.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "registry/backend.h"

void import_backends_free(struct import_backend **b, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (b[i] && b[i]->free)
                        b[i]->free(b[i]);
}

static int add_registry(const struct berth_config *cfg, const struct import_backends_opts *o, bool required,
                        struct import_backend **ret, berr *e)
{
        struct registry_opts ro;
        int r = registry_opts_from_config(cfg, &ro, e);
        if (r < 0)
                return r;
        if (o->registry_url)
                ro.url = o->registry_url;
        if (o->registry_ca)
                ro.ca_file = o->registry_ca;
        *ret = NULL;
        if (!ro.url)
                return required ? berr_set(e, -EINVAL, "config update.backends names 'registry' but registry.url is not set")
                                : 0;
        return registry_backend_new(&ro, ret, e);
}

static int add_containerd(const struct berth_config *cfg, const struct import_backends_opts *o, bool with_registry,
                          struct import_backend **ret, berr *e)
{
        bool keep = false;
        int r = config_get_bool(cfg, "containerd.keep_layers", false, &keep, e);
        if (r < 0)
                return r;
        /* The registry mirror and the peer server read layers from berth's store: with
         * either, berth keeps them (the agent drops them for the peers later). */
        bool prune = !keep && !o->keep_layers && !with_registry && !import_serves_peers(cfg);
        struct containerd_backend_opts co = {0};
        if (o->ctrd)
                co = *o->ctrd;
        containerd_backend_opts_from_config(&co, cfg);  /* address, namespace, snapshotter */
        co.prune_layers = prune;
        return containerd_backend_new(&co, ret, e);
}

bool import_serves_peers(const struct berth_config *cfg)
{
        return config_get(cfg, "peers.listen", NULL) && config_get(cfg, "peers.key_file", NULL);
}

/* Whether names lists the backend name (comma/space separated). */
static bool listed(const char *names, const char *name)
{
        size_t k = strlen(name);
        for (const char *p = names; *p;) {
                p += strspn(p, ", ");
                size_t l = strcspn(p, ", ");
                if (l == k && !strncmp(p, name, k))
                        return true;
                p += l;
        }
        return false;
}

int import_backends_new(const struct berth_config *cfg, const struct import_backends_opts *o,
                        struct import_backend *ret[IMPORT_MAX_BACKENDS], size_t *n, berr *e)
{
        struct import_backend *b[IMPORT_MAX_BACKENDS] = {0};
        size_t nb = 0;
        int r;

        *n = 0;
        bool with_registry = o->names ? listed(o->names, "registry") : false;
        if (!o->names) {
                struct registry_opts ro;
                with_registry = o->registry_url || (registry_opts_from_config(cfg, &ro, NULL) >= 0 && ro.url);
        }

        if (o->names) {
                _cleanup_free_ char *list = strdup(o->names);
                if (!list)
                        return -ENOMEM;
                char *save = NULL;
                for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
                        if (!strcmp(t, "store"))
                                continue;
                        if (nb == IMPORT_MAX_BACKENDS) {
                                import_backends_free(b, nb);
                                return berr_set(e, -E2BIG, "config update.backends: at most %d backends",
                                                IMPORT_MAX_BACKENDS);
                        }
                        if (!strcmp(t, "registry"))
                                r = add_registry(cfg, o, true, &b[nb], e);
                        else if (!strcmp(t, "containerd"))
                                r = add_containerd(cfg, o, with_registry, &b[nb], e);
                        else
                                r = berr_set(e, -EINVAL, "config update.backends: unknown backend '%s' (store, "
                                             "registry, containerd)", t);
                        if (r < 0) {
                                import_backends_free(b, nb);
                                return r;
                        }
                        nb++;
                }
        } else {
                r = add_registry(cfg, o, false, &b[nb], e);
                if (r < 0)
                        return r;
                if (b[nb])
                        nb++;
                if (o->ctrd || config_get(cfg, "containerd.address", NULL)) {
                        r = add_containerd(cfg, o, with_registry, &b[nb], e);
                        if (r < 0) {
                                import_backends_free(b, nb);
                                return r;
                        }
                        nb++;
                }
        }
        memcpy(ret, b, nb * sizeof *b);
        *n = nb;
        return 0;
}
