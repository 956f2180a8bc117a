/* SPDX-License-Identifier: Apache-2.0 */
/* bundles.h — uploaded bundles (artifacts) and their hashes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server-stub/db/db.h"

/* A .berth bundle (kind "berth": signed name and version, module type "bApp") or a plain
 * artifact (kind "plain": any file, with the software module's type, name and version
 * text an operator gave). */
struct sdb_bundle {
        int64_t id;
        char kind[8];                   /* berth | plain */
        char name[SDB_NAME_MAX + 1];
        int64_t version;                /* berth: the signed version; plain: 0 */
        char module_type[33];           /* DDI chunk "part": bApp, os, application, ... */
        char module_version[65];        /* DDI chunk "version" */
        char filename[SDB_NAME_MAX + 40];
        char path[4096];
        uint64_t size;
        char sha256[65], sha1[41], md5[33];
};

int sdb_bundle_add(struct sdb *db, struct sdb_bundle *b, berr *e);
int sdb_bundle_get(struct sdb *db, int64_t id, struct sdb_bundle *b);
int sdb_bundles_list(struct sdb *db, int (*fn)(void *ud, const struct sdb_bundle *b), void *ud);
