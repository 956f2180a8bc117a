/* SPDX-License-Identifier: Apache-2.0 */
/* peers_discover.c — finding the site's peers on the LAN segment (peers/discover.h): a
 * UDP socket on the agent's loop joined to the multicast group. A gateway about to fetch
 * an update asks WHO; every serving gateway that hears it answers HELLO to the asker.
 * Nothing is sent otherwise: an idle site is silent. Datagrams are signed with the site
 * key; anything else is dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "daemon/agent_int.h"
#include "net/addr.h"
#include "peers/discover.h"

#define FORGET_AFTER_S 600      /* a learned peer not heard from for this long is dropped */

/* nonce: a HELLO answers with the WHO's (so the asker takes only answers to its own
 * question); a WHO makes a new one. */
static void send_msg(struct agent *a, enum peer_discover_kind kind, const struct sockaddr_in *to,
                     const uint8_t *nonce)
{
        struct peers_state *p = &a->peers;
        struct peer_discover_msg m = {.kind = kind, .time = (uint64_t)time(NULL)};
        if (kind == PEER_HELLO)
                m.port = peer_serve_port(p->server);
        const char *id = peers_my_id(a);
        if (strlen(id) >= sizeof m.id) {
                log_warning("agent: peer discovery: this gateway's id '%s' is longer than %d characters", id,
                            PEER_DISCOVER_ID_MAX);
                return;
        }
        memcpy(m.id, id, strlen(id) + 1);
        if (nonce)
                memcpy(m.nonce, nonce, sizeof m.nonce);
        else
                randombytes_buf(m.nonce, sizeof m.nonce);
        uint8_t buf[PEER_DISCOVER_MAX];
        int len = peer_discover_encode(&p->key, &m, buf);
        if (len < 0) {
                log_warning("agent: peer discovery: this gateway's id '%s' cannot be sent (printable, at most %d "
                            "characters)", m.id, PEER_DISCOVER_ID_MAX);
                return;
        }
        if (sendto(p->disc_fd, buf, (size_t)len, 0, (const struct sockaddr *)to, sizeof *to) < 0)
                log_debug("agent: peer discovery: sendto: %s", strerror(errno));
}

void peers_discover_who(struct agent *a)
{
        struct peers_state *p = &a->peers;
        if (p->disc_fd < 0)
                return;
        randombytes_buf(p->who_nonce, sizeof p->who_nonce);
        p->who_usec = agent_mono_usec(a);
        send_msg(a, PEER_WHO, &p->group, p->who_nonce);
}

/* A HELLO from addr: a peer serving on port, called id. */
static void learn(struct agent *a, const struct sockaddr_in *from, uint16_t port, const char *id)
{
        struct peers_state *p = &a->peers;
        char ip[INET_ADDRSTRLEN], host[64];
        inet_ntop(AF_INET, &from->sin_addr, ip, sizeof ip);
        snprintf(host, sizeof host, "%s:%u", ip, (unsigned)port);
        uint64_t now = agent_mono_usec(a);
        for (size_t i = 0; i < p->n; i++)
                if (!strcmp(p->list[i].host, host)) {
                        p->list[i].seen_usec = now;
                        snprintf(p->list[i].id, sizeof p->list[i].id, "%s", id);
                        return;
                }
        if (!p->n_hold) {
                /* No update in progress: forget the learned peers that went quiet. */
                size_t k = 0;
                for (size_t i = 0; i < p->n; i++)
                        if (!p->list[i].learned || now - p->list[i].seen_usec < FORGET_AFTER_S * 1000000ULL)
                                p->list[k++] = p->list[i];
                p->n = k;
        }
        if (p->n == PEERS_MAX)
                return; /* a full list serves the update as well */
        struct peer_entry *e = &p->list[p->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->host, sizeof e->host, "%s", host);
        snprintf(e->id, sizeof e->id, "%s", id);
        e->learned = true;
        e->seen_usec = now;
        log_info("agent: found site peer %s (%s) on the LAN", id, host);
}

static int on_datagram(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct agent *a = ud;
        struct peers_state *p = &a->peers;
        (void)s;
        (void)revents;
        for (int k = 0; k < 64; k++) {
                uint8_t buf[PEER_DISCOVER_MAX + 1];
                struct sockaddr_in from;
                socklen_t fl = sizeof from;
                ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
                if (n < 0)
                        break;
                struct peer_discover_msg m;
                if (from.sin_family != AF_INET ||
                    peer_discover_decode(&p->key, buf, (size_t)n, (uint64_t)time(NULL), &m) < 0 ||
                    !strcmp(m.id, peers_my_id(a)))
                        continue; /* not ours, another site's, stale, or our own */
                if (m.kind == PEER_HELLO) {
                        /* only an answer to this gateway's own WHO of the last 30 s */
                        if (p->who_usec && agent_mono_usec(a) - p->who_usec < PEER_AUTH_WINDOW_S * 1000000ULL &&
                            !memcmp(m.nonce, p->who_nonce, sizeof m.nonce))
                                learn(a, &from, m.port, m.id);
                } else if (p->server) {
                        /* A WHO is answered once: a replayed one from a forged address gets nothing. */
                        if (peer_replay_check(p->disc_replay, m.nonce, m.time, (uint64_t)time(NULL)) < 0)
                                continue;
                        send_msg(a, PEER_HELLO, &from, m.nonce);
                }
        }
        return 0;
}

int peers_discover_start(struct agent *a, berr *e)
{
        struct peers_state *p = &a->peers;
        p->disc_fd = -1;
        bool on = true;
        int r = config_get_bool(a->cfg, "peers.discovery", true, &on, e);
        if (r < 0 || !on)
                return r < 0 ? r : 0;
        const char *group = config_get(a->cfg, "peers.group", PEER_DISCOVER_GROUP);
        const char *ifname = config_get(a->cfg, "peers.interface", NULL);
        struct sockaddr_storage ss;
        socklen_t sl;
        if (addr_parse(group, false, &ss, &sl) < 0 || ss.ss_family != AF_INET ||
            !IN_MULTICAST(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr)) || !((struct sockaddr_in *)&ss)->sin_port)
                return berr_set(e, -EINVAL, "config peers.group = '%s': an IPv4 multicast ADDRESS:PORT (e.g. %s)",
                                group, PEER_DISCOVER_GROUP);
        memcpy(&p->group, &ss, sizeof p->group);
        unsigned ifindex = 0;
        if (ifname && !(ifindex = if_nametoindex(ifname)))
                return berr_set(e, -ENODEV, "config peers.interface = '%s': no such network interface", ifname);

        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_set(e, -errno, "peer discovery: socket: %s", strerror(errno));
        int one = 1, ttl = 1;
        struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = p->group.sin_port};
        struct ip_mreqn mreq = {.imr_multiaddr = p->group.sin_addr, .imr_ifindex = (int)ifindex};
        struct ip_mreqn mif = {.imr_ifindex = (int)ifindex};
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
            bind(fd, (struct sockaddr *)&any, sizeof any) < 0 ||
            setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0 ||
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0 ||
            (ifindex && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) < 0)) {
                r = berr_set(e, -errno, "peer discovery on %s%s%s: %s; set [peers] interface to the plant network's "
                             "interface, or discovery = false and list the peers", group, ifname ? " via " : "",
                             ifname ? ifname : "", strerror(errno));
                close(fd);
                return r;
        }
        p->disc_fd = fd;
        if ((r = peer_replay_new(1024, &p->disc_replay)) < 0 ||
            (r = sd_event_add_io(a->ev, &p->disc_src, fd, EPOLLIN, on_datagram, a)) < 0) {
                peers_discover_stop(a);
                return berr_set(e, r, "peer discovery: cannot watch its socket");
        }
        log_info("agent: looking for site peers on %s%s%s", group, ifname ? " via " : "", ifname ? ifname : "");
        return 0;
}

void peers_discover_stop(struct agent *a)
{
        struct peers_state *p = &a->peers;
        p->disc_src = sd_event_source_disable_unref(p->disc_src);
        if (p->disc_fd >= 0)
                close(p->disc_fd);
        p->disc_fd = -1;
        peer_replay_free(p->disc_replay);
        p->disc_replay = NULL;
}
