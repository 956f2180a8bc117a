/* SPDX-License-Identifier: Apache-2.0 */
/* db.h — berth-server's persistent state in SQLite (WAL, foreign keys, migrations).
 *
 * The only module that includes sqlite3.h (in db_int.h). One connection guarded by a
 * mutex; every statement is prepared once at open. Every state transition is one
 * transaction. Functions of every family return 0/1 (not found/found) or a negative
 * errno. The tables have a header each: targets.h, telemetry.h, actions.h, bundles.h,
 * rollouts.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SDB_CID_MAX 128
#define SDB_NAME_MAX 128

struct sdb;

enum action_status {
        ACTION_SCHEDULED = 0,   /* created, target has not reported yet */
        ACTION_RUNNING,         /* target reported progress */
        ACTION_CANCELING,       /* cancel requested, target not yet confirmed */
        ACTION_SUCCESS,
        ACTION_FAILURE,
        ACTION_CANCELED,
        _ACTION_STATUS_MAX,
};
const char *action_status_str(int s);

int sdb_open(const char *path, struct sdb **ret, berr *e);
void sdb_close(struct sdb *db);
