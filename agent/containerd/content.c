/* SPDX-License-Identifier: Apache-2.0 */
/* content.c — see content.h. Content.Write is a bidirectional stream: containerd
 * answers every request, so the answers are checked as they come; the final COMMIT
 * answer must name the expected digest. containerd verifies size and digest before it
 * commits, so a damaged source can never become visible there either.
 */
#include "containerd/content.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "containerd/services/content.pb-c.h"
#include "grpc/grpc.h"

#define M_CONTENT "/containerd.services.content.v1.Content/"
/* Data per Write message: leaves room for the other fields under GRPC_MAX_SEND_MESSAGE. */
#define WRITE_CHUNK (GRPC_MAX_SEND_MESSAGE - 64u * 1024u)

typedef Containerd__Services__Content__V1__WriteContentRequest WriteReq;
typedef Containerd__Services__Content__V1__WriteContentResponse WriteResp;

static int info_get(struct ctrd *c, const char *digest, ProtobufCMessage **ret, berr *e)
{
        Containerd__Services__Content__V1__InfoRequest req = CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
        req.digest = (char *)digest;
        berr tmp = {0};
        int r = grpc_unary(ctrd_grpc(c), M_CONTENT "Info", &req.base,
                           &containerd__services__content__v1__info_response__descriptor, 0, ret, &tmp);
        if (r < 0 && r != -ENOENT && e)
                *e = tmp;
        return r;
}

int ctrd_content_info(struct ctrd *c, const char *digest, uint64_t *ret_size, berr *e)
{
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        int r = info_get(c, digest, &resp, e);
        if (r < 0)
                return r;
        const Containerd__Services__Content__V1__InfoResponse *ir = (const void *)resp;
        if (ret_size)
                *ret_size = ir->info && ir->info->size > 0 ? (uint64_t)ir->info->size : 0;
        return 0;
}

int ctrd_content_has_labels(struct ctrd *c, const char *digest, const struct ctrd_label *labels, size_t n,
                            bool *ret, berr *e)
{
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        int r = info_get(c, digest, &resp, e);
        if (r < 0)
                return r;
        const Containerd__Services__Content__V1__InfoResponse *ir = (const void *)resp;
        bool all = ir->info != NULL;
        for (size_t i = 0; all && i < n; i++) {
                bool found = false;
                for (size_t j = 0; j < ir->info->n_labels; j++)
                        if (strcmp(ir->info->labels[j]->key, labels[i].key) == 0 &&
                            strcmp(ir->info->labels[j]->value, labels[i].value) == 0)
                                found = true;
                all = found;
        }
        *ret = all;
        return 0;
}

int ctrd_content_set_labels(struct ctrd *c, const char *digest, const struct ctrd_label *labels, size_t n,
                            berr *e)
{
        Containerd__Services__Content__V1__Info info = CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
        Containerd__Services__Content__V1__UpdateRequest req = CONTAINERD__SERVICES__CONTENT__V1__UPDATE_REQUEST__INIT;
        Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        _cleanup_free_ char **paths = NULL;
        _cleanup_free_ char *pathbuf = NULL;
        void **entries = NULL;
        int r;

        if (n == 0)
                return 0;
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
                total += strlen("labels.") + strlen(labels[i].key) + 1;
        paths = calloc(n, sizeof *paths);
        pathbuf = malloc(total);
        if (!paths || !pathbuf)
                return berr_set(e, -ENOMEM, "out of memory");
        char *p = pathbuf;
        for (size_t i = 0; i < n; i++) {
                paths[i] = p;
                p = stpcpy(stpcpy(p, "labels."), labels[i].key) + 1;
        }
        r = ctrd_map_new(&containerd__services__content__v1__info__labels_entry__descriptor, labels, n, &entries);
        if (r < 0)
                return berr_set(e, r, "out of memory");

        info.digest = (char *)digest;
        info.labels = (Containerd__Services__Content__V1__Info__LabelsEntry **)entries;
        info.n_labels = n;
        mask.paths = paths;
        mask.n_paths = n;
        req.info = &info;
        req.update_mask = &mask;
        r = grpc_unary(ctrd_grpc(c), M_CONTENT "Update", &req.base,
                       &containerd__services__content__v1__update_response__descriptor, 0, NULL, e);
        ctrd_map_free(entries, n);
        return r;
}

int ctrd_content_status(struct ctrd *c, const char *ref, struct ctrd_ingest *ret, berr *e)
{
        Containerd__Services__Content__V1__StatusRequest req = CONTAINERD__SERVICES__CONTENT__V1__STATUS_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        berr tmp = {0};

        req.ref = (char *)ref;
        int r = grpc_unary(ctrd_grpc(c), M_CONTENT "Status", &req.base,
                           &containerd__services__content__v1__status_response__descriptor, 0, &resp, &tmp);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                if (e)
                        *e = tmp;
                return r;
        }
        const Containerd__Services__Content__V1__StatusResponse *sr = (const void *)resp;
        if (!sr->status)
                return -ENOENT;
        *ret = (struct ctrd_ingest) {
                .offset = sr->status->offset > 0 ? (uint64_t)sr->status->offset : 0,
                .total = sr->status->total > 0 ? (uint64_t)sr->status->total : 0,
        };
        snprintf(ret->expected, sizeof ret->expected, "%s", sr->status->expected ? sr->status->expected : "");
        return 0;
}

int ctrd_content_abort(struct ctrd *c, const char *ref, berr *e)
{
        Containerd__Services__Content__V1__AbortRequest req = CONTAINERD__SERVICES__CONTENT__V1__ABORT_REQUEST__INIT;
        req.ref = (char *)ref;
        int r = grpc_unary(ctrd_grpc(c), M_CONTENT "Abort", &req.base, &google__protobuf__empty__descriptor, 0,
                           NULL, e);
        return r == -ENOENT ? 0 : r;
}

struct write_state {
        int fd;
        uint64_t src_offset;
        const char *ref;
        const char *digest;
        uint64_t size;
        uint64_t offset;        /* next byte to send */
        char what[160];                /* "blob sha256:…" for errors */
        WriteReq req;
        bool first, done;
        void **label_entries;
        size_t n_labels;
        bool committed;
        uint64_t sent;
        berr *e;
};

/* The next Write message: the chunk's bytes are the `data` field (6), which the gRPC
 * layer reads from the blob's fd straight into libcurl's buffer. */
static int write_next(void *ud, const ProtobufCMessage **ret, struct grpc_raw_field *raw)
{
        struct write_state *ws = ud;

        if (ws->done) {
                *ret = NULL;
                return 0;
        }
        uint64_t left = ws->size - ws->offset;
        size_t n = left > WRITE_CHUNK ? WRITE_CHUNK : (size_t)left;
        *raw = (struct grpc_raw_field){
                .field = 6, .fd = ws->fd, .offset = ws->src_offset + ws->offset, .length = n, .what = ws->what,
        };

        WriteReq *q = &ws->req;
        *q = (WriteReq)CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
        /* ref, total and expected of the first message open (or resume) the ingest;
         * repeating total and expected is allowed and keeps the checks on. */
        if (ws->first)
                q->ref = (char *)ws->ref;
        ws->first = false;
        q->total = (int64_t)ws->size;
        q->expected = (char *)ws->digest;
        q->offset = (int64_t)ws->offset;
        ws->offset += n;
        ws->sent += n;
        if (ws->offset == ws->size) {
                q->action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT;
                q->labels = (Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry **)ws->label_entries;
                q->n_labels = ws->n_labels;
                ws->done = true;
        } else
                q->action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE;
        *ret = &q->base;
        return 0;
}

static int write_answer(void *ud, const ProtobufCMessage *msg)
{
        struct write_state *ws = ud;
        const WriteResp *a = (const void *)msg;

        if (a->action == CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT) {
                if (!a->digest || strcmp(a->digest, ws->digest) != 0)
                        return berr_set(ws->e, -EBADMSG, "containerd committed blob %s under digest %s",
                                        ws->digest, a->digest ? a->digest : "(none)");
                ws->committed = true;
        }
        return 0;
}

static int write_once(struct ctrd *c, const char *ref, const char *digest, uint64_t size, int fd,
                      uint64_t src_offset, void **label_entries, size_t n_labels, uint64_t *sent, berr *e)
{
        struct ctrd_ingest in = {0};
        uint64_t offset = 0;
        int r;

        /* A crash may have left this ingest half written: continue where it stopped, but
         * only if it is the same blob (refs are per digest, but check anyway); anything
         * else is thrown away. */
        r = ctrd_content_status(c, ref, &in, e);
        if (r == -ENOENT)
                offset = 0;
        else if (r < 0)
                return r;
        else if (in.offset <= size && (in.total == 0 || in.total == size) &&
                 (!in.expected[0] || strcmp(in.expected, digest) == 0))
                offset = in.offset;
        else {
                r = ctrd_content_abort(c, ref, e);
                if (r < 0)
                        return r;
                offset = 0;
        }

        struct write_state ws = {
                .fd = fd, .src_offset = src_offset, .ref = ref, .digest = digest, .size = size, .offset = offset, .first = true,
                .label_entries = label_entries, .n_labels = n_labels, .e = e,
        };
        snprintf(ws.what, sizeof ws.what, "blob %s", digest);

        struct grpc_call call = {
                .method = M_CONTENT "Write",
                .send_raw = write_next,
                .send_ud = &ws,
                .response_type = &containerd__services__content__v1__write_content_response__descriptor,
                .recv = write_answer,
                .recv_ud = &ws,
                /* Generous: ~1 GiB blobs on slow flash. */
                .timeout_ms = 30u * 60u * 1000u,
        };
        r = grpc_call_run(ctrd_grpc(c), &call, e);
        *sent += ws.sent;
        if (r < 0)
                return r;
        if (!ws.committed)
                return berr_set(e, -EPROTO, "containerd did not confirm the commit of blob %s", digest);
        return 0;
}

int ctrd_content_write_fd(struct ctrd *c, const char *ref, const char *digest, uint64_t size, int fd,
                          uint64_t src_offset, const struct ctrd_label *labels, size_t n_labels, uint64_t *ret_sent, berr *e)
{
        void **entries = NULL;
        uint64_t sent = 0;
        int r;

        r = ctrd_map_new(&containerd__services__content__v1__write_content_request__labels_entry__descriptor, labels,
                         n_labels, &entries);
        if (r < 0)
                return berr_set(e, r, "out of memory");

        /* containerd refuses to ingest what it has with ALREADY_EXISTS, and answers
         * that while the request is still streaming; libcurl 7.88 then reports a
         * broken stream instead of the status. So ask first, and ask again after a
         * transport error. */
        uint64_t have = 0;
        bool exists = ctrd_content_info(c, digest, &have, NULL) == 0 && have == size;

        /* The ingest of a berth process that just died may still be locked for a moment
         * (until containerd notices the closed stream): retry, bounded. */
        for (unsigned attempt = 0;; attempt++) {
                berr tmp = {0};
                r = exists ? -EEXIST : write_once(c, ref, digest, size, fd, src_offset, entries, n_labels, &sent, &tmp);
                if (r == -EIO && ctrd_content_info(c, digest, &have, NULL) == 0 && have == size)
                        r = -EEXIST;
                if (r == -EEXIST) {
                        /* containerd got the blob meanwhile (it refuses to ingest twice). */
                        r = 0;
                        if (n_labels > 0)
                                r = ctrd_content_set_labels(c, digest, labels, n_labels, e);
                        break;
                }
                bool locked = (r == -ECONNREFUSED || r == -EAGAIN) && strstr(tmp.msg, "locked");
                if (!locked || attempt >= 50) {
                        if (r < 0 && e)
                                *e = tmp;
                        break;
                }
                nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
        ctrd_map_free(entries, n_labels);
        if (ret_sent)
                *ret_sent = sent;
        if (r < 0)
                return berr_prefix(e, r, "writing blob %s to containerd", digest);
        return 0;
}
