/* SPDX-License-Identifier: Apache-2.0 */
/* peers.c — the agent's site peers (see peers.h): [peers] settings, the blob server,
 * locating missing blobs on the peers of the static list, and how a failing peer is
 * avoided.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "base/log.h"
#include "daemon/agent_int.h"
#include "net/addr.h"
#include "peers/serve.h"

#define LOCATE_TIMEOUT_MS 3000
#define AVOID_SHORT_S 60                /* unreachable, slow, cut */
#define AVOID_LONG_S 600                /* bytes that do not verify, the site key refused */
#define REFUSAL_LOG_S 10

/* A refused peer request, from a server thread: logged (log.c writes whole lines), at
 * most one line per REFUSAL_LOG_S, so a flood of bad requests cannot flood the journal. */
static void on_refusal(void *userdata, const char *sentence)
{
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static uint64_t last_ns, suppressed;
        (void)userdata;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, skipped = 0;
        bool say = false;
        pthread_mutex_lock(&lock);
        if (!last_ns || now - last_ns >= REFUSAL_LOG_S * 1000000000ULL) {
                say = true;
                skipped = suppressed;
                suppressed = 0;
                last_ns = now;
        } else
                suppressed++;
        pthread_mutex_unlock(&lock);
        if (say && skipped)
                log_warning("agent: %s (and %llu more refused peer request(s) not logged)", sentence,
                            (unsigned long long)skipped);
        else if (say)
                log_warning("agent: %s", sentence);
}

/* This gateway as its peers know it (Berth-Peer). */
const char *peers_my_id(const struct agent *a)
{
        return a->set.controller_id ? a->set.controller_id : a->set.hostname;
}

/* "host:port, host:port" into the list; each must parse as an address. */
static int parse_list(struct peers_state *p, const char *v, berr *e)
{
        while (v && *v) {
                while (*v == ' ' || *v == ',')
                        v++;
                size_t len = strcspn(v, ", ");
                if (!len)
                        break;
                struct sockaddr_storage ss;
                socklen_t sl;
                char one[64];
                if (len >= sizeof one || (memcpy(one, v, len), one[len] = 0, addr_parse(one, false, &ss, &sl) < 0) ||
                    ((struct sockaddr_in *)&ss)->sin_port == 0)
                        return berr_set(e, -EINVAL, "config peers.peers: '%.*s' is not ADDRESS:PORT (or [ADDRESS6]:PORT)",
                                        (int)len, v);
                if (p->n == PEERS_MAX)
                        return berr_set(e, -E2BIG, "config peers.peers lists more than %d peers", PEERS_MAX);
                snprintf(p->list[p->n++].host, sizeof p->list[0].host, "%s", one);
                v += len;
        }
        return 0;
}

/* peer_serve_opts.head_fn, on a server thread: the settings it reads never change. */
static int serve_head(void *userdata, const char *name, int64_t version, void **ret, size_t *ret_len)
{
        const struct agent *a = userdata;
        berr e = {0};
        int r = import_installed_head(a->set.state_dir, a->set.trust_dir, name, version, ret, ret_len, &e);
        if (r < 0 && r != -ENOENT)
                log_warning("agent: a site peer asked for %s %" PRId64 ": %s", name, version, berr_msg(&e, r));
        return r;
}

int peers_start(struct agent *a, berr *e)
{
        struct peers_state *p = &a->peers;
        p->disc_fd = -1;
        const char *key_file = config_get(a->cfg, "peers.key_file", NULL);
        const char *listen = config_get(a->cfg, "peers.listen", NULL);
        const char *list = config_get(a->cfg, "peers.peers", NULL);
        if (!key_file) {
                if (listen || list)
                        return berr_set(e, -EINVAL, "config [peers] needs key_file (the site key) to serve or fetch "
                                        "blobs; see agent/peers/README.md");
                return 0;
        }
        int r = peer_key_load(key_file, &p->key, e);
        if (r < 0)
                return r;
        if ((r = parse_list(p, list, e)) < 0)
                return r;
        if (listen) {
                uint64_t rate = 0, maxc = 4;
                const char *rs = config_get(a->cfg, "peers.rate", "0");
                if (parse_size(rs, &rate) < 0)
                        return berr_set(e, -EINVAL, "config peers.rate = '%s': bytes per second (e.g. 20M), 0 = no cap",
                                        rs);
                if ((r = config_get_u64(a->cfg, "peers.max_connections", 4, &maxc, e)) < 0)
                        return r;
                if (maxc < 1 || maxc > 256)
                        return berr_set(e, -ERANGE, "config peers.max_connections must be between 1 and 256");
                struct peer_serve_opts o = {.id = peers_my_id(a), .listen = listen, .key = p->key, .cs = a->cs, .rate = rate,
                                            .max_connections = (unsigned)maxc, .on_refusal = on_refusal,
                                            .head_fn = serve_head, .userdata = a};
                if ((r = peer_serve_start(&o, &p->server, e)) < 0)
                        return r;
                log_info("agent: serving verified blobs to site peers on %s (port %u)", listen,
                         (unsigned)peer_serve_port(p->server));
        }
        p->enabled = true;
        if (p->n)
                log_info("agent: %zu site peer(s) asked first for missing blobs", p->n);
        berr de = {0};
        r = peers_discover_start(a, &de);
        if (r < 0)
                log_error("agent: finding site peers on the LAN is off: %s", berr_msg(&de, r));
        return 0;
}

/* Stops the probes still running (their on_done is not called: their data is freed here). */
static void cancel_probes(struct peers_state *p)
{
        for (size_t i = 0; i < p->n_probes; i++) {
                if (p->probes[i]) {
                        http_req_cancel(p->probes[i]);
                        free(p->probe_ud[i]);
                }
        }
        free(p->probes);
        free(p->probe_ud);
        p->probes = NULL;
        p->probe_ud = NULL;
}

void peers_forget(struct agent *a)
{
        struct peers_state *p = &a->peers;
        peer_serve_withdraw_all(p->server);
        p->settle = sd_event_source_disable_unref(p->settle);
        cancel_probes(p);
        p->n_probes = p->probes_left = 0;
        memset(p->next_blob, 0, sizeof p->next_blob);
        memset(p->probing, 0, sizeof p->probing);
        free(p->hold);
        p->hold = NULL;
        p->n_hold = 0;
        p->located_for[0] = 0;
        p->located = NULL;
}

void peers_stop(struct agent *a)
{
        peers_forget(a);
        peers_discover_stop(a);
        peer_serve_stop(a->peers.server);
        a->peers.server = NULL;
        sodium_memzero(&a->peers.key, sizeof a->peers.key);
}

static bool usable(struct agent *a, size_t i)
{
        return a->peers.list[i].avoid_until_usec <= agent_mono_usec(a);
}

void peers_blob_url(struct agent *a, size_t i, const char *digest, char *url, size_t n)
{
        snprintf(url, n, "http://%s/v2/blobs/%s", a->peers.list[i].host, digest);
}

/* Signs for the path of the URL in ud. */
int peers_authorize(void *ud, const char *range, char *out, size_t n)
{
        struct agent *a = ud ? ((void **)ud)[0] : NULL;
        const char *url = ud ? ((void **)ud)[1] : NULL;
        const char *path = url ? strchr(url + strlen("http://"), '/') : NULL;
        if (!a || !path || n < PEER_AUTH_MAX)
                return -EINVAL;
        uint8_t nonce[PEER_NONCE_LEN];
        randombytes_buf(nonce, sizeof nonce);
        return peer_auth_sign(&a->peers.key, range ? "GET" : "HEAD", path, range, (uint64_t)time(NULL), nonce, out);
}

/* ---- locate ----------------------------------------------------------------------- */

struct probe {
        struct agent *a;
        size_t peer, hold;
        size_t slot;                    /* in p->probes */
        char state[16];                 /* Berth-Blob */
        char id[128];                   /* Berth-Peer */
};

/* "Name: value\r\n" → value into out when the name matches (case-insensitive). */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t n)
{
        size_t nl = strlen(name);
        if (len <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':')
                return;
        const char *v = line + nl + 1;
        size_t vl = len - nl - 1;
        while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
        if (vl < n) {
                memcpy(out, v, vl);
                out[vl] = 0;
        }
}

static int probe_header(void *ud, const char *line, size_t len)
{
        struct probe *pr = ud;
        header_value(line, len, "Berth-Blob", pr->state, sizeof pr->state);
        header_value(line, len, "Berth-Peer", pr->id, sizeof pr->id);
        return 0;
}

static void locate_finish(struct agent *a)
{
        struct peers_state *p = &a->peers;
        cancel_probes(p);
        p->n_probes = p->probes_left = 0;
        size_t held = 0, fetching = 0, wanted = 0;
        for (size_t i = 0; i < p->n_hold; i++) {
                held += p->hold[i].complete != 0;
                fetching += !p->hold[i].complete && p->hold[i].fetching;
                wanted += !p->hold[i].complete && !p->hold[i].fetching && p->hold[i].wanted;
        }
        log_info("agent: of %zu missing blob(s), site peers hold %zu, are fetching %zu, want %zu more", p->n_hold,
                 held, fetching, wanted);
        void (*done)(struct agent *) = p->located;
        p->located = NULL;
        if (done)
                done(a);
}

static int start_probe(struct agent *a, size_t peer, size_t hold);

/* Starts, for each usable peer with blobs left to ask about, its next probe: one at a
 * time per peer, one kept-alive connection each (a peer serves few connections, at most
 * all but one of them to one address). Finishes the locate when none is left. */
static void probe_more(struct agent *a)
{
        struct peers_state *p = &a->peers;
        for (size_t j = 0; j < p->n; j++)
                while (!p->probing[j] && usable(a, j) && p->next_blob[j] < p->n_hold) {
                        size_t i = p->next_blob[j]++;
                        if (start_probe(a, j, i) < 0)
                                log_warning("agent: site peer %s: cannot ask it for blob %s", p->list[j].host,
                                            p->hold[i].digest);
                        else
                                p->probing[j] = true;
                }
        if (!p->probes_left)
                locate_finish(a);
}

static void probe_done(void *ud, int r, const struct http_response *resp, const berr *e)
{
        struct probe *pr = ud;
        struct agent *a = pr->a;
        struct peers_state *p = &a->peers;
        p->probes[pr->slot] = NULL;
        p->probe_ud[pr->slot] = NULL;
        uint32_t bit = 1u << pr->peer;
        if (r >= 0 && resp->status == 200) {
                struct peer_holding *h = &p->hold[pr->hold];
                if (!strcmp(pr->state, "fetching"))
                        h->fetching |= bit;
                else if (!strcmp(pr->state, "wanted"))
                        h->wanted |= bit;
                else
                        h->complete |= bit;
                if (pr->id[0])
                        snprintf(p->list[pr->peer].id, sizeof p->list[0].id, "%s", pr->id);
        }
        else if (r < 0 && usable(a, pr->peer)) {
                /* unreachable: not asked again for this update, nor for a minute */
                p->list[pr->peer].avoid_until_usec = agent_mono_usec(a) + AVOID_SHORT_S * 1000000ULL;
                log_warning("agent: site peer %s: %s; avoiding it for %d s", p->list[pr->peer].host, berr_msg(e, r),
                            AVOID_SHORT_S);
        } else if (r >= 0 && resp->status == 401 && usable(a, pr->peer)) {
                p->list[pr->peer].avoid_until_usec = agent_mono_usec(a) + AVOID_LONG_S * 1000000ULL;
                log_warning("agent: site peer %s refuses this gateway's site key (HTTP 401); avoiding it for %d s: "
                            "check that both use the same [peers] key_file and that their clocks agree",
                            p->list[pr->peer].host, AVOID_LONG_S);
        }
        p->probing[pr->peer] = false;
        free(pr);
        p->probes_left--;
        probe_more(a);
}

static int start_probe(struct agent *a, size_t peer, size_t hold)
{
        struct peers_state *p = &a->peers;
        char url[256], auth[PEER_AUTH_MAX];
        peers_blob_url(a, peer, p->hold[hold].digest, url, sizeof url);
        void *ud[2] = {a, url};
        int r = peers_authorize(ud, NULL, auth, sizeof auth);
        struct probe *pr = calloc(1, sizeof *pr);
        if (r < 0 || !pr) {
                free(pr);
                return r < 0 ? r : -ENOMEM;
        }
        *pr = (struct probe){.a = a, .peer = peer, .hold = hold, .slot = p->n_probes};
        struct http_req_opts o = {
                .method = "HEAD",
                .url = url,
                .name = p->list[peer].host,
                .peer = "the site peer",
                .authorization = auth,
                .plain_credentials = true, /* a one-time signature, not a credential */
                .connect_timeout_ms = 1000,
                .timeout_ms = LOCATE_TIMEOUT_MS,
                .on_header = probe_header,
                .on_done = probe_done,
                .userdata = pr,
        };
        berr e = {0};
        p->probe_ud[p->n_probes] = pr;
        r = http_start(a->http, &o, &p->probes[p->n_probes], &e);
        if (r < 0) {
                free(pr);
                return r;
        }
        p->n_probes++;
        p->probes_left++;
        return 0;
}

static int on_settled(sd_event_source *s, uint64_t usec, void *ud)
{
        struct agent *a = ud;
        (void)s;
        (void)usec;
        /* HEAD requests are tiny; on the LAN they answer in a millisecond. One per peer
         * runs at a time on the loop's curl multi. */
        probe_more(a); /* when none could start, it finishes (and calls done) at once */
        return 0;
}

int peers_locate(struct agent *a, const struct bundle_manifest *m, const struct fetch_range *plan, size_t n,
                 void (*done)(struct agent *a))
{
        struct peers_state *p = &a->peers;
        if (!p->enabled || (!p->n && p->disc_fd < 0) || !n || !strcmp(p->located_for, a->upd.act.id))
                return 0;
        peers_forget(a);
        size_t peers_usable = 0;
        for (size_t i = 0; i < p->n; i++)
                peers_usable += usable(a, i);
        p->hold = calloc(n, sizeof *p->hold);
        p->probes = calloc(n * PEERS_MAX, sizeof *p->probes); /* discovery may add peers meanwhile */
        p->probe_ud = calloc(n * PEERS_MAX, sizeof *p->probe_ud);
        if (!p->hold || !p->probes || !p->probe_ud) {
                peers_forget(a);
                return -ENOMEM;
        }
        p->n_hold = n;
        for (size_t i = 0; i < n; i++) {
                const struct bundle_blob *b = &m->blobs[plan[i].blob];
                snprintf(p->hold[i].digest, sizeof p->hold[i].digest, "%s", b->digest);
                /* Before asking: a peer that starts now sees that this one wants them too. */
                peers_announce(a, b->digest, b->size, PEER_BLOB_WANTED);
        }
        snprintf(p->located_for, sizeof p->located_for, "%s", a->upd.act.id);
        if (!peers_usable && p->disc_fd < 0)
                return 0;
        /* Ask after the settle time: a gateway that starts this update up to then is seen
         * wanting its blobs, so the two agree on which one fetches (the smaller id); one
         * that starts later finds that one fetching. The peers on the LAN answer the WHO
         * within it. */
        peers_discover_who(a);
        uint64_t settle = a->peers.server || p->disc_fd >= 0 ? PEERS_SETTLE_MS : 0;
        if (agent_timer(a, &p->settle, settle, on_settled, "peers-settle") < 0) {
                peers_forget(a);
                return -ENOMEM;
        }
        p->located = done;
        return 1;
}

static int cmp_id(const void *x, const void *y, void *ud)
{
        const struct peers_state *p = ud;
        return strcmp(p->list[*(const size_t *)x].id, p->list[*(const size_t *)y].id);
}

static const struct peer_holding *holding(struct peers_state *p, const char *digest)
{
        for (size_t i = 0; i < p->n_hold; i++)
                if (!strcmp(p->hold[i].digest, digest))
                        return &p->hold[i];
        return NULL;
}

int peers_holder(struct agent *a, const char *digest, size_t *kind, size_t *pos)
{
        struct peers_state *p = &a->peers;
        const struct peer_holding *h = holding(p, digest);
        if (!h)
                return -1;
        /* wanting peers in the order of their ids: the smallest is the one that fetches */
        size_t order[PEERS_MAX];
        for (size_t j = 0; j < p->n; j++)
                order[j] = j;
        qsort_r(order, p->n, sizeof *order, cmp_id, p);
        for (size_t k = *kind; k <= PEER_SRC_WANTED; k++)
                for (size_t i = k == *kind ? *pos : 0; i < p->n; i++) {
                        size_t j = k == PEER_SRC_WANTED ? order[i] : i;
                        uint32_t bit = 1u << j;
                        bool src = k == PEER_SRC_COMPLETE ? (h->complete & bit)
                                   : k == PEER_SRC_FETCHING ? (h->fetching & bit) && !(h->complete & bit)
                                                            : (h->wanted & bit) && p->list[j].id[0] &&
                                                                      strcmp(p->list[j].id, peers_my_id(a)) < 0;
                        if (src && usable(a, j)) {
                                *kind = k;
                                *pos = k == PEER_SRC_WANTED ? i : j;
                                return (int)j;
                        }
                }
        return -1;
}

bool peers_have_source(struct agent *a, const char *digest)
{
        size_t kind = 0, pos = 0;
        return peers_holder(a, digest, &kind, &pos) >= 0;
}

void peers_announce(struct agent *a, const char *digest, uint64_t size, enum peer_blob_state state)
{
        if (a->peers.server && peer_serve_announce(a->peers.server, digest, size, state) < 0)
                log_warning("agent: cannot announce blob %s to site peers: out of memory", digest);
}

uint64_t peers_held_bytes(struct agent *a, const struct bundle_manifest *m, const struct fetch_range *plan, size_t n)
{
        uint64_t b = 0;
        for (size_t i = 0; i < n; i++) {
                /* Only complete copies: a download in progress elsewhere may still fail. */
                const struct peer_holding *h = holding(&a->peers, m->blobs[plan[i].blob].digest);
                for (size_t j = 0; h && j < a->peers.n; j++)
                        if ((h->complete & (1u << j)) && usable(a, j)) {
                                b += plan[i].length;
                                break;
                        }
        }
        return b;
}

void peers_served(struct agent *a, size_t i, uint64_t bytes, bool blob)
{
        struct peers_state *p = &a->peers;
        p->list[i].bytes += bytes;
        p->list[i].blobs += blob;
        p->fetched_bytes += bytes;
        p->fetched_blobs += blob;
}

void peers_failed(struct agent *a, size_t i, const char *digest, int r, const char *why)
{
        struct peers_state *p = &a->peers;
        /* its bytes did not verify, or it refused the site key (a 401 comes as an HTTP error) */
        bool bad = r == -EBADMSG || r == -EILSEQ || r == -EACCES || (why && strstr(why, "HTTP 401"));
        unsigned s = bad ? AVOID_LONG_S : AVOID_SHORT_S;
        p->list[i].failures++;
        p->failures++;
        p->list[i].avoid_until_usec = agent_mono_usec(a) + s * 1000000ULL;
        if (r == -EBADMSG)
                log_warning("agent: site peer %s served blob %s with bytes that do not match its digest; they were "
                            "thrown away, the peer is avoided for %u s", p->list[i].host, digest, s);
        else if (r == -EILSEQ)
                log_warning("agent: site peer %s served layer %s with bytes that do not unpack (%s); what they made "
                            "was removed, the peer is avoided for %u s", p->list[i].host, digest, why, s);
        else
                log_warning("agent: site peer %s could not deliver blob %s (%s); avoiding it for %u s",
                            p->list[i].host, digest, why, s);
}
