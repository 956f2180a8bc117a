/* SPDX-License-Identifier: Apache-2.0 */
/* status.c — node status as JSON and as text (see status.h). */
#include "node/status.h"

#include <stdio.h>
#include <string.h>

#include "base/timeutil.h"
#include "node/trust.h"

struct ctx {
        struct berth_db *db;
        json_t *bundles;
        json_t *cur_images;
};

static int image_cb(void *ud, const struct db_image *im)
{
        struct ctx *c = ud;
        json_array_append_new(c->cur_images, json_pack("{s:s,s:s,s:s,s:I}", "ref", im->ref, "digest", im->digest,
                                                        "mediaType", im->media_type, "size", (json_int_t)im->size));
        return 0;
}

static int bundle_cb(void *ud, const struct db_bundle *b)
{
        struct ctx *c = ud;
        char imp[32], ex[32];
        time_format_rfc3339(b->imported_at, imp);
        time_format_rfc3339(b->expires, ex);
        c->cur_images = json_array();
        json_t *o = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:I,s:o}", "name", b->name, "version", (json_int_t)b->version,
                              "manifestDigest", b->digest, "importedAt", imp, "expires", ex, "source", b->source, "size",
                              (json_int_t)b->size, "images", c->cur_images);
        json_array_append_new(c->bundles, o);
        int r = db_list_images(c->db, b->name, b->version, image_cb, c);
        c->cur_images = NULL;
        return r;
}

json_t *node_status_json(struct berth_db *db, struct content_store *cs, const char *state_dir)
{
        uint64_t bytes = 0, count = 0;
        (void)content_usage(cs, &bytes, &count);
        struct ctx c = {.db = db, .bundles = json_array()};
        if (!c.bundles)
                return NULL;
        if (db_list_bundles(db, bundle_cb, &c) < 0) {
                json_decref(c.bundles);
                return NULL;
        }
        return json_pack("{s:s,s:{s:I,s:I},s:o}", "stateDir", state_dir, "store", "blobs", (json_int_t)count, "bytes",
                         (json_int_t)bytes, "bundles", c.bundles);
}

static const char *size_str(uint64_t b, char buf[32])
{
        static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)b;
        int i = 0;
        while (v >= 1024 && i < 4)
                v /= 1024, i++;
        if (i == 0)
                snprintf(buf, 32, "%llu B", (unsigned long long)b);
        else
                snprintf(buf, 32, "%.1f %s", v, u[i]);
        return buf;
}

void node_status_print(const json_t *st)
{
        char sz[32];
        json_t *agent = json_object_get(st, "agent");
        if (json_is_object(agent)) {
                const char *server = json_string_value(json_object_get(agent, "server"));
                printf("agent:   running (pid %lld), %s\n", (long long)json_integer_value(json_object_get(agent, "pid")),
                       json_string_value(json_object_get(agent, "status")) ?: "");
                printf("server:  %s as %s\n", server ? server : "(none)",
                       json_string_value(json_object_get(agent, "controllerId")) ?: "");
                json_t *lp = json_object_get(agent, "lastPoll");
                if (json_is_string(lp))
                        printf("polled:  %s\n", json_string_value(lp));
                long long q = (long long)json_integer_value(json_object_get(agent, "outbox"));
                if (q)
                        printf("outbox:  %lld message(s) waiting for the server\n", q);
        }
        json_t *w = json_object_get(json_object_get(st, "consent"), "waiting");
        if (json_is_object(w)) {
                const char *id = json_string_value(json_object_get(w, "id")) ?: "?";
                printf("consent: action %s (%s) %s: 'berth confirm %s' or 'berth deny %s --reason TEXT'\n", id,
                       json_string_value(json_object_get(w, "what")) ?: "",
                       json_is_true(json_object_get(w, "denied")) ? "was denied here and still waits" :
                                                                   "waits for confirmation",
                       id, id);
        }
        json_t *tm = json_object_get(st, "telemetry");
        if (json_is_object(tm) && json_is_true(json_object_get(tm, "enabled")))
                printf("telemetry: %lld record(s) queued, %lld sent since start, %lld dropped (queue full or too old)\n",
                       (long long)json_integer_value(json_object_get(tm, "queued")),
                       (long long)json_integer_value(json_object_get(tm, "sent")),
                       (long long)json_integer_value(json_object_get(tm, "dropped")));
        json_t *u = json_object_get(st, "update");
        if (json_is_object(u)) {
                long long done = (long long)json_integer_value(json_object_get(u, "bytesDone"));
                long long total = (long long)json_integer_value(json_object_get(u, "bytesTotal"));
                printf("update:  action %s, %s %lld: %s", json_string_value(json_object_get(u, "id")),
                       json_string_value(json_object_get(u, "bundle")) ?: "?",
                       (long long)json_integer_value(json_object_get(u, "version")),
                       json_string_value(json_object_get(u, "state")));
                if (total)
                        printf(" (%lld of %lld bytes)", done, total);
                long long peers = (long long)json_integer_value(json_object_get(u, "bytesFromPeers"));
                if (peers)
                        printf(", %lld bytes from site peers, %lld from the server", peers,
                               (long long)json_integer_value(json_object_get(u, "bytesFromServer")));
                printf("\n");
        }
        json_t *trust = json_object_get(st, "trust");
        if (json_is_object(trust))
                node_trust_print(trust);
        json_t *store = json_object_get(st, "store");
        printf("state:   %s\nstore:   %llu blob(s), %s\nbundles:\n", json_string_value(json_object_get(st, "stateDir")),
               (unsigned long long)json_integer_value(json_object_get(store, "blobs")),
               size_str((uint64_t)json_integer_value(json_object_get(store, "bytes")), sz));
        size_t i, k;
        json_t *b, *im;
        json_array_foreach(json_object_get(st, "bundles"), i, b) {
                printf("  %s version %lld  (%s, imported %s via %s, expires %s)\n",
                       json_string_value(json_object_get(b, "name")),
                       (long long)json_integer_value(json_object_get(b, "version")),
                       size_str((uint64_t)json_integer_value(json_object_get(b, "size")), sz),
                       json_string_value(json_object_get(b, "importedAt")),
                       json_string_value(json_object_get(b, "source")),
                       json_string_value(json_object_get(b, "expires")));
                json_array_foreach(json_object_get(b, "images"), k, im)
                        printf("      image %s  %s\n", json_string_value(json_object_get(im, "ref")),
                               json_string_value(json_object_get(im, "digest")));
        }
}
