/* SPDX-License-Identifier: Apache-2.0 */
/* client.c — see client.h. Owns the gRPC client and the namespace/lease metadata. */
#include "containerd/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/services/version.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "grpc/grpc.h"

struct ctrd {
        struct grpc_client *g;
        char *address;
        char *ns;
        char *snapshotter;
};

/* containerd's identifier rules, roughly: [A-Za-z0-9][A-Za-z0-9._-]*, ≤ 76 bytes. */
static bool identifier_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 76)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
                if (!alnum && (i == 0 || !strchr("._-", ch)))
                        return false;
        }
        return true;
}

int ctrd_new(const char *address, const char *ns, const char *snapshotter, struct ctrd **ret, berr *e)
{
        int r;

        if (!address || !*address)
                address = CTRD_DEFAULT_ADDRESS;
        if (!ns || !*ns)
                ns = CTRD_DEFAULT_NAMESPACE;
        if (!snapshotter || !*snapshotter)
                snapshotter = CTRD_DEFAULT_SNAPSHOTTER;
        if (strncmp(address, "unix://", 7) == 0)
                address += 7;
        if (address[0] != '/' || strlen(address) > 107)
                return berr_set(e, -EINVAL, "containerd address %s: must be an absolute unix socket path", address);
        if (!identifier_valid(ns))
                return berr_set(e, -EINVAL, "containerd namespace \"%s\" is not a valid identifier", ns);
        if (!identifier_valid(snapshotter))
                return berr_set(e, -EINVAL, "containerd snapshotter \"%s\" is not a valid name", snapshotter);

        _cleanup_(ctrd_freep) struct ctrd *c = calloc(1, sizeof *c);
        if (!c)
                return berr_set(e, -ENOMEM, "out of memory");
        c->address = strdup(address);
        c->ns = strdup(ns);
        c->snapshotter = strdup(snapshotter);
        if (!c->address || !c->ns || !c->snapshotter)
                return berr_set(e, -ENOMEM, "out of memory");
        r = grpc_client_new(address, &c->g, e);
        if (r < 0)
                return r;
        r = grpc_client_set_metadata(c->g, "containerd-namespace", ns);
        if (r < 0)
                return berr_set(e, r, "containerd namespace \"%s\" cannot be sent", ns);
        *ret = TAKE_PTR(c);
        return 0;
}

void ctrd_free(struct ctrd *c)
{
        if (!c)
                return;
        grpc_client_free(c->g);
        free(c->address);
        free(c->ns);
        free(c->snapshotter);
        free(c);
}

const char *ctrd_address(const struct ctrd *c)
{
        return c->address;
}

const char *ctrd_namespace(const struct ctrd *c)
{
        return c->ns;
}

const char *ctrd_snapshotter(const struct ctrd *c)
{
        return c->snapshotter;
}

struct grpc_client *ctrd_grpc(struct ctrd *c)
{
        return c->g;
}

int ctrd_use_lease(struct ctrd *c, const char *lease_id)
{
        return grpc_client_set_metadata(c->g, "containerd-lease", lease_id);
}

int ctrd_version(struct ctrd *c, char **ret_version, berr *e)
{
        Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;

        int r = grpc_unary(c->g, "/containerd.services.version.v1.Version/Version", &req.base,
                           &containerd__services__version__v1__version_response__descriptor, 5000, &resp, e);
        if (r < 0)
                return r;
        const Containerd__Services__Version__V1__VersionResponse *v = (const void *)resp;
        if (ret_version) {
                *ret_version = strdup(v->version ? v->version : "");
                if (!*ret_version)
                        return berr_set(e, -ENOMEM, "out of memory");
        }
        return 0;
}

/* Every protoc-c map<string,string> entry has exactly this layout. */
struct map_entry {
        ProtobufCMessage base;
        char *key;
        char *value;
};

int ctrd_map_new(const void *entry_desc, const struct ctrd_label *labels, size_t n, void ***ret)
{
        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        void **v = calloc(n, sizeof *v);
        struct map_entry *entries = calloc(n, sizeof *entries);
        if (!v || !entries) {
                free(v);
                free(entries);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                protobuf_c_message_init(entry_desc, &entries[i]);
                entries[i].key = (char *)labels[i].key;
                entries[i].value = (char *)labels[i].value;
                v[i] = &entries[i];
        }
        *ret = v;
        return 0;
}

void ctrd_map_free(void **entries, size_t n)
{
        if (!entries)
                return;
        /* One allocation holds all entries; entries[0] is its start. */
        if (n > 0)
                free(entries[0]);
        free(entries);
}
