/* SPDX-License-Identifier: Apache-2.0 */
/* upload.c — blob uploads: cross-repository mount, monolithic PUT, resumable chunked
 * PATCH. Upload sessions are journalled (one file per registry, repository and blob)
 * before the first byte is sent and after every chunk, so the journal always names
 * the session state the registry last acknowledged. */
#include "registry/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "net/http.h"
#include "registry/auth.h"
#include "registry/reference.h"
#include "registry/client_int.h"

/* ---- upload journal: one file per (registry, repository, blob) holding the session URL ---- */

static char *journal_path(struct registry_client *c, const char *kind, const char *repo, const char *digest)
{
        if (!c->journal_dir)
                return NULL;
        _cleanup_free_ char *key = NULL;
        char hex[DIGEST_STR_LEN + 1];
        if (asprintf(&key, "%s\n%s\n%s", c->url, repo ? repo : "", digest) < 0)
                return NULL;
        if (sha256_buf_str(key, strlen(key), hex) < 0)
                return NULL;
        char *p;
        if (asprintf(&p, "%s/%s/%s", c->journal_dir, kind, digest_hex(hex)) < 0)
                return NULL;
        return p;
}

/* Replaces path with value via a temp file and rename(), without fsync: journal
 * entries are hints. After a power cut an entry may be old, empty or missing; the
 * registry is asked before an entry is trusted (GET on the session), and a bad one
 * only costs uploading that blob again. An fsync per chunk would cost more. */
static int write_hint(const char *path, const char *value)
{
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp.%d.%lx", path, (int)getpid(), (unsigned long)pthread_self()) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, value, strlen(value));
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}

static int journal_write(struct registry_client *c, const char *kind, const char *repo, const char *digest,
                         const char *value, berr *e)
{
        _cleanup_free_ char *p = journal_path(c, kind, repo, digest);
        if (!p)
                return c->journal_dir ? -ENOMEM : 0;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/%s", c->journal_dir, kind) < 0)
                return -ENOMEM;
        int r = mkdir_p(dir, 0700);
        if (r >= 0)
                r = write_hint(p, value);
        if (r < 0)
                return berr_set(e, r, "cannot write the registry upload journal %s (%s): check free space in the state directory",
                                p, strerror(-r));
        return 0;
}

static char *journal_read(struct registry_client *c, const char *kind, const char *repo, const char *digest)
{
        _cleanup_free_ char *p = journal_path(c, kind, repo, digest);
        char *buf = NULL;
        size_t len = 0;
        if (!p || read_file_bounded(p, 8192, &buf, &len) < 0)
                return NULL;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = 0;
        return buf;
}

static void journal_remove(struct registry_client *c, const char *kind, const char *repo, const char *digest)
{
        _cleanup_free_ char *p = journal_path(c, kind, repo, digest);
        if (p)
                (void)unlink(p);
}

/* Parses a "Range: 0-N" (or "bytes=0-N") upload status into the next offset. */
static int parse_upload_range(const char *range, uint64_t *ret)
{
        if (!range) {
                *ret = 0;
                return 0;
        }
        const char *s = range;
        if (!strncmp(s, "bytes=", 6))
                s += 6;
        char *end;
        errno = 0;
        unsigned long long a = strtoull(s, &end, 10);
        if (errno || *end != '-' || a != 0)
                return -EBADMSG;
        const char *s2 = end + 1;
        unsigned long long b = strtoull(s2, &end, 10);
        if (errno || end == s2 || *end)
                return -EBADMSG;
        /* distribution reports "0-0" both for an empty and a 1-byte session; the
         * PATCH's Content-Range check tells the two apart, so resume at 0 then. */
        *ret = b == 0 ? 0 : (uint64_t)b + 1;
        return 0;
}

/* Asks the registry how far an upload session got. Returns 1 and the offset when the
 * session is alive, 0 when it is gone (expired, cancelled, registry restarted). */
static int upload_status(struct registry_client *c, const char *repo, const char *location, uint64_t *offset,
                         berr *e)
{
        _cleanup_free_ char *scope = reg_scope_for(repo, "pull,push");
        if (!scope)
                return -ENOMEM;
        struct req q = {.method = "GET", .url = (char *)location, .scope = scope};
        struct resp r = {0};
        int rc = reg_do_request(c, &q, &r, e);
        if (rc < 0) {
                reg_resp_done(&r);
                return rc;
        }
        rc = 0;
        if (r.status == 204 && parse_upload_range(r.range, offset) >= 0)
                rc = 1;
        reg_resp_done(&r);
        return rc;
}

static int start_upload(struct registry_client *c, const char *repo, const char *digest, const char *mount_from,
                        char **ret_location, berr *e)
{
        _cleanup_free_ char *url = NULL;
        _cleanup_free_ char *scope = NULL;
        if (mount_from) {
                if (asprintf(&url, "%s/v2/%s/blobs/uploads/?mount=%s&from=%s", c->url, repo, digest, mount_from) < 0 ||
                    asprintf(&scope, "repository:%s:pull,push repository:%s:pull", repo, mount_from) < 0)
                        return -ENOMEM;
        } else {
                if (asprintf(&url, "%s/v2/%s/blobs/uploads/", c->url, repo) < 0 ||
                    !(scope = reg_scope_for(repo, "pull,push")))
                        return -ENOMEM;
        }
        struct req q = {.method = "POST", .url = url, .scope = scope};
        struct resp r = {0};
        int rc = reg_do_request(c, &q, &r, e);
        if (rc >= 0) {
                if (mount_from && r.status == 201)
                        rc = 2;
                else if (r.status == 202 && r.location) {
                        *ret_location = reg_resolve_location(c, r.location);
                        rc = *ret_location ? 0 : -ENOMEM;
                } else if (r.status == 202)
                        rc = berr_set(e, -EPROTO, "registry %s started an upload without a Location header", c->url);
                else
                        rc = reg_http_error(c, &r, "starting the upload", e);
        }
        reg_resp_done(&r);
        return rc;
}

static int check_committed(struct registry_client *c, const struct resp *r, const char *digest, berr *e)
{
        if (r->status != 201)
                return reg_http_error(c, r, "completing the upload", e);
        if (r->docker_digest && strcmp(r->docker_digest, digest))
                return berr_set(e, -EBADMSG, "registry %s stored the blob as %s instead of %s", c->url,
                                r->docker_digest, digest);
        return 0;
}

/* Uploads into the session at location (owned by us), or into a new one when NULL. */
static int upload_blob(struct registry_client *c, const char *repo, const char *digest, uint64_t size, int fd,
                       char *location_in, berr *e)
{
        _cleanup_free_ char *scope = reg_scope_for(repo, "pull,push");
        if (!scope)
                return -ENOMEM;
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        /* A journalled session from an earlier, interrupted run. */
        _cleanup_free_ char *location = location_in;
        uint64_t offset = 0;
        _cleanup_free_ char *old = location ? NULL : journal_read(c, "uploads", repo, digest);
        if (old) {
                int k = upload_status(c, repo, old, &offset, e);
                if (k < 0)
                        return k;
                if (k > 0 && offset <= size) {
                        location = TAKE_PTR(old);
                        c->stats.uploads_resumed++;
                } else
                        journal_remove(c, "uploads", repo, digest);
        }

        struct resp r = {0};
        int rc;
        if (!location) {
                rc = start_upload(c, repo, digest, NULL, &location, e);
                if (rc < 0)
                        return rc;
                offset = 0;
        }

        if (offset == 0 && size <= c->monolithic_max) {
                _cleanup_free_ char *put = reg_with_digest(location, digest);
                if (!put)
                        return -ENOMEM;
                struct req q = {.method = "PUT", .url = put, .scope = scope, .fd = fd, .len = size, .has_body = true};
                rc = reg_do_request(c, &q, &r, e);
                if (rc >= 0)
                        rc = check_committed(c, &r, digest, e);
                reg_resp_done(&r);
                if (rc >= 0)
                        c->stats.blobs_uploaded++;
                return rc;
        }

        /* Chunked: journal the session before sending, and after each acknowledged chunk. */
        rc = journal_write(c, "uploads", repo, digest, location, e);
        if (rc < 0)
                return rc;
        while (offset < size) {
                uint64_t n = size - offset < c->chunk_size ? size - offset : c->chunk_size;
                struct req q = {.method = "PATCH", .url = location, .scope = scope, .fd = fd, .off = offset,
                                .len = n, .has_body = true, .content_range = true, .range_start = offset};
                rc = reg_do_request(c, &q, &r, e);
                if (rc >= 0 && r.status == 416) {
                        /* The session is somewhere else than we thought: ask and continue there. */
                        uint64_t now = 0;
                        reg_resp_done(&r);
                        int k = upload_status(c, repo, location, &now, e);
                        if (k < 0)
                                return k;
                        if (k == 0 || now > size) {
                                journal_remove(c, "uploads", repo, digest);
                                return berr_set(e, -EAGAIN,
                                                "registry %s lost the upload session: rerun to upload the blob again",
                                                c->url);
                        }
                        offset = now;
                        continue;
                }
                if (rc >= 0 && (r.status != 202 || !r.location))
                        rc = reg_http_error(c, &r, "uploading a chunk", e);
                if (rc < 0) {
                        reg_resp_done(&r);
                        return berr_prefix(e, rc, "at byte %" PRIu64 " of %" PRIu64, offset, size);
                }
                _cleanup_free_ char *next = reg_resolve_location(c, r.location);
                reg_resp_done(&r);
                if (!next)
                        return -ENOMEM;
                free(location);
                location = TAKE_PTR(next);
                offset += n;
                rc = journal_write(c, "uploads", repo, digest, location, e);
                if (rc < 0)
                        return rc;
        }
        _cleanup_free_ char *put = reg_with_digest(location, digest);
        if (!put)
                return -ENOMEM;
        struct req q = {.method = "PUT", .url = put, .scope = scope};
        rc = reg_do_request(c, &q, &r, e);
        if (rc >= 0)
                rc = check_committed(c, &r, digest, e);
        reg_resp_done(&r);
        if (rc < 0)
                return rc;
        journal_remove(c, "uploads", repo, digest);
        c->stats.blobs_uploaded++;
        return 0;
}

int registry_blob_push(struct registry_client *c, const char *repo, const char *digest, uint64_t size, int fd,
                       berr *e)
{
        int rc;
        if (registry_client_knows(c, repo, digest))
                return 1;
        rc = registry_blob_exists(c, repo, digest, size, e);
        if (rc < 0)
                return rc;
        if (rc > 0) {
                c->stats.blobs_present++;
                registry_client_note_blob(c, repo, digest);
                return 1;
        }

        /* Mount from a repository that has it (seen in this run, else remembered),
         * unless an interrupted upload of ours is waiting to be resumed. */
        _cleanup_free_ char *hint = NULL, *pending = journal_read(c, "uploads", repo, digest);
        const char *from = reg_known_elsewhere(c, repo, digest);
        if (!from && (hint = journal_read(c, "mounts", NULL, digest)) && strcmp(hint, repo) &&
            repository_name_valid(hint))
                from = hint;
        char *loc = NULL;
        if (from && !pending) {
                rc = start_upload(c, repo, digest, from, &loc, e);
                if (rc < 0)
                        return rc;
                if (rc == 2) {
                        c->stats.blobs_mounted++;
                        registry_client_note_blob(c, repo, digest);
                        return 2;
                }
                /* Not mountable (source gone): the registry opened a normal session instead. */
        }
        rc = upload_blob(c, repo, digest, size, fd, loc, e);
        if (rc < 0)
                return rc;
        registry_client_note_blob(c, repo, digest);
        (void)journal_write(c, "mounts", NULL, digest, repo, NULL);
        return 0;
}
