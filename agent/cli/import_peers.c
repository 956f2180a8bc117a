/* SPDX-License-Identifier: Apache-2.0 */
/* import_peers.c — see import_peers.h. Synchronous: one request at a time with libcurl's
 * easy interface, as befits a command an operator runs once per gateway. */
#include "cli/import_peers.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/log.h"
#include "fetch/plan.h"
#include "import/held.h"
#include "net/addr.h"
#include "peers/auth.h"
#include "peers/discover.h"
#include "store/content.h"
#include "store/db.h"

#define MAX_PEERS 32
#define MAX_HEAD (16u << 20)
#define DISCOVER_WAIT_MS 1000

struct peer {
        char host[72];                  /* "10.0.0.5:7379" or "[fd00::5]:7379" */
        char id[PEER_DISCOVER_ID_MAX + 1];
        bool bad;                       /* served something that did not verify */
        uint64_t bytes;
};

struct ctx {
        struct peer_key key;
        struct peer p[MAX_PEERS];
        size_t n;
        CURL *curl;
};

static void add_peer(struct ctx *c, const char *host, const char *id)
{
        for (size_t i = 0; i < c->n; i++)
                if (!strcmp(c->p[i].host, host))
                        return;
        if (c->n == MAX_PEERS)
                return;
        struct peer *p = &c->p[c->n++];
        snprintf(p->host, sizeof p->host, "%s", host);
        snprintf(p->id, sizeof p->id, "%s", id ? id : "");
}

/* [peers] peers = host:port, … */
static int static_peers(struct ctx *c, const char *list, berr *e)
{
        for (const char *v = list; v && *v;) {
                v += strspn(v, ", \t");
                size_t len = strcspn(v, ", \t");
                if (!len)
                        break;
                char one[72];
                struct sockaddr_storage ss;
                socklen_t sl;
                if (len >= sizeof one)
                        return berr_set(e, -EINVAL, "config peers.peers: '%.*s' is not HOST:PORT", (int)len, v);
                memcpy(one, v, len);
                one[len] = 0;
                if (addr_parse(one, false, &ss, &sl) < 0)
                        return berr_set(e, -EINVAL, "config peers.peers: '%s' is not ADDRESS:PORT", one);
                add_peer(c, one, NULL);
                v += len;
        }
        return 0;
}

/* Asks the multicast group who serves blobs and collects the signed answers to this
 * question for DISCOVER_WAIT_MS. Finding none is not an error: the list may do. */
static int discover(struct ctx *c, const struct berth_config *cfg, berr *e)
{
        bool on = true;
        int r = config_get_bool(cfg, "peers.discovery", true, &on, e);
        if (r < 0 || !on)
                return r < 0 ? r : 0;
        const char *group = config_get(cfg, "peers.group", PEER_DISCOVER_GROUP);
        const char *ifname = config_get(cfg, "peers.interface", NULL);
        struct sockaddr_storage ss;
        socklen_t sl;
        if (addr_parse(group, false, &ss, &sl) < 0 || ss.ss_family != AF_INET)
                return berr_set(e, -EINVAL, "config peers.group = '%s': an IPv4 multicast ADDRESS:PORT", group);
        unsigned ifindex = 0;
        if (ifname && !(ifindex = if_nametoindex(ifname)))
                return berr_set(e, -ENODEV, "config peers.interface = '%s': no such network interface", ifname);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int ttl = 1;
        struct ip_mreqn mif = {.imr_ifindex = (int)ifindex};
        if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0 ||
            (ifindex && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) < 0)) {
                log_warning("cannot ask %s for site peers (%m); set [peers] interface, or list them in peers", group);
                return 0;
        }
        struct peer_discover_msg who = {.kind = PEER_WHO, .time = (uint64_t)time(NULL)};
        snprintf(who.id, sizeof who.id, "berth-import");
        randombytes_buf(who.nonce, sizeof who.nonce);
        uint8_t buf[PEER_DISCOVER_MAX];
        int len = peer_discover_encode(&c->key, &who, buf);
        if (len < 0 || sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&ss, sl) < 0) {
                /* A LAN without a multicast route: the list may still do. */
                log_warning("cannot ask %s for site peers (%m); set [peers] interface, or list them in peers", group);
                return 0;
        }
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                long left = DISCOVER_WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        break;
                struct sockaddr_in from;
                socklen_t fl = sizeof from;
                ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
                struct peer_discover_msg m;
                if (n <= 0 || from.sin_family != AF_INET ||
                    peer_discover_decode(&c->key, buf, (size_t)n, (uint64_t)time(NULL), &m) < 0 ||
                    m.kind != PEER_HELLO || !m.port || sodium_memcmp(m.nonce, who.nonce, sizeof m.nonce))
                        continue;
                char a[INET_ADDRSTRLEN], host[72];
                inet_ntop(AF_INET, &from.sin_addr, a, sizeof a);
                snprintf(host, sizeof host, "%s:%u", a, (unsigned)m.port);
                add_peer(c, host, m.id);
        }
        return 0;
}

/* A signed GET of path from peer p (range NULL: whole), the body to fn. The HTTP status,
 * or -errno when the peer did not answer. */
struct sink {
        size_t (*fn)(void *ud, const char *buf, size_t n);
        void *ud;
};

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
        struct sink *s = ud;
        return s->fn(s->ud, buf, size * n);
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
        struct peer *p = ud;
        size_t len = size * n;
        if (len > 11 && !strncasecmp(buf, "Berth-Peer:", 11) && !p->id[0]) {
                const char *v = buf + 11;
                while (*v == ' ')
                        v++;
                size_t l = strcspn(v, "\r\n");
                if (l >= sizeof p->id)
                        l = sizeof p->id - 1;
                memcpy(p->id, v, l);
                p->id[l] = 0;
        }
        return len;
}

static long get(struct ctx *c, struct peer *p, const char *path, struct sink *s)
{
        uint8_t nonce[PEER_NONCE_LEN];
        char auth[PEER_AUTH_MAX], hdr[PEER_AUTH_MAX + 32], url[256];
        randombytes_buf(nonce, sizeof nonce);
        if (peer_auth_sign(&c->key, "GET", path, NULL, (uint64_t)time(NULL), nonce, auth) < 0)
                return -EINVAL;
        snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
        snprintf(url, sizeof url, "http://%s%s", p->host, path);
        struct curl_slist *h = curl_slist_append(NULL, hdr);
        if (!h)
                return -ENOMEM;
        CURL *k = c->curl;
        curl_easy_reset(k);
        curl_easy_setopt(k, CURLOPT_URL, url);
        curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(k, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(k, CURLOPT_HEADERDATA, p);
        curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 5L);
        /* A LAN peer slower than 1 KiB/s for 30 s is no peer: the next one is asked. */
        curl_easy_setopt(k, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(k, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
        CURLcode cr = curl_easy_perform(k);
        curl_slist_free_all(h);
        long status = 0;
        curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
        if (cr != CURLE_OK && cr != CURLE_WRITE_ERROR)
                return -ECONNREFUSED;
        return cr == CURLE_WRITE_ERROR ? -EMSGSIZE : status;
}

static const char *peer_name(const struct peer *p, char *buf, size_t n)
{
        if (p->id[0])
                snprintf(buf, n, "%s (%s)", p->id, p->host);
        else
                snprintf(buf, n, "%s", p->host);
        return buf;
}

struct membuf {
        uint8_t *b;
        size_t n, max;
};

static size_t mem_write(void *ud, const char *buf, size_t n)
{
        struct membuf *m = ud;
        if (m->n + n > m->max)
                return 0;
        uint8_t *b = realloc(m->b, m->n + n);
        if (!b)
                return 0;
        memcpy(b + m->n, buf, n);
        m->b = b;
        m->n += n;
        return n;
}

/* The first peer's head of name/version that verifies here. */
static int fetch_head(struct ctx *c, const struct import_opts *o, const char *name, int64_t version, void **ret,
                      size_t *ret_len, struct import_head **ret_h, berr *e)
{
        char path[200], who[200];
        snprintf(path, sizeof path, "/v2/heads/%s/%" PRId64, name, version);
        berr last = {0};
        int last_r = -ENOENT;
        for (size_t i = 0; i < c->n; i++) {
                struct peer *p = &c->p[i];
                struct membuf m = {.max = MAX_HEAD};
                struct sink s = {.fn = mem_write, .ud = &m};
                long st = get(c, p, path, &s);
                uint64_t need = 0;
                if (st != 200) {
                        free(m.b);
                        if (st == 401)
                                log_warning("site peer %s refuses this request: another site key, or clocks more "
                                            "than 30 s apart", peer_name(p, who, sizeof who));
                        else if (st < 0)
                                log_warning("site peer %s cannot be reached", peer_name(p, who, sizeof who));
                        else if (st != 404)
                                log_warning("site peer %s answers HTTP %ld", peer_name(p, who, sizeof who), st);
                        continue;
                }
                int r = fetch_head_need(m.b, m.n, &need);
                if (r != 0 || need > m.n) {
                        log_warning("site peer %s served something that is not a bundle head for %s %" PRId64
                                    "; not asking it again", peer_name(p, who, sizeof who), name, version);
                        p->bad = true;
                        free(m.b);
                        continue;
                }
                berr he = {0};
                r = import_head_verify(o, m.b, need, ret_h, &he);
                if (r < 0) {
                        /* Not newer than installed, expired, signed by keys this gateway does
                         * not trust: another peer's copy will say the same, unless this one lied. */
                        log_warning("site peer %s: %s", peer_name(p, who, sizeof who), berr_msg(&he, r));
                        last = he;
                        last_r = r;
                        free(m.b);
                        continue;
                }
                const struct bundle_manifest *bm = import_head_manifest(*ret_h);
                if (strcmp(bm->name, name) || bm->version != version) {
                        log_warning("site peer %s answered %s %" PRId64 " with %s %" PRId64 "; not asking it again",
                                    peer_name(p, who, sizeof who), name, version, bm->name, bm->version);
                        import_head_free(*ret_h);
                        *ret_h = NULL;
                        p->bad = true;
                        free(m.b);
                        continue;
                }
                *ret = m.b;
                *ret_len = (size_t)need;
                return 0;
        }
        if (last_r != -ENOENT)
                return berr_set(e, last_r, "%s", berr_msg(&last, last_r));
        return berr_set(e, -ENOENT, "none of the %zu site peer(s) found has %s %" PRId64 " (import it from the USB stick "
                        "on one gateway of the site first, with [peers] listen set there)", c->n, name, version);
}

struct blobfile {
        int fd;
        sha256_ctx *h;
        uint64_t got, size;
        int local_error;        /* writing here failed (-errno): not the peer's fault */
};

static size_t file_write(void *ud, const char *buf, size_t n)
{
        struct blobfile *f = ud;
        if (f->got + n > f->size)
                return 0; /* more than the signed size: the peer lies */
        int r = write_all(f->fd, buf, n);
        if (r >= 0)
                r = sha256_update(f->h, buf, n);
        if (r < 0) {
                f->local_error = r;
                return 0;
        }
        f->got += n;
        return n;
}

/* One blob, from the first peer that serves it whole and right. */
static int fetch_blob(struct ctx *c, struct content_store *cs, const struct bundle_blob *b,
                      struct peers_import_stats *st, berr *e)
{
        char path[128], tmp[4096], who[200];
        snprintf(path, sizeof path, "/v2/blobs/%s", b->digest);
        snprintf(tmp, sizeof tmp, "%s/%s" CONTENT_FROM_PEERS_SUFFIX, content_partial_dir(cs), digest_hex(b->digest));
        for (size_t i = 0; i < c->n; i++) {
                struct peer *p = &c->p[i];
                if (p->bad)
                        continue;
                struct blobfile f = {.size = b->size};
                f.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (f.fd < 0)
                        return berr_set(e, -errno, "cannot write %s: %m", tmp);
                if (sha256_new(&f.h) < 0) {
                        close(f.fd);
                        return berr_set(e, -ENOMEM, "out of memory");
                }
                struct sink s = {.fn = file_write, .ud = &f};
                long status = get(c, p, path, &s);
                char got[DIGEST_STR_LEN + 1] = "";
                int r = sha256_final_str(f.h, got);
                sha256_free(f.h);
                close(f.fd);
                if (status == 200 && r >= 0 && f.got == b->size && !strcmp(got, b->digest)) {
                        r = content_publish_file(cs, b->digest, tmp, e);
                        if (r < 0) {
                                unlink(tmp);
                                return r;
                        }
                        p->bytes += f.got;
                        st->blobs++;
                        st->bytes += f.got;
                        return 0;
                }
                unlink(tmp);
                if (f.local_error)
                        return berr_set(e, f.local_error, "cannot write blob %s to %s: %s (free space on the state "
                                        "disk and run this again)", b->digest, content_partial_dir(cs),
                                        strerror(-f.local_error));
                if (status == 200 || status == -EMSGSIZE) {
                        log_warning("site peer %s served blob %s with the wrong %s; not stored, not asking it again",
                                    peer_name(p, who, sizeof who), b->digest, f.got == b->size ? "digest" : "size");
                        p->bad = true;
                } else if (status == 401)
                        log_warning("site peer %s refuses this request: another site key, or clocks more than "
                                    "30 s apart", peer_name(p, who, sizeof who));
        }
        return berr_set(e, -ENOENT, "no site peer served blob %s (%" PRIu64 " bytes) whole and verified; nothing was "
                        "installed. A serving gateway drops its layers peers.keep_for after an install: import "
                        "the bundle from the USB stick again on one gateway, or run this when a peer that holds it "
                        "is up (the blobs fetched so far are kept)", b->digest, b->size);
}

int peers_import_fetch(const struct berth_config *cfg, const struct import_opts *o, const char *name,
                       int64_t version, void **ret_head, size_t *ret_len, struct peers_import_stats *st, berr *e)
{
        _cleanup_free_ struct ctx *c = calloc(1, sizeof *c);
        if (!c)
                return berr_set(e, -ENOMEM, "out of memory");
        memset(st, 0, sizeof *st);
        const char *key_file = config_get(cfg, "peers.key_file", NULL);
        if (!key_file)
                return berr_set(e, -EINVAL, "fetching from site peers needs the site key: set [peers] key_file in the "
                                "configuration (agent/peers/README.md)");
        int r = peer_key_load(key_file, &c->key, e);
        if (r < 0)
                return r;
        if ((r = static_peers(c, config_get(cfg, "peers.peers", NULL), e)) < 0)
                return r;
        if ((r = discover(c, cfg, e)) < 0)
                return r;
        st->peers = (unsigned)c->n;
        if (!c->n)
                return berr_set(e, -ENOENT, "no site peer found: none answered on the LAN (are the clocks within 30 s "
                                "of each other, is [peers] interface the plant network?) and [peers] peers lists none");
        if (!(c->curl = curl_easy_init()))
                return berr_set(e, -ENOMEM, "out of memory");

        _cleanup_(import_head_freep) struct import_head *h = NULL;
        _cleanup_free_ void *head = NULL;
        size_t head_len = 0;
        _cleanup_(content_store_freep) struct content_store *cs = NULL;
        _cleanup_(db_closep) struct berth_db *db = NULL;
        r = fetch_head(c, o, name, version, &head, &head_len, &h, e);
        if (r >= 0)
                r = content_store_open(o->state_dir, &cs, e);
        if (r >= 0)
                r = db_open(o->state_dir, &db, e);
        const struct bundle_manifest *m = h ? import_head_manifest(h) : NULL;
        /* The image documents first: they say which blobs this gateway needs. */
        for (size_t i = 0; r >= 0 && i < m->n_blobs; i++)
                if (media_type_is_document(m->blobs[i].media_type) && !content_has(cs, m->blobs[i].digest, m->blobs[i].size))
                        r = fetch_blob(c, cs, &m->blobs[i], st, e);
        _cleanup_free_ bool *need = NULL, *held = NULL;
        if (r >= 0 && (!(need = calloc(m->n_blobs + 1, sizeof *need)) || !(held = calloc(m->n_blobs + 1, sizeof *held))))
                r = berr_set(e, -ENOMEM, "out of memory");
        bool picks = r >= 0 && import_picks_platform(o->backends, o->n_backends, m);
        if (r >= 0 && picks)
                r = import_platform_need(cs, m, need, NULL, e);
        if (r >= 0)
                r = import_held_layers(db, cs, import_held_scope(o->backends, o->n_backends), m, picks ? need : NULL,
                                       held, e);
        for (size_t i = 0; r >= 0 && i < m->n_blobs; i++) {
                const struct bundle_blob *b = &m->blobs[i];
                if ((picks && !need[i]) || media_type_is_document(b->media_type))
                        continue;
                if (content_has(cs, b->digest, b->size) || held[i]) {
                        st->present++;
                        continue;
                }
                r = fetch_blob(c, cs, b, st, e);
        }
        for (size_t i = 0; i < c->n; i++) {
                char who[200];
                size_t l = strlen(st->from);
                if (c->p[i].bytes && l < sizeof st->from - 1)
                        snprintf(st->from + l, sizeof st->from - l, "%s%s", l ? ", " : "",
                                 peer_name(&c->p[i], who, sizeof who));
        }
        curl_easy_cleanup(c->curl);
        if (r < 0)
                return r;
        *ret_head = TAKE_PTR(head);
        *ret_len = head_len;
        return 0;
}
