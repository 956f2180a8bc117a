/* SPDX-License-Identifier: Apache-2.0 */
/* serve.c — the site peer blob server (see serve.h), on libmicrohttpd's threads. */
#include "peers/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "bundle/format.h"
#include "bundle/manifest.h"
#include "net/addr.h"

#define BLOB_PREFIX "/v2/blobs/"
#define HEAD_PREFIX "/v2/heads/"
#define READ_BLOCK (64u * 1024)
#define REPLAY_CAPACITY 16384   /* requests per 30 s: a locate asks about every blob of every peer */

/* One token bucket for the bodies of every connection. */
struct pace {
        pthread_mutex_t lock;
        uint64_t rate;                  /* bytes/s, 0 = unlimited */
        double tokens;
        uint64_t last_ns;
};

/* A blob announced before it is in the store. */
struct ann {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        enum peer_blob_state state;
};

struct peer_server {
        struct MHD_Daemon *mhd;
        uint16_t port;
        char id[128];
        pthread_mutex_t ann_lock;
        struct ann *ann;
        size_t n_ann, cap_ann;
        struct peer_key key;
        struct content_store *cs;
        pthread_mutex_t auth_lock;      /* the replay window */
        struct peer_replay *replay;
        struct pace pace;
        int stopping;
        struct peer_serve_stats stats;  /* updated with __atomic */
        void (*on_refusal)(void *userdata, const char *sentence);
        void *userdata;
        int (*head_fn)(void *userdata, const char *name, int64_t version, void **ret, size_t *ret_len);
};

/* One body being sent: a range of a blob, open in the store, or followed while it
 * downloads (fd < 0 until its partial file exists). */
struct body {
        struct peer_server *s;
        int fd;
        uint64_t start;
        bool follow;
        bool from_store;                /* fd is the published blob */
        char digest[DIGEST_STR_LEN + 1];
};

static enum peer_blob_state ann_get(struct peer_server *s, const char *digest, uint64_t *size)
{
        enum peer_blob_state st = PEER_BLOB_NONE;
        pthread_mutex_lock(&s->ann_lock);
        for (size_t i = 0; i < s->n_ann; i++)
                if (!strcmp(s->ann[i].digest, digest)) {
                        st = s->ann[i].state;
                        if (size)
                                *size = s->ann[i].size;
                        break;
                }
        pthread_mutex_unlock(&s->ann_lock);
        return st;
}

int peer_serve_announce(struct peer_server *s, const char *digest, uint64_t size, enum peer_blob_state state)
{
        if (!s)
                return 0;
        if (!digest_valid(digest))
                return -EINVAL;
        int r = 0;
        pthread_mutex_lock(&s->ann_lock);
        size_t i = 0;
        while (i < s->n_ann && strcmp(s->ann[i].digest, digest))
                i++;
        if (state == PEER_BLOB_NONE) {
                if (i < s->n_ann)
                        s->ann[i] = s->ann[--s->n_ann];
        } else {
                if (i == s->n_ann && s->n_ann == s->cap_ann) {
                        size_t cap = s->cap_ann ? 2 * s->cap_ann : 64;
                        struct ann *v = realloc(s->ann, cap * sizeof *v);
                        if (!v)
                                r = -ENOMEM;
                        else {
                                s->ann = v;
                                s->cap_ann = cap;
                        }
                }
                if (r == 0) {
                        if (i == s->n_ann)
                                s->n_ann++;
                        snprintf(s->ann[i].digest, sizeof s->ann[i].digest, "%s", digest);
                        s->ann[i].size = size;
                        s->ann[i].state = state;
                }
        }
        pthread_mutex_unlock(&s->ann_lock);
        return r;
}

void peer_serve_withdraw_all(struct peer_server *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->ann_lock);
        s->n_ann = 0;
        pthread_mutex_unlock(&s->ann_lock);
}

/* For a followed body: an fd to read its bytes from, once there is one. The published
 * blob wins; else the partial file of the announced download, opened again when it was
 * replaced (a download that failed its digest starts a new one). */
static void follow_open(struct body *b)
{
        int fd = -1;
        if (content_open(b->s->cs, b->digest, &fd) == 0) {
                if (b->fd >= 0)
                        close(b->fd);
                b->fd = fd;
                b->from_store = true;
                return;
        }
        if (ann_get(b->s, b->digest, NULL) == PEER_BLOB_NONE)
                return;
        char name[DIGEST_STR_LEN + 8];
        snprintf(name, sizeof name, "%s.part", digest_hex(b->digest));
        _cleanup_free_ char *path = path_join(content_partial_dir(b->s->cs), name);
        struct stat now, open_st;
        if (!path || stat(path, &now) < 0)
                return;
        if (b->fd >= 0 && fstat(b->fd, &open_st) == 0 && open_st.st_ino == now.st_ino && open_st.st_dev == now.st_dev)
                return;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return;
        if (b->fd >= 0)
                close(b->fd);
        b->fd = fd;
}

/* Reads the next bytes of a followed blob, waiting for them as they arrive: >0 bytes,
 * or an MHD end when the download was given up, the wait ran out, or the server stops. */
static ssize_t follow_read(struct body *b, uint64_t off, char *buf, size_t max)
{
        uint64_t waited_ms = 0;
        for (;;) {
                if (__atomic_load_n(&b->s->stopping, __ATOMIC_RELAXED))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (!b->from_store && (b->fd < 0 || waited_ms % 200 == 0))
                        follow_open(b); /* published meanwhile, or its partial file replaced */
                if (b->fd >= 0) {
                        ssize_t n = pread(b->fd, buf, max, (off_t)off);
                        if (n > 0)
                                return n;
                        if (n < 0 || b->from_store)
                                return MHD_CONTENT_READER_END_WITH_ERROR; /* a published blob is whole */
                }
                /* Nothing at off yet: the download goes on, or was given up. */
                if (ann_get(b->s, b->digest, NULL) == PEER_BLOB_NONE && !content_has(b->s->cs, b->digest, UINT64_MAX))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (waited_ms >= PEER_SERVE_WAIT_S * 1000u)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                struct timespec ts = {.tv_nsec = 20 * 1000 * 1000};
                nanosleep(&ts, NULL);
                waited_ms += 20;
        }
}

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits (on this connection's thread) until n bytes may be sent. */
static void pace_take(struct peer_server *s, size_t n)
{
        struct pace *p = &s->pace;
        if (!p->rate)
                return;
        double burst = p->rate / 4.0 > READ_BLOCK ? p->rate / 4.0 : READ_BLOCK;
        for (;;) {
                pthread_mutex_lock(&p->lock);
                uint64_t t = now_ns();
                p->tokens += (double)(t - p->last_ns) * (double)p->rate / 1e9;
                if (p->tokens > burst)
                        p->tokens = burst;
                p->last_ns = t;
                double missing = (double)n - p->tokens;
                if (missing <= 0) {
                        p->tokens -= (double)n;
                        pthread_mutex_unlock(&p->lock);
                        return;
                }
                pthread_mutex_unlock(&p->lock);
                if (__atomic_load_n(&s->stopping, __ATOMIC_RELAXED))
                        return;
                double wait = missing / (double)p->rate;
                if (wait > 0.2)
                        wait = 0.2; /* look at stopping now and then */
                struct timespec ts = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
        }
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct body *b = cls;
        if (__atomic_load_n(&b->s->stopping, __ATOMIC_RELAXED))
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (max > READ_BLOCK)
                max = READ_BLOCK;
        pace_take(b->s, max);
        ssize_t n = b->follow ? follow_read(b, b->start + pos, buf, max) : pread(b->fd, buf, max, (off_t)(b->start + pos));
        if (n <= 0)
                return MHD_CONTENT_READER_END_WITH_ERROR; /* the size was checked: a short blob is an error */
        __atomic_fetch_add(&b->s->stats.bytes, (uint64_t)n, __ATOMIC_RELAXED);
        return n;
}

static void body_free(void *cls)
{
        struct body *b = cls;
        if (b->fd >= 0)
                close(b->fd);
        free(b);
}

static void client_name(struct MHD_Connection *c, char *out, size_t n)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (sa && sa->sa_family == AF_INET) {
                const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
                inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
                port = ntohs(v4->sin_port);
        } else if (sa && sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
                inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
                port = ntohs(v6->sin6_port);
        }
        snprintf(out, n, sa && sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

static enum MHD_Result answer_empty(struct peer_server *s, struct MHD_Connection *c, unsigned status,
                                    const char *hname, const char *hvalue)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        if (hname)
                MHD_add_response_header(resp, hname, hvalue);
        enum MHD_Result r = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        __atomic_fetch_add(&s->stats.requests, 1, __ATOMIC_RELAXED);
        return r;
}

static void refusal(struct peer_server *s, struct MHD_Connection *c, const char *url, const char *why)
{
        if (!s->on_refusal)
                return;
        char who[INET6_ADDRSTRLEN + 16], msg[512];
        client_name(c, who, sizeof who);
        snprintf(msg, sizeof msg, "peer %s: %.100s refused: %s", who, url, why);
        s->on_refusal(s->userdata, msg);
}

/* "<name>/<version>": a bundle name (bundle/format.h's rules) and a decimal version. */
int peer_parse_head_path(const char *p, char *name, int64_t *version)
{
        size_t n = strcspn(p, "/");
        if (n == 0 || n > BUNDLE_MAX_NAME_LEN || p[n] != '/')
                return -EINVAL;
        memcpy(name, p, n);
        name[n] = 0;
        if (!bundle_name_valid(name))
                return -EINVAL;
        const char *v = p + n + 1;
        if (*v < '0' || *v > '9' || strlen(v) > 18)
                return -EINVAL;
        int64_t x = 0;
        for (; *v; v++) {
                if (*v < '0' || *v > '9')
                        return -EINVAL;
                x = x * 10 + (*v - '0');
        }
        *version = x;
        return 0;
}

static enum MHD_Result answer_head(struct peer_server *s, struct MHD_Connection *c, const char *path, bool head)
{
        char name[BUNDLE_MAX_NAME_LEN + 1];
        int64_t version;
        void *buf = NULL;
        size_t len = 0;
        if (head || !s->head_fn || peer_parse_head_path(path, name, &version) < 0 ||
            s->head_fn(s->userdata, name, version, &buf, &len) < 0) {
                __atomic_fetch_add(&s->stats.not_found, 1, __ATOMIC_RELAXED);
                return answer_empty(s, c, MHD_HTTP_NOT_FOUND, NULL, NULL);
        }
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(buf);
                return MHD_NO;
        }
        if (s->id[0])
                MHD_add_response_header(resp, "Berth-Peer", s->id);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
        enum MHD_Result mr = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        __atomic_fetch_add(&s->stats.requests, 1, __ATOMIC_RELAXED);
        return mr;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        struct peer_server *s = cls;
        if (*upload_data_size) {
                *upload_data_size = 0; /* a body is not asked for: drop it */
                return MHD_YES;
        }
        bool head = !strcmp(method, "HEAD");
        if (!head && strcmp(method, "GET"))
                return answer_empty(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, "Allow", "GET, HEAD");

        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
        berr e = {0};
        pthread_mutex_lock(&s->auth_lock);
        int r = peer_auth_verify(&s->key, s->replay, auth, method, url, range, (uint64_t)time(NULL), &e);
        pthread_mutex_unlock(&s->auth_lock);
        if (r == -EBUSY) {
                /* Too many requests in the window: not the client's fault. */
                refusal(s, c, url, berr_msg(&e, r));
                return answer_empty(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, MHD_HTTP_HEADER_RETRY_AFTER, "1");
        }
        if (r < 0) {
                __atomic_fetch_add(&s->stats.unauthorized, 1, __ATOMIC_RELAXED);
                refusal(s, c, url, berr_msg(&e, r));
                return answer_empty(s, c, MHD_HTTP_UNAUTHORIZED, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Berth-Peer v=1");
        }

        if (!strncmp(url, HEAD_PREFIX, strlen(HEAD_PREFIX)))
                return answer_head(s, c, url + strlen(HEAD_PREFIX), head);
        const char *digest = !strncmp(url, BLOB_PREFIX, strlen(BLOB_PREFIX)) ? url + strlen(BLOB_PREFIX) : NULL;
        int fd = -1;
        struct stat st;
        uint64_t size = 0;
        enum peer_blob_state ann = PEER_BLOB_NONE;
        if (digest && digest_valid(digest) && content_open(s->cs, digest, &fd) == 0) {
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                        close(fd);
                        fd = -1;
                } else
                        size = (uint64_t)st.st_size;
        }
        if (fd < 0 && digest && digest_valid(digest))
                ann = ann_get(s, digest, &size);
        if (fd < 0 && (ann == PEER_BLOB_NONE || size == 0)) {
                __atomic_fetch_add(&s->stats.not_found, 1, __ATOMIC_RELAXED);
                return answer_empty(s, c, MHD_HTTP_NOT_FOUND, NULL, NULL);
        }
        const char *state = fd >= 0 ? "complete" : ann == PEER_BLOB_FETCHING ? "fetching" : "wanted";
        uint64_t start = 0, end = size ? size - 1 : 0;
        unsigned status = MHD_HTTP_OK;
        if (range) {
                if (peer_parse_range(range, size, &start, &end) < 0) {
                        if (fd >= 0)
                                close(fd);
                        char cr[48];
                        snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
                        refusal(s, c, url, "the Range is not one range of the blob");
                        return answer_empty(s, c, MHD_HTTP_RANGE_NOT_SATISFIABLE, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
                }
                status = MHD_HTTP_PARTIAL_CONTENT;
        }
        uint64_t len = size ? end - start + 1 : 0;
        struct body *b = malloc(sizeof *b);
        struct MHD_Response *resp = NULL;
        if (b) {
                *b = (struct body){.s = s, .fd = fd, .start = start, .follow = fd < 0, .from_store = fd >= 0};
                snprintf(b->digest, sizeof b->digest, "%s", digest);
                resp = MHD_create_response_from_callback(len, READ_BLOCK, body_read, b, body_free);
        }
        if (!resp) {
                free(b);
                if (fd >= 0)
                        close(fd);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Berth-Blob", state);
        if (s->id[0])
                MHD_add_response_header(resp, "Berth-Peer", s->id);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
        MHD_add_response_header(resp, "Docker-Content-Digest", digest);
        if (status == MHD_HTTP_PARTIAL_CONTENT) {
                char cr[80];
                snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end, size);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        }
        enum MHD_Result mr = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        __atomic_fetch_add(&s->stats.requests, 1, __ATOMIC_RELAXED);
        if (!head)
                __atomic_fetch_add(&s->stats.blobs, 1, __ATOMIC_RELAXED);
        return mr;
}

int peer_parse_range(const char *v, uint64_t size, uint64_t *start, uint64_t *end)
{
        if (strncmp(v, "bytes=", 6) || size == 0)
                return -ERANGE;
        const char *p = v + 6;
        char *q;
        if (*p == '-') {
                /* the last n bytes */
                if (p[1] < '0' || p[1] > '9')
                        return -ERANGE;
                errno = 0;
                unsigned long long n = strtoull(p + 1, &q, 10);
                if (errno || *q || n == 0)
                        return -ERANGE;
                *start = n >= size ? 0 : size - n;
                *end = size - 1;
                return 0;
        }
        if (*p < '0' || *p > '9')
                return -ERANGE;
        errno = 0;
        unsigned long long a = strtoull(p, &q, 10);
        if (errno || *q != '-' || a >= size)
                return -ERANGE;
        p = q + 1;
        unsigned long long b = size - 1;
        if (*p) {
                if (*p < '0' || *p > '9')
                        return -ERANGE;
                b = strtoull(p, &q, 10);
                if (errno || *q || b < a)
                        return -ERANGE;
                if (b >= size)
                        b = size - 1;
        }
        *start = a;
        *end = b;
        return 0;
}

int peer_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, berr *e)
{
        if (addr_parse(s, true, ss, len) < 0)
                return berr_set(e, -EINVAL, "config peers.listen = '%s': expected ADDRESS:PORT, [ADDRESS6]:PORT or :PORT",
                                s ? s : "");
        return 0;
}

int peer_serve_start(const struct peer_serve_opts *o, struct peer_server **ret, berr *e)
{
        struct sockaddr_storage ss;
        socklen_t slen = 0;
        int r = peer_parse_listen(o->listen, &ss, &slen, e);
        if (r < 0)
                return r;
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_set(e, -errno, "peer server: socket: %s", strerror(errno));
        int one = 1, zero = 0;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ss.ss_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 16) < 0) {
                r = berr_set(e, -errno, "peer server: cannot listen on %s: %s", o->listen, strerror(errno));
                close(fd);
                return r;
        }
        struct sockaddr_storage bound;
        socklen_t blen = sizeof bound;
        uint16_t port = 0;
        if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
                port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                         : ((struct sockaddr_in *)&bound)->sin_port);

        struct peer_server *s = calloc(1, sizeof *s);
        if (!s || peer_replay_new(REPLAY_CAPACITY, &s->replay) < 0) {
                free(s);
                close(fd);
                return -ENOMEM;
        }
        s->port = port;
        snprintf(s->id, sizeof s->id, "%s", o->id ? o->id : "");
        pthread_mutex_init(&s->ann_lock, NULL);
        s->key = o->key;
        s->cs = o->cs;
        s->on_refusal = o->on_refusal;
        s->userdata = o->userdata;
        s->head_fn = o->head_fn;
        pthread_mutex_init(&s->auth_lock, NULL);
        pthread_mutex_init(&s->pace.lock, NULL);
        s->pace.rate = o->rate;
        s->pace.last_ns = now_ns();
        unsigned max = o->max_connections ? o->max_connections : 4;
        /* One address never takes every slot. (A client that reconnects at once may find
         * its closed connection still counted for a moment: a tighter cap refused those.) */
        unsigned per_ip = max > 2 ? max - 1 : max;
        unsigned idle = o->idle_timeout_s ? o->idle_timeout_s : 30;
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
        if (ss.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                  MHD_OPTION_CONNECTION_LIMIT, max, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
                                  MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_END);
        if (!s->mhd) {
                close(fd);
                peer_serve_stop(s);
                return berr_set(e, -EIO, "peer server: libmicrohttpd did not start on %s", o->listen);
        }
        *ret = s;
        return 0;
}

uint16_t peer_serve_port(const struct peer_server *s)
{
        return s->port;
}

void peer_serve_stats(struct peer_server *s, struct peer_serve_stats *out)
{
        out->requests = __atomic_load_n(&s->stats.requests, __ATOMIC_RELAXED);
        out->blobs = __atomic_load_n(&s->stats.blobs, __ATOMIC_RELAXED);
        out->bytes = __atomic_load_n(&s->stats.bytes, __ATOMIC_RELAXED);
        out->unauthorized = __atomic_load_n(&s->stats.unauthorized, __ATOMIC_RELAXED);
        out->not_found = __atomic_load_n(&s->stats.not_found, __ATOMIC_RELAXED);
}

void peer_serve_stop(struct peer_server *s)
{
        if (!s)
                return;
        __atomic_store_n(&s->stopping, 1, __ATOMIC_RELAXED);
        if (s->mhd)
                MHD_stop_daemon(s->mhd); /* closes the listen socket it was given, joins every thread */
        peer_replay_free(s->replay);
        free(s->ann);
        pthread_mutex_destroy(&s->ann_lock);
        pthread_mutex_destroy(&s->auth_lock);
        pthread_mutex_destroy(&s->pace.lock);
        sodium_memzero(&s->key, sizeof s->key);
        free(s);
}
