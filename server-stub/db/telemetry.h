/* SPDX-License-Identifier: Apache-2.0 */
/* telemetry.h — agent telemetry of a target (configData tm.* keys), stored with the
 * attributes of the same request in one transaction.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server-stub/db/db.h"

/* One telemetry batch as the DDI layer validated it (see ddi/telemetry.h). */
struct sdb_tm_record {
        int64_t seq, ts;
        const char *kind, *source, *text;
};
struct sdb_tm_batch {
        const char *queue;
        int64_t first, last, dropped, pending;
        size_t n;
        const struct sdb_tm_record *rec;        /* seqs first … last, ascending */
};
/* A configData request: stores the new attributes (unless attrs_json is NULL; storing
 * them also ends the server's request for attributes) and, when tm is not NULL, the
 * batch, in one transaction. Records with seq ≤ the stored last seq of the same queue are ignored;
 * a new queue id deletes the old queue's records and starts a new sequence space. At
 * most keep records per target are kept (the newest). Returns how many records were new. */
int sdb_target_config_data(struct sdb *db, int64_t id, const char *attrs_json, const struct sdb_tm_batch *tm,
                           unsigned keep);
/* JSON object text of the target's telemetry: summary, newest record per source and the
 * records with seq > after (ascending, at most limit). 0 when the target is unknown. */
int sdb_target_telemetry_json(struct sdb *db, const char *cid, int64_t after, unsigned limit, char **ret);
