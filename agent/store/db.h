/* SPDX-License-Identifier: Apache-2.0 */
/* db.h — berth's state database (SQLite, STATE/berth.db).
 *
 * WAL, synchronous=FULL, foreign keys on; every change is one transaction. Statements go
 * through store/sql.h, which maps SQLite errors once. The schema is migrated forward on open (PRAGMA
 * user_version); a newer schema than this binary knows is refused.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/manifest.h"

struct berth_db;

struct db_bundle {
        char *name;
        int64_t version;
        char digest[DIGEST_STR_LEN + 1];
        int64_t created;
        int64_t expires;
        int64_t imported_at;
        char *source;
        uint64_t size;
        unsigned n_images;
};

int db_open(const char *state_dir, struct berth_db **ret, berr *e);
void db_close(struct berth_db *db);
/* Highest installed version of a bundle name: 1 and fills out-params when there is one, 0 when none. */
int db_installed(struct berth_db *db, const char *name, int64_t *ret_version, char ret_digest[DIGEST_STR_LEN + 1]);
/* Records an imported bundle (manifest and signature bytes verbatim), its images and blobs. */
int db_record_bundle(struct berth_db *db, const struct bundle_manifest *m, const void *manifest, size_t mlen,
                     const void *sigs, size_t slen, const char *source, int64_t now, berr *e);
typedef int (*db_bundle_fn)(void *userdata, const struct db_bundle *b);
int db_list_bundles(struct berth_db *db, db_bundle_fn fn, void *userdata);
struct db_image {
        const char *ref;
        const char *digest;
        const char *media_type;
        uint64_t size;
};
typedef int (*db_image_fn)(void *userdata, const struct db_image *im);
int db_list_images(struct berth_db *db, const char *name, int64_t version, db_image_fn fn, void *userdata);
/* Exact manifest bytes of an installed bundle version. */
int db_get_manifest(struct berth_db *db, const char *name, int64_t version, char **ret, size_t *ret_len);
/* Exact signatures.json bytes it was installed with (to re-check it under a newer trust root). */
int db_get_signatures(struct berth_db *db, const char *name, int64_t version, char **ret, size_t *ret_len);
/* Layers held only unpacked (import/held.h), by held key: add (or refresh), look up
 * (1 held, 0 not), forget. */
int db_unpacked_add(struct berth_db *db, const char *key, int64_t now, berr *e);
int db_unpacked_has(struct berth_db *db, const char *key, berr *e);
int db_unpacked_forget(struct berth_db *db, const char *key, berr *e);
/* When the newest recorded bundle that lists blob digest was imported: 1 with *ret, 0 when
 * no bundle lists it. */
int db_blob_last_import(struct berth_db *db, const char *digest, int64_t *ret, berr *e);
/* Path of the database file. */
const char *db_path(struct berth_db *db);
/* The sentence of the last failed statement (store/sql.c), "" when none; for APIs without a berr. */
const char *db_last_error(struct berth_db *db);
int db_last_errno(struct berth_db *db);
void db_set_last_error(struct berth_db *db, const berr *e);
/* Low-level escape hatch for modules that add their own tables (migrations live in db.c). */
struct sqlite3 *db_handle(struct berth_db *db);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct berth_db *, db_close)
