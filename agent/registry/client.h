/* SPDX-License-Identifier: Apache-2.0 */
/* client.h — a client for the OCI distribution API (push side) on berth's HTTP
 * transport (net/http.h).
 *
 * Owns one blocking HTTP session (connections are reused, HTTP/1.1), the
 * authentication state (basic credentials; bearer tokens from the distribution token
 * flow, refreshed on 401) and the upload journal that lets an interrupted chunked
 * upload resume in a later run. Credentials cross plain HTTP only to a loopback
 * registry or with registry.insecure. Blobs are streamed from a file descriptor with
 * pread(); nothing is copied whole into memory. Messages name the registry,
 * repository and blob.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The mirror is on the local network: large chunks keep round trips few; a blob up
 * to MONOLITHIC_MAX goes up in one PUT, larger ones in resumable chunks. */
#define REGISTRY_DEFAULT_CHUNK_SIZE (64u * 1024 * 1024)
#define REGISTRY_DEFAULT_MONOLITHIC_MAX (64u * 1024 * 1024)
#define REGISTRY_MIN_CHUNK_SIZE (64u * 1024)
#define REGISTRY_MAX_MANIFEST_SIZE (4u * 1024 * 1024)
#define REGISTRY_DEFAULT_PARALLEL 4u
#define REGISTRY_MAX_PARALLEL 16u

struct registry_transport; /* client_int.h: the seam under the client, for unit tests */

struct registry_opts {
        const char *url;            /* "http://host:port" or "https://host[:port]" */
        const char *ca_file;        /* PEM bundle to verify an https registry; NULL = system CAs */
        const char *username;       /* basic credentials, also sent to the token endpoint */
        const char *password;
        const char *password_file;  /* read when password is NULL */
        bool insecure;              /* https without certificate verification (testing only) */
        const char *prefix;         /* repository prefix on the mirror ("" = none) */
        uint64_t chunk_size;        /* bytes per PATCH; 0 = default */
        uint64_t monolithic_max;    /* blobs up to this size go in one PUT; 0 = default */
        const char *journal_dir;    /* where upload sessions are journalled; NULL = no resume */
        long timeout_s;             /* connect timeout and stall limit; 0 = 30 s */
        unsigned parallel;          /* blobs uploaded at once; 0 = default (4), 1 = one by one */
        const struct registry_transport *transport; /* NULL: HTTP (net/http.h) */
};

struct registry_stats {
        unsigned requests;
        unsigned blobs_present;     /* HEAD said the repository has it */
        unsigned blobs_mounted;     /* cross-repository mount */
        unsigned blobs_uploaded;
        unsigned uploads_resumed;
        unsigned manifests_present;
        unsigned manifests_pushed;  /* PUTs, by digest and by tag */
        uint64_t bytes_uploaded;
};

struct registry_client;

int registry_client_new(const struct registry_opts *o, struct registry_client **ret, berr *e);
void registry_client_free(struct registry_client *c);
/* The registry URL without a trailing slash, for messages. */
const char *registry_client_url(const struct registry_client *c);
const char *registry_client_prefix(const struct registry_client *c);
const struct registry_stats *registry_client_stats(const struct registry_client *c);

/* 1 when repo has the blob (HEAD), 0 when not or when the registry cannot tell (HTTP 5xx:
 * the upload that follows finds out). A size mismatch is -EBADMSG. */
int registry_blob_exists(struct registry_client *c, const char *repo, const char *digest, uint64_t size,
                         berr *e);

/* Makes repo hold the blob (digest, size) read from fd at offset 0: HEAD first, then a
 * cross-repository mount when another repository on this registry is known to have it,
 * then a resumed upload session from the journal, else a new upload (one PUT up to
 * monolithic_max, chunked PATCHes above). Returns 0 uploaded, 1 already present,
 * 2 mounted. */
int registry_blob_push(struct registry_client *c, const char *repo, const char *digest, uint64_t size, int fd,
                       berr *e);

/* 1 when repo resolves reference (a tag or digest) to exactly digest, 0 otherwise. */
int registry_manifest_exists(struct registry_client *c, const char *repo, const char *reference,
                             const char *digest, berr *e);

/* PUTs the exact bytes of a manifest or index under reference (its digest or a tag)
 * with Content-Type media_type, and checks the digest the registry computed. */
int registry_manifest_put(struct registry_client *c, const char *repo, const char *reference,
                          const char *media_type, const void *data, size_t len, const char *digest, berr *e);

/* How many blobs to upload at once (opts.parallel). */
unsigned registry_client_parallel(const struct registry_client *c);
/* A second client with the same settings and credentials (own connection), for a
 * worker thread: clients are not shared between threads. */
int registry_client_clone(const struct registry_client *c, struct registry_client **ret);
/* Adds a clone's counters to c's. */
void registry_client_add_stats(struct registry_client *c, const struct registry_stats *s);

/* Remembers that repo holds digest (in this run), so later pushes skip or mount it. */
void registry_client_note_blob(struct registry_client *c, const char *repo, const char *digest);
/* True when this run already saw repo holding digest. */
bool registry_client_knows(struct registry_client *c, const char *repo, const char *digest);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct registry_client *, registry_client_free)
