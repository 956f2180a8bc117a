/* SPDX-License-Identifier: Apache-2.0 */
/* leases.h — containerd leases: everything created under a lease is safe from
 * containerd's garbage collector until the lease is deleted or expires.
 */
#pragma once

#include <stdint.h>

#include "base/err.h"
#include "containerd/client.h"

/* Leases.Create with containerd.io/gc.expire = now + expire_s (so a lease of a
 * process that died does not pin content forever). An existing lease of that id is
 * fine (a rerun after a crash continues under it). */
int ctrd_lease_create(struct ctrd *c, const char *id, uint64_t expire_s, berr *e);
/* Leases.Delete; a missing lease is fine. */
int ctrd_lease_delete(struct ctrd *c, const char *id, berr *e);
