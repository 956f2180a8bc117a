/* SPDX-License-Identifier: Apache-2.0 */
/* http.c — libmicrohttpd + GnuTLS listener (see http.h).
 *
 * Owns the MHD daemon and the life of connections and requests: per-connection state
 * (URL, timeout and drain flags), the checks made before a handler runs (framing, URL,
 * size), and the bounded body buffer or spool file. Answers and accessors are in
 * reply.c. Nothing here knows about DDI or rollouts.
 */
#include "server-stub/http/http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "server-stub/http/linger.h"

#define DEFAULT_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http_conn *http_conn_of(struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

static int parse_address(const char *a, struct sockaddr_storage *ss, berr *e)
{
        char host[128];
        const char *port;
        memset(ss, 0, sizeof *ss);
        if (a[0] == '[') {
                const char *end = strchr(a, ']');
                if (!end || end[1] != ':' || (size_t)(end - a - 1) >= sizeof host)
                        return berr_set(e, -EINVAL, "listen address '%s' is not [IPv6]:PORT", a);
                memcpy(host, a + 1, (size_t)(end - a - 1));
                host[end - a - 1] = 0;
                port = end + 2;
        } else {
                const char *colon = strrchr(a, ':');
                if (!colon || (size_t)(colon - a) >= sizeof host)
                        return berr_set(e, -EINVAL, "listen address '%s' is not HOST:PORT", a);
                memcpy(host, a, (size_t)(colon - a));
                host[colon - a] = 0;
                port = colon + 1;
        }
        char *endp;
        unsigned long p = strtoul(port, &endp, 10);
        if (!*port || *endp || p > 65535)
                return berr_set(e, -EINVAL, "listen address '%s' has an invalid port", a);
        struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)p);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)p);
        } else
                return berr_set(e, -EINVAL, "listen address '%s': '%s' is not a numeric IP address", a, host);
        return 0;
}

static void request_free(struct http_request *r)
{
        if (!r)
                return;
        if (r->spool_fd >= 0)
                close(r->spool_fd);
        if (r->spool_path) {
                unlink(r->spool_path);
                free(r->spool_path);
        }
        if (r->resp)
                MHD_destroy_response(r->resp);
        for (size_t i = 0; i < r->n_hdrs; i++) {
                free(r->hdrs[i].name);
                free(r->hdrs[i].value);
        }
        free(r->peer_cn);
        free(r->method);
        free(r->path);
        free(r->body);
        free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        struct http_conn *hc = http_conn_of(c);
        if (hc)
                hc->bad_uri = false;
        request_free(*con_cls);
        *con_cls = NULL;
}

/* STARTED runs before MHD starts the handshake: the connection's state is made, and
 * session tickets are enabled on the fresh GnuTLS session so reconnecting clients resume
 * instead of doing a full handshake. CLOSED runs before MHD closes the socket: one that
 * was answered early is handed, duplicated, to the drain. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
        struct http_server *s = cls;
        if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                struct http_conn *hc = *socket_context;
                *socket_context = NULL;
                const union MHD_ConnectionInfo *ci =
                        hc && hc->linger ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
                int fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 3) : -1;
                if (fd >= 0) {
                        (void)shutdown(fd, SHUT_WR);
                        linger_add(s->linger, fd);
                }
                free(hc);
                return;
        }
        if (toe != MHD_CONNECTION_NOTIFY_STARTED)
                return;
        *socket_context = calloc(1, sizeof(struct http_conn)); /* NULL: no drain, default timeout */
        if (!s->ticket_key.data)
                return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (ci && ci->tls_session)
                (void)gnutls_session_ticket_enable_server((gnutls_session_t)ci->tls_session, &s->ticket_key);
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes %HH in the path and in query keys and values, as MHD's own decoder does, and
 * marks the request when a byte would change what the string means: an escaped NUL ends
 * a C string early ("NAME%00.txt" would name "NAME"), and control bytes have no place in
 * a name. Such a request gets 400 before any handler runs. */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *str)
{
        char *w = str;
        bool bad = false;
        for (const char *p = str; *p;) {
                int hi, lo;
                unsigned char v;
                if (p[0] == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
                        v = (unsigned char)(hi * 16 + lo);
                        p += 3;
                } else
                        v = (unsigned char)*p++;
                if (v < 0x20 || v == 0x7f) {
                        bad = true;
                        v = '?';
                }
                *w++ = (char)v;
        }
        *w = 0;
        struct http_conn *hc = bad ? http_conn_of(c) : NULL;
        if (hc)
                hc->bad_uri = true;
        return (size_t)(w - str);
}

struct framing {
        unsigned n_length, n_encoding;
        const char *length, *encoding;
        bool conflict, bad_name;
};

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct framing *f = cls;
        if (strpbrk(key, " \t"))
                f->bad_name = true; /* "Content-Length :" is a different header to MHD than to a proxy */
        if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
                if (f->n_length++ && strcmp(f->length, value ? value : ""))
                        f->conflict = true;
                if (!f->length)
                        f->length = value ? value : "";
        } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
                f->n_encoding++;
                f->encoding = value ? value : "";
        }
        return MHD_YES;
}

static int spool_open(struct http_request *r)
{
        size_t n = strlen(r->srv->spool_dir) + 32;
        r->spool_path = malloc(n);
        if (!r->spool_path)
                return -ENOMEM;
        snprintf(r->spool_path, n, "%s/upload.XXXXXX", r->srv->spool_dir);
        r->spool_fd = mkostemp(r->spool_path, O_CLOEXEC);
        if (r->spool_fd < 0) {
                int err = -errno;
                free(r->spool_path);
                r->spool_path = NULL;
                return err;
        }
        return 0;
}

/* A body without a length (chunked) that passes the limit is read and dropped to its end,
 * and only then answered 413 (libmicrohttpd cannot answer in the middle of a body); one
 * that goes on for this much more is cut off. A body with a length is answered before it
 * is read, and the drain takes what follows (http/linger.h). */
#define HTTP_DISCARD_MAX LINGER_MAX_BYTES

static int body_append(struct http_request *r, const char *data, size_t n)
{
        if (r->too_large) {
                r->discarded += n;
                return r->discarded > HTTP_DISCARD_MAX ? -E2BIG : 0;
        }
        if (r->io_error)
                return 0;
        if (r->spool_fd >= 0) {
                if (r->spooled + n > r->srv->o.max_spool) {
                        r->too_large = true;
                        return 0;
                }
                size_t done = 0;
                while (done < n) {
                        ssize_t w = write(r->spool_fd, data + done, n - done);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0) {
                                r->io_error = true;
                                return 0;
                        }
                        done += (size_t)w;
                }
                r->spooled += n;
                return 0;
        }
        if (r->len + n > r->srv->o.max_body) {
                r->too_large = true;
                free(r->body);
                r->body = NULL;
                r->len = r->cap = 0;
                return 0;
        }
        if (r->len + n + 1 > r->cap) {
                size_t cap = r->cap ? r->cap : 1024;
                while (cap < r->len + n + 1)
                        cap *= 2;
                char *b = realloc(r->body, cap);
                if (!b)
                        return -ENOMEM;
                r->body = b;
                r->cap = cap;
        }
        memcpy(r->body + r->len, data, n);
        r->len += n;
        r->body[r->len] = 0;
        return 0;
}

static enum MHD_Result queue(struct http_request *r)
{
        if (!r->resp)
                http_reply_error(r, 500, "server.internal", "the handler produced no response");
        return MHD_queue_response(r->conn, r->status, r->resp);
}

/* Queues an answer given before the body was read. libmicrohttpd then reads nothing more
 * from the connection (no second request from the body's bytes) and closes it; when a body
 * was announced, the drain takes what the client still sends, so it reads the answer. */
static enum MHD_Result queue_early(struct http_request *r, bool body)
{
        struct http_conn *hc = http_conn_of(r->conn);
        if (hc && body)
                hc->linger = true;
        return queue(r);
}

/* Answers a request whose framing a proxy in front could read differently (request
 * smuggling): 1 when answered. */
static int check_framing(struct http_request *r, bool *body)
{
        struct framing f = {0};
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, framing_header, &f);
        *body = f.n_encoding > 0 || (f.length && strcmp(f.length, "0"));
        if (f.bad_name)
                http_reply_error(r, 400, "request.badHeader", "a header name contains white space");
        else if (f.conflict)
                http_reply_error(r, 400, "request.badFraming", "the request has Content-Length headers that differ");
        else if (f.n_length && f.n_encoding)
                http_reply_error(r, 400, "request.badFraming",
                                 "the request has both Content-Length and Transfer-Encoding; send one of them");
        else if (f.n_encoding > 1)
                http_reply_error(r, 400, "request.badFraming",
                                 "the request has more than one Transfer-Encoding header");
        else if (f.n_encoding && strcasecmp(f.encoding, "chunked"))
                http_reply_error(r, 501, "request.badFraming",
                                 "Transfer-Encoding '%.64s' is not supported; send Content-Length or chunked",
                                 f.encoding);
        else
                return 0;
        return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        struct http_server *s = cls;
        struct http_request *r = *con_cls;

        if (!r) {
                r = calloc(1, sizeof *r);
                if (!r)
                        return MHD_NO;
                r->srv = s;
                r->conn = conn;
                r->spool_fd = -1;
                r->method = strdup(method);
                r->path = strdup(url);
                *con_cls = r;
                if (!r->method || !r->path)
                        return MHD_NO;
                struct http_conn *hc = http_conn_of(conn);
                if (hc && !hc->seen_request) {
                        /* A client that sent a request gets the longer idle timeout from now on. */
                        hc->seen_request = true;
                        if (s->o.idle_timeout && s->o.idle_timeout != s->o.request_timeout)
                                MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->o.idle_timeout);
                }
                bool body;
                if (check_framing(r, &body))
                        return queue_early(r, body);
                if (hc && hc->bad_uri) {
                        http_reply_error(r, 400, "request.badUri",
                                         "the request's path or query decodes to a NUL or control byte");
                        return queue_early(r, body);
                }
                int sp = s->o.spool ? s->o.spool(s->o.userdata, r) : 0;
                if (sp < 0)
                        return queue_early(r, body);
                bool spool = sp > 0;
                uint64_t limit = spool ? s->o.max_spool : s->o.max_body;
                const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl) {
                        char *end;
                        errno = 0;
                        unsigned long long v = strtoull(cl, &end, 10);
                        if (errno || *end || v > limit) {
                                http_reply_error(r, 413, "request.tooLarge",
                                                 "request body of %s bytes exceeds the limit of %llu bytes", cl,
                                                 (unsigned long long)limit);
                                return queue_early(r, body);
                        }
                }
                if (spool) {
                        int k = spool_open(r);
                        if (k < 0) {
                                http_reply_error(r, 507, "server.spool", "cannot store the upload in %s: %s",
                                                 s->spool_dir, strerror(-k));
                                return queue_early(r, body);
                        }
                }
                return MHD_YES;
        }

        if (*upload_data_size > 0) {
                /* Out of memory, or a body without a length far over the limit: cut off. */
                if (body_append(r, upload_data, *upload_data_size) < 0)
                        return MHD_NO;
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (r->resp) /* already answered (413 on the first call) */
                return MHD_YES;
        if (r->too_large) {
                http_reply_error(r, 413, "request.tooLarge", "request body exceeds the limit of %llu bytes",
                                 (unsigned long long)(r->spool_fd >= 0 ? s->o.max_spool : s->o.max_body));
                return queue(r);
        }
        if (r->io_error) {
                http_reply_error(r, 507, "server.spool", "cannot write the upload to %s", s->spool_dir);
                return queue(r);
        }
        if (r->spool_fd >= 0) {
                /* The handler reads the file by path; data is complete once fsync'd. */
                if (fsync(r->spool_fd) < 0) {
                        http_reply_error(r, 507, "server.spool", "cannot sync the upload: %s", strerror(errno));
                        return queue(r);
                }
                close(r->spool_fd);
                r->spool_fd = -1;
        }
        s->o.handler(s->o.userdata, r);
        return queue(r);
}

int http_server_start(const struct http_listen_opts *o, struct http_server **ret, berr *e)
{
        struct sockaddr_storage ss;
        int k = parse_address(o->address, &ss, e);
        if (k < 0)
                return k;
        _cleanup_free_ struct http_server *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->o = *o;
        s->tls = o->cert_pem != NULL;
        s->client_ca = o->client_ca_pem != NULL;
        s->spool_dir = o->spool_dir ? strdup(o->spool_dir) : NULL;

        unsigned flags = MHD_USE_ERROR_LOG;
        if (o->threads > 0)
                flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
        else
                flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
        if (s->tls)
                flags |= MHD_USE_TLS;
        if (ss.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;

        struct MHD_OptionItem opts[20];
        size_t n = 0;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
        /* Until its first request a connection gets the short timeout; on_request() gives it
         * the idle timeout once a request arrived. */
        unsigned first = o->request_timeout ? o->request_timeout : o->idle_timeout ? o->idle_timeout : 60;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, first, NULL};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, o->max_connections ? o->max_connections : 10000, NULL};
        if (o->max_per_address)
                opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_address, NULL};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
        /* HTTP/1.1 without Host, and spaces in the request target, get 400. */
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)on_unescape, NULL};
        if (o->threads > 1)
                opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL};
        if (s->tls && gnutls_session_ticket_key_generate(&s->ticket_key) != GNUTLS_E_SUCCESS)
                s->ticket_key = (gnutls_datum_t){0};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s};
        if (s->tls) {
                opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->cert_pem};
                opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->key_pem};
                opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                    (void *)(o->tls_priorities ? o->tls_priorities : DEFAULT_PRIORITIES)};
                if (o->client_ca_pem)
                        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)o->client_ca_pem};
        }
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

        if ((k = linger_start(&s->linger, e)) < 0) {
                free(s->spool_dir);
                return k;
        }
        s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!s->daemon) {
                linger_stop(s->linger);
                free(s->spool_dir);
                if (s->ticket_key.data) {
                        gnutls_memset(s->ticket_key.data, 0, s->ticket_key.size);
                        gnutls_free(s->ticket_key.data);
                }
                return berr_set(e, -EADDRNOTAVAIL,
                                "cannot start the HTTP%s listener on %s (address in use, bad certificate or key?)",
                                s->tls ? "S" : "", o->address);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

unsigned http_server_port(const struct http_server *s)
{
        const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        return i ? i->port : 0;
}

void http_server_stop(struct http_server *s)
{
        if (!s)
                return;
        MHD_stop_daemon(s->daemon);
        linger_stop(s->linger); /* after the daemon: closing connections may still add sockets */
        free(s->spool_dir);
        if (s->ticket_key.data) {
                gnutls_memset(s->ticket_key.data, 0, s->ticket_key.size);
                gnutls_free(s->ticket_key.data);
        }
        free(s);
}
