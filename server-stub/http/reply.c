/* SPDX-License-Identifier: Apache-2.0 */
/* reply.c — answers and request accessors of the listener (see http.h): replies become
 * MHD responses with the headers added before them; client-certificate checks use the
 * GnuTLS session MHD exposes; the local address comes from the connection's socket.
 */
#include "server-stub/http/http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static bool has_reply_header(const struct http_request *r, const char *name)
{
        for (size_t i = 0; i < r->n_hdrs; i++)
                if (!strcasecmp(r->hdrs[i].name, name))
                        return true;
        return false;
}

static void set_response(struct http_request *r, unsigned status, struct MHD_Response *resp)
{
        if (r->resp) {
                /* A handler answered twice: keep the first answer. */
                if (resp)
                        MHD_destroy_response(resp);
                return;
        }
        if (!resp) {
                static const char oom[] = "{\"errorCode\":\"server.oom\",\"message\":\"out of memory\"}";
                resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
                status = 503;
        }
        for (size_t i = 0; i < r->n_hdrs; i++)
                MHD_add_response_header(resp, r->hdrs[i].name, r->hdrs[i].value);
        /* "Not now": say when to come back, unless the handler did. */
        if ((status == 503 || status == 429) && !has_reply_header(r, "Retry-After"))
                MHD_add_response_header(resp, "Retry-After", HTTP_RETRY_AFTER);
        r->resp = resp;
        r->status = status;
}

void http_add_header(struct http_request *r, const char *name, const char *value)
{
        if (r->n_hdrs >= MAX_REPLY_HEADERS)
                return;
        char *n = strdup(name), *v = strdup(value);
        if (!n || !v) {
                free(n);
                free(v);
                return;
        }
        r->hdrs[r->n_hdrs].name = n;
        r->hdrs[r->n_hdrs].value = v;
        r->n_hdrs++;
}

void http_reply_json(struct http_request *r, unsigned status, json_t *body)
{
        char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!s) {
                set_response(r, 503, NULL);
                return;
        }
        if (!has_reply_header(r, "Content-Type"))
                http_add_header(r, "Content-Type", "application/json");
        set_response(r, status, MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE));
}

void http_reply_error(struct http_request *r, unsigned status, const char *code, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        http_reply_json(r, status, json_pack("{s:s, s:s}", "errorCode", code, "message", msg));
}

void http_reply_empty(struct http_request *r, unsigned status)
{
        set_response(r, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

void http_reply_fd(struct http_request *r, unsigned status, int fd, uint64_t off, uint64_t len)
{
        if (len == 0) {
                close(fd);
                http_reply_empty(r, status);
                return;
        }
        struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
        if (!resp)
                close(fd);
        set_response(r, status, resp);
}

const char *http_method(const struct http_request *r) { return r->method; }
const char *http_path(const struct http_request *r) { return r->path; }
bool http_is_tls(const struct http_request *r) { return r->srv->tls; }

const char *http_header(const struct http_request *r, const char *name)
{
        return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const struct http_request *r, const char *name)
{
        return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_body(const struct http_request *r, size_t *len)
{
        if (len)
                *len = r->len;
        return r->body ? r->body : "";
}

const char *http_spool_path(const struct http_request *r) { return r->spool_path; }

int http_local_address(const struct http_request *r, char *host, size_t size, unsigned *port, bool *loopback)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &len) < 0)
                return ci ? -errno : -ENOTCONN;
        char ip[INET6_ADDRSTRLEN];
        if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;
                inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip);
                *port = ntohs(in4->sin_port);
                *loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
                snprintf(host, size, "%s", ip);
        } else if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
                *port = ntohs(in6->sin6_port);
                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
                        /* An IPv4 client of a [::] listener. */
                        inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
                        *loopback = in6->sin6_addr.s6_addr[12] == 127;
                        snprintf(host, size, "%s", ip);
                } else {
                        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
                        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
                        snprintf(host, size, "[%s]", ip);
                }
        } else
                return -EAFNOSUPPORT;
        return 0;
}

char *http_spool_take(struct http_request *r)
{
        char *p = r->spool_path;
        r->spool_path = NULL;
        return p;
}

const char *http_peer_cn(struct http_request *r)
{
        if (r->peer_checked)
                return r->peer_cn;
        r->peer_checked = true;
        if (!r->srv->tls || !r->srv->client_ca)
                return NULL;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
                return NULL;
        gnutls_session_t s = (gnutls_session_t)ci->tls_session;
        unsigned status = 0;
        if (gnutls_certificate_verify_peers2(s, &status) != GNUTLS_E_SUCCESS || status != 0)
                return NULL;
        unsigned n = 0;
        const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
        if (!certs || n == 0)
                return NULL;
        gnutls_x509_crt_t crt;
        if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
                return NULL;
        char cn[256];
        size_t cn_len = sizeof cn;
        if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS &&
            gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len) == GNUTLS_E_SUCCESS &&
            cn_len < sizeof cn && strlen(cn) == cn_len)
                r->peer_cn = strdup(cn);
        gnutls_x509_crt_deinit(crt);
        return r->peer_cn;
}
