/* SPDX-License-Identifier: Apache-2.0 */
/* backend.c — see backend.h. Adapts the content store to the push walker. */
#include "registry/backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "registry/push.h"

struct registry_backend {
        struct import_backend base;     /* first: the import code sees only this */
        char *url, *ca_file, *username, *password, *password_file, *prefix, *journal_dir;
        bool insecure;
        uint64_t chunk_size;
        uint64_t monolithic_max;
        unsigned parallel;
        struct registry_stats stats;
};

int registry_opts_from_config(const struct berth_config *c, struct registry_opts *o, berr *e)
{
        *o = (struct registry_opts){0};
        o->url = config_get(c, "registry.url", NULL);
        if (o->url && !o->url[0])
                o->url = NULL;
        o->ca_file = config_get(c, "registry.ca_file", NULL);
        o->username = config_get(c, "registry.username", NULL);
        o->password = config_get(c, "registry.password", NULL);
        o->password_file = config_get(c, "registry.password_file", NULL);
        o->prefix = config_get(c, "registry.prefix", NULL);
        int r = config_get_bool(c, "registry.insecure", false, &o->insecure, e);
        if (r >= 0)
                r = config_get_u64(c, "registry.chunk_size", 0, &o->chunk_size, e);
        if (r >= 0)
                r = config_get_u64(c, "registry.monolithic_max", 0, &o->monolithic_max, e);
        uint64_t par = 0;
        if (r >= 0)
                r = config_get_u64(c, "registry.parallel", 0, &par, e);
        if (r >= 0 && par > REGISTRY_MAX_PARALLEL)
                r = berr_set(e, -EINVAL, "registry.parallel = %llu is above %u", (unsigned long long)par,
                             REGISTRY_MAX_PARALLEL);
        o->parallel = (unsigned)par;
        return r;
}

static void backend_free(struct import_backend *b)
{
        struct registry_backend *rb = (struct registry_backend *)b;
        if (!rb)
                return;
        free(rb->url);
        free(rb->ca_file);
        free(rb->username);
        if (rb->password) {
                explicit_bzero(rb->password, strlen(rb->password));
                free(rb->password);
        }
        free(rb->password_file);
        free(rb->prefix);
        free(rb->journal_dir);
        free(rb);
}

static void backend_freep(struct import_backend **b)
{
        backend_free(*b);
}

static int open_from_store(void *ud, const char *digest, int *ret_fd)
{
        if (!digest_valid(digest))
                return -EINVAL;
        return content_open(ud, digest, ret_fd);
}

static int backend_preload(struct import_backend *b, const struct bundle_manifest *m, struct content_store *cs,
                           berr *e)
{
        struct registry_backend *rb = (struct registry_backend *)b;
        _cleanup_free_ char *journal = NULL;
        if (!rb->journal_dir) {
                /* STATE/store → STATE/registry: beside the store, not inside it. */
                journal = path_join(content_store_dir(cs), "../registry");
                if (!journal)
                        return -ENOMEM;
        }
        struct registry_opts o = {
                .url = rb->url, .ca_file = rb->ca_file, .username = rb->username, .password = rb->password,
                .password_file = rb->password_file, .insecure = rb->insecure, .prefix = rb->prefix,
                .chunk_size = rb->chunk_size, .monolithic_max = rb->monolithic_max, .parallel = rb->parallel,
                .journal_dir = rb->journal_dir ? rb->journal_dir : journal,
        };
        _cleanup_(registry_client_freep) struct registry_client *c = NULL;
        int r = registry_client_new(&o, &c, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_images && r >= 0; i++) {
                const struct bundle_image *img = &m->images[i];
                struct registry_image ri = {.ref = img->ref, .digest = img->digest, .media_type = img->media_type};
                r = registry_push_image(c, &ri, open_from_store, cs, e);
                if (r < 0)
                        berr_prefix(e, r, "image %s", img->ref);
        }
        rb->stats = *registry_client_stats(c);
        return r < 0 ? r : 0;
}

#define DUP_OPT(field)                                                                                     \
        do {                                                                                               \
                if (o->field && !(rb->field = strdup(o->field)))                                           \
                        return -ENOMEM;                                                                    \
        } while (0)

int registry_backend_new(const struct registry_opts *o, struct import_backend **ret, berr *e)
{
        /* Validate the settings now, so a typo fails before the import starts. */
        struct registry_opts check = *o;
        check.journal_dir = NULL;
        _cleanup_(registry_client_freep) struct registry_client *probe = NULL;
        int r = registry_client_new(&check, &probe, e);
        if (r < 0)
                return r;

        struct registry_backend *rb = calloc(1, sizeof *rb);
        if (!rb)
                return -ENOMEM;
        _cleanup_(backend_freep) struct import_backend *guard = &rb->base;
        rb->base.name = "registry";
        rb->base.preload = backend_preload;
        rb->base.free = backend_free;
        rb->insecure = o->insecure;
        rb->chunk_size = o->chunk_size;
        rb->monolithic_max = o->monolithic_max;
        rb->parallel = o->parallel;
        DUP_OPT(url);
        DUP_OPT(ca_file);
        DUP_OPT(username);
        DUP_OPT(password);
        DUP_OPT(password_file);
        DUP_OPT(prefix);
        DUP_OPT(journal_dir);
        *ret = TAKE_PTR(guard);
        return 0;
}

const struct registry_stats *registry_backend_stats(const struct import_backend *b)
{
        return &((const struct registry_backend *)b)->stats;
}

int registry_backend_from_cli(const struct berth_config *cfg, const char *url, const char *ca_file,
                              struct import_backend **ret, berr *e)
{
        struct registry_opts o;
        int r = registry_opts_from_config(cfg, &o, e);
        if (r < 0)
                return r;
        if (url)
                o.url = url;
        if (ca_file)
                o.ca_file = ca_file;
        *ret = NULL;
        if (!o.url)
                return 0;
        return registry_backend_new(&o, ret, e);
}
