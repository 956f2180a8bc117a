/* SPDX-License-Identifier: Apache-2.0 */
/* request.c — one HTTP request on a libcurl easy handle, whichever driver runs it:
 * option setup (TLS, client certificate, unix socket, HTTP version, timeouts, headers,
 * bodies), the callbacks (headers, body, upload, rate cap) and the one translation of
 * curl's failures into errno + sentence (see http.h). Owns no handle and never logs.
 */
#include "net/http_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ERROR_BODY_MAX (64u * 1024) /* non-2xx bodies of streaming requests (error text) */
#define DEFAULT_MAX_BODY (1024u * 1024)

static int global_rc;

static void global_init_once(void)
{
        global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

int http_global_init(berr *e)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, global_init_once);
        if (global_rc < 0)
                return berr_set(e, global_rc, "cannot initialise libcurl");
        return 0;
}

uint64_t http_mono_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int http_h2c_support(berr *e)
{
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        if (!(v->features & CURL_VERSION_HTTP2))
                return berr_set(e, -EOPNOTSUPP, "libcurl %s was built without HTTP/2, which gRPC needs", v->version);
        if (!(v->features & CURL_VERSION_UNIX_SOCKETS))
                return berr_set(e, -EOPNOTSUPP, "libcurl %s was built without unix socket support", v->version);
        return v->version_num >= 0x080000;
}

/* ---- callbacks -------------------------------------------------------------------- */

static char *header_value(const char *line, size_t n, const char *name, size_t *ret_len)
{
        size_t k = strlen(name);
        if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
                return NULL;
        const char *v = line + k + 1, *end = line + n;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *ret_len = (size_t)(end - v);
        return (char *)v;
}

static size_t header_cb(char *data, size_t size, size_t n, void *ud)
{
        struct http_req *r = ud;
        size_t len = size * n, vl;
        const char *v;
        if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
                /* A new response (redirect, 100-continue): forget the previous headers. */
                r->resp.has_content_range = false;
                r->resp.retry_after = -1;
                r->resp.etag[0] = 0;
        } else if ((v = header_value(data, len, "Content-Range", &vl))) {
                char tmp[128];
                r->resp.has_content_range = false;
                if (vl < sizeof tmp) {
                        memcpy(tmp, v, vl);
                        tmp[vl] = 0;
                        r->resp.has_content_range = http_parse_content_range(tmp, &r->resp.range_start,
                                                                             &r->resp.range_end,
                                                                             &r->resp.range_total) == 0;
                }
        } else if ((v = header_value(data, len, "Retry-After", &vl))) {
                char tmp[64];
                if (vl < sizeof tmp) {
                        memcpy(tmp, v, vl);
                        tmp[vl] = 0;
                        r->resp.retry_after = http_parse_retry_after(tmp, (int64_t)time(NULL));
                }
        } else if ((v = header_value(data, len, "ETag", &vl))) {
                if (vl < sizeof r->resp.etag && !memchr(v, '\0', vl)) {
                        memcpy(r->resp.etag, v, vl);
                        r->resp.etag[vl] = 0;
                }
        }
        if (r->on_header) {
                int k = r->on_header(r->userdata, data, len);
                if (k < 0) {
                        r->data_error = k;
                        return 0;
                }
        }
        return len;
}

static int buf_append(struct http_req *r, const void *p, size_t len, size_t max)
{
        if (r->len + len > max)
                return -EFBIG;
        if (r->len + len + 1 > r->cap) {
                size_t nc = r->cap ? r->cap * 2 : 4096;
                while (nc < r->len + len + 1)
                        nc *= 2;
                if (nc > max + 1)
                        nc = max + 1;
                char *nb = realloc(r->buf, nc);
                if (!nb)
                        return -ENOMEM;
                r->buf = nb;
                r->cap = nc;
        }
        memcpy(r->buf + r->len, p, len);
        r->len += len;
        return 0;
}

/* Token bucket on the body: the average since the first byte never exceeds the rate by
 * more than one burst. curl's own CURLOPT_MAX_RECV_SPEED_LARGE is not used: with the
 * multi interface it reads everything the socket holds in one go (up to ~1.6 MB) before
 * it looks at the limit, so low caps were overshot by far. */
uint64_t req_rate_wait(struct http_req *r, size_t len)
{
        uint64_t now = http_mono_usec();
        if (!r->start_usec)
                r->start_usec = now;
        uint64_t burst = r->rate / 8 < 16384 ? 16384 : r->rate / 8;
        uint64_t allowed = (now - r->start_usec) * r->rate / 1000000 + burst;
        uint64_t want = r->resp.bytes_received + len;
        if (want <= allowed)
                return 0;
        return (want - allowed) * 1000000 / r->rate + 1;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ud)
{
        struct http_req *r = ud;
        size_t len = size * n;
        long st = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
        r->resp.status = st;
        bool ok = st >= 200 && st < 300;
        /* The loop driver pauses the transfer (loop.c); a blocking one simply waits. */
        if (r->on_data && ok && r->rate) {
                uint64_t wait = req_rate_wait(r, len);
                if (wait && r->loop) {
                        /* Not taken: curl delivers the same chunk again after the pause. */
                        if (http_loop_pause(r, wait) < 0)
                                return 0; /* cannot wait: abort rather than ignore the cap */
                        return CURL_WRITEFUNC_PAUSE;
                }
                if (wait) {
                        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000), .tv_nsec = (long)(wait % 1000000) * 1000};
                        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                                ;
                }
        }
        int k;
        if (r->on_data && ok) {
                r->resp.bytes_received += len;
                k = r->on_data(r->userdata, &r->resp, data, len);
        } else if (r->on_data) {
                /* The answer to a streaming request is an error: its start says why. */
                size_t room = r->len < ERROR_BODY_MAX ? ERROR_BODY_MAX - r->len : 0;
                k = buf_append(r, data, len < room ? len : room, ERROR_BODY_MAX);
        } else {
                k = buf_append(r, data, len, r->max);
                if (k == 0)
                        r->resp.bytes_received += len;
        }
        if (k == HTTP_DATA_PAUSE && r->on_data && ok) {
                /* Not taken: curl delivers the same chunk again after the pause. */
                r->resp.bytes_received -= len;
                if (!r->loop || http_loop_pause(r, HTTP_DATA_PAUSE_USEC) < 0)
                        k = -EIO; /* only the loop driver can wait without blocking */
                else
                        return CURL_WRITEFUNC_PAUSE;
        }
        if (k < 0) {
                r->data_error = k;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
        struct http_req *r = ud;
        size_t cap = size * n;
        if (r->on_read) {
                ssize_t k = r->on_read(r->userdata, buf, cap);
                if (k < 0) {
                        r->data_error = (int)k;
                        return CURL_READFUNC_ABORT;
                }
                r->sent += (uint64_t)k;
                return (size_t)k;
        }
        size_t left = r->body_len - (size_t)r->sent;
        size_t k = left < cap ? left : cap;
        memcpy(buf, r->body + r->sent, k);
        r->sent += k;
        return k;
}

static int seek_cb(void *ud, curl_off_t offset, int origin)
{
        struct http_req *r = ud;
        if (origin != SEEK_SET || offset < 0)
                return CURL_SEEKFUNC_CANTSEEK;
        if (r->on_read) {
                if (!r->on_seek || r->on_seek(r->userdata, (uint64_t)offset) < 0)
                        return CURL_SEEKFUNC_CANTSEEK;
        } else if ((size_t)offset > r->body_len)
                return CURL_SEEKFUNC_CANTSEEK;
        r->sent = (uint64_t)offset;
        return CURL_SEEKFUNC_OK;
}

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        struct http_req *r = ud;
        return r->cancel && __atomic_load_n(r->cancel, __ATOMIC_ACQUIRE) ? 1 : 0;
}

/* ---- setup ------------------------------------------------------------------------ */

static char *dup_or_null(const char *s, bool *oom)
{
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

static bool add_header(struct http_req *r, const char *name, const char *v)
{
        char line[1024];
        if (strpbrk(v, "\r\n") || strpbrk(name, "\r\n"))
                return false;
        if (snprintf(line, sizeof line, "%s%s%s", name, name[0] && v[0] ? ": " : name[0] ? ":" : "", v) >=
            (int)sizeof line)
                return false;
        struct curl_slist *t = curl_slist_append(r->headers, line);
        if (t)
                r->headers = t;
        return t != NULL;
}

int req_setup(struct http_req *r, CURL *h, const struct http_req_opts *o, berr *e)
{
        if (!o->url || (o->body_len && o->on_read))
                return berr_set(e, -EINVAL, "invalid HTTP request description");
        bool https = !strncasecmp(o->url, "https://", 8);
        if (!https && strncasecmp(o->url, "http://", 7))
                return berr_set(e, -EINVAL, "%s is not an http:// or https:// URL", o->url);
        /* A token is a key to the fleet: never readable on the wire. */
        if (o->authorization && !https && !o->unix_socket && !o->plain_credentials)
                return berr_set(e, -EPERM, "refusing to send credentials over plain HTTP to %s: use an https:// URL",
                                o->url);
        bool oom = false;
        r->easy = h;
        r->url = dup_or_null(o->url, &oom);
        r->method = dup_or_null(o->method ? o->method : "GET", &oom);
        r->name = dup_or_null(o->name ? o->name : o->unix_socket ? o->unix_socket : o->url, &oom);
        r->peer = dup_or_null(o->peer ? o->peer : "the server", &oom);
        r->unix_socket = dup_or_null(o->unix_socket, &oom);
        r->is_unix = o->unix_socket != NULL;
        if (o->tls) {
                r->ca = dup_or_null(o->tls->ca_file, &oom);
                r->cert = dup_or_null(o->tls->cert_file, &oom);
                r->key = dup_or_null(o->tls->key_file, &oom);
                r->ca_setting = dup_or_null(o->tls->ca_setting, &oom);
        }
        if (o->has_range && asprintf(&r->range, "%" PRIu64 "-%" PRIu64, o->range_start, o->range_end) < 0)
                r->range = NULL, oom = true;
        if (o->body_len) {
                r->body = malloc(o->body_len);
                if (r->body)
                        memcpy(r->body, o->body, o->body_len);
                else
                        oom = true;
                r->body_len = o->body_len;
        }
        if (oom)
                return -ENOMEM;
        r->max = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
        r->streaming = o->on_data != NULL;
        r->rate = o->max_recv_speed;
        r->cancel = o->cancel;
        r->on_header = o->on_header;
        r->on_data = o->on_data;
        r->on_read = o->on_read;
        r->on_seek = o->on_seek;
        r->on_done = o->on_done;
        r->userdata = o->userdata;
        r->upload_size = o->on_read ? o->upload_size : r->body_len;
        r->resp.retry_after = -1;

        curl_easy_setopt(h, CURLOPT_URL, r->url);
        curl_easy_setopt(h, CURLOPT_PRIVATE, r);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
        if (getenv("BERTH_HTTP_VERBOSE"))
                curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
        if (o->follow_redirects) {
                curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
                curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
        }
        if (r->unix_socket) {
                curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, r->unix_socket);
                curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        }
        if (o->version == HTTP_VERSION_1_1)
                curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        else if (o->version == HTTP_VERSION_2_PRIOR_KNOWLEDGE)
                curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        if (o->fresh_connection) {
                curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
        }
        if (r->ca)
                curl_easy_setopt(h, CURLOPT_CAINFO, r->ca);
        if (r->cert)
                curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert);
        if (r->key)
                curl_easy_setopt(h, CURLOPT_SSLKEY, r->key);
        if (o->tls && o->tls->insecure) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (r->range)
                curl_easy_setopt(h, CURLOPT_RANGE, r->range);
        if (o->stall_seconds) {
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)o->stall_seconds);
        }
        if (o->connect_timeout_ms)
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
        if (o->timeout_ms)
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
        if (r->cancel) {
                /* libcurl calls this at least once a second, also on an idle stream. */
                curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
                curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
        }

        bool ok = true;
        if (o->authorization)
                ok = add_header(r, "Authorization", o->authorization);
        if (ok && o->accept) /* "" removes curl's default */
                ok = add_header(r, "Accept", o->accept);
        if (ok && o->content_type)
                ok = add_header(r, "Content-Type", o->content_type);
        /* No "Expect: 100-continue" round trip before a body. */
        if (ok)
                ok = add_header(r, "Expect", "");
        for (const char *const *p = o->headers; ok && p && *p; p++)
                ok = add_header(r, "", *p);
        if (!ok)
                return berr_set(e, -EINVAL, "%s %s: a request header is invalid or too long", r->method, r->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);

        const char *m = r->method;
        bool has_body = r->body_len || r->on_read;
        bool sends = !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
        if (!strcmp(m, "HEAD"))
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (!strcmp(m, "GET") && !has_body)
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        else if (!has_body && !sends)
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
        else if (!strcmp(m, "POST") && !r->on_read) {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        } else {
                /* Everything else streams its body through read_cb: PUT and PATCH of a
                 * blob, a gRPC stream (POST with an unknown length), small JSON bodies. */
                if (!strcmp(m, "POST"))
                        curl_easy_setopt(h, CURLOPT_POST, 1L);
                else {
                        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                        if (strcmp(m, "PUT"))
                                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
                }
                curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
                curl_easy_setopt(h, CURLOPT_READDATA, r);
                curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
                curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
                if (r->upload_size != UINT64_MAX) {
                        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->upload_size);
                        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->upload_size);
                }
        }
        return 0;
}

void req_clear(struct http_req *r)
{
        curl_slist_free_all(r->headers);
        r->headers = NULL;
        free(r->url);
        free(r->method);
        free(r->name);
        free(r->peer);
        free(r->body);
        free(r->ca);
        free(r->cert);
        free(r->key);
        free(r->ca_setting);
        free(r->unix_socket);
        free(r->range);
        free(r->buf);
        r->url = r->method = r->name = r->peer = r->body = r->ca = r->cert = r->key = r->ca_setting = r->unix_socket =
                r->range = r->buf = NULL;
}

/* ---- results ---------------------------------------------------------------------- */

static int translate(struct http_req *r, CURLcode cc, berr *e)
{
        const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
        const char *target = r->is_unix ? r->unix_socket : r->url;
        switch (cc) {
        case CURLE_WRITE_ERROR:
        case CURLE_READ_ERROR:
        case CURLE_ABORTED_BY_CALLBACK:
                if (r->cancel && __atomic_load_n(r->cancel, __ATOMIC_ACQUIRE))
                        return berr_set(e, -ECANCELED, "%s %s: cancelled", r->method, r->url);
                if (r->data_error == -EFBIG && !r->streaming)
                        return berr_set(e, -EFBIG, "%s %s: the answer is larger than %zu bytes", r->method, r->url,
                                        r->max);
                if (r->data_error)
                        return r->data_error; /* the callback already said why */
                return berr_set(e, -EIO, "%s %s: %s", r->method, r->url, detail);
        case CURLE_OUT_OF_MEMORY:
                return berr_set(e, -ENOMEM, "%s %s: out of memory", r->method, r->url);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return berr_set(e, -EHOSTUNREACH, "%s %s: cannot resolve the host name (%s); check the URL and DNS",
                                r->method, r->url, detail);
        case CURLE_COULDNT_CONNECT: {
                long oserr = 0;
                curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
                if (r->is_unix)
                        return berr_set(e, oserr == ENOENT ? -ENOENT : -ECONNREFUSED,
                                        "cannot connect to %s (%s); is %s running and is this its socket?", r->name,
                                        oserr ? strerror((int)oserr) : detail, r->peer);
                return berr_set(e, -ECONNREFUSED, "%s is not reachable (%s); is %s up, and is the URL right?", r->name,
                                detail, r->peer);
        }
        case CURLE_OPERATION_TIMEDOUT:
                return berr_set(e, -ETIMEDOUT, "%s %s: timed out (%s); the link stalled or is too slow", r->method,
                                target, detail);
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                return berr_set(e, -EKEYREJECTED, "TLS with %s failed (%s): the server's certificate is not trusted: "
                                "check the CA file%s%s%s", r->name, detail, r->ca_setting ? " (" : "",
                                r->ca_setting ? r->ca_setting : "", r->ca_setting ? ")" : "");
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CONNECT_ERROR:
                return berr_set(e, -ECONNABORTED, "TLS with %s failed (%s): the handshake failed: check the CA file, "
                                "client certificate and key%s%s%s", r->name, detail, r->ca_setting ? " (" : "",
                                r->ca_setting ? r->ca_setting : "", r->ca_setting ? ")" : "");
        case CURLE_FILESIZE_EXCEEDED:
                return berr_set(e, -EFBIG, "%s %s: the answer is larger than allowed", r->method, r->url);
        default:
                return berr_set(e, -ECONNRESET, "%s %s: the connection broke (%s)", r->method, target, detail);
        }
}

int req_result(struct http_req *r, CURLcode cc, berr *e)
{
        long st = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
        r->resp.status = st;
        if (r->buf) {
                r->buf[r->len] = 0;
                r->resp.body = r->buf;
                r->resp.body_len = r->len;
        }
        curl_off_t up = 0, down = 0;
        long hdr = 0, req = 0;
        curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &up);
        curl_easy_getinfo(r->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
        curl_easy_getinfo(r->easy, CURLINFO_HEADER_SIZE, &hdr);
        curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &req);
        r->resp.bytes_sent = (uint64_t)up;
        r->resp.wire_bytes = (uint64_t)up + (uint64_t)down + (uint64_t)hdr + (uint64_t)req;
        if (cc == CURLE_OK)
                return 0;
        return translate(r, cc, e);
}
