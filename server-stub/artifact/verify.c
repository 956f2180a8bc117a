/* SPDX-License-Identifier: Apache-2.0 */
/* verify.c — verification of an uploaded .berth file with agent/bundle's reader.
 *
 * The whole file is read once: the trust roots it carries (walked from the server's current
 * root, accepted ones kept in STATE/trust) → signatures (the current root's release keys,
 * k-of-n) → manifest → every blob's digest → canonical end of archive. Only then is the
 * bundle deployable.
 */
#include "server-stub/artifact/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "bundle/format.h"
#include "bundle/reader.h"
#include "bundle/rootstore.h"

int artifact_verify_bundle(const char *path, const char *trust_dir, const char *state_dir, char **ret_name,
                           int64_t *ret_version, berr *e)
{
        _cleanup_(root_store_freep) struct root_store *roots = NULL;
        int r = root_store_open_state(trust_dir, state_dir, 0, &roots, e);
        if (r < 0)
                return berr_prefix(e, r, "trust directory %s", trust_dir);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open %s: %m", path);
        _cleanup_(bundle_reader_freep) struct bundle_reader *rd = NULL;
        r = bundle_reader_new(fd, "upload", &rd, e);
        if (r < 0) {
                close(fd);
                return r;
        }
        if ((r = bundle_reader_read_head(rd, e)) < 0)
                return r;
        const void *rr;
        size_t rl;
        bundle_reader_roots(rd, &rr, &rl);
        if (rr && (r = root_store_advance_json(roots, rr, rl, BUNDLE_ROOTS_ENTRY, e)) < 0)
                return berr_prefix(e, r, "the trust roots the bundle carries were refused");
        if ((r = bundle_reader_verify(rd, root_store_trust(roots), now_seconds(), e)) < 0)
                return r;
        for (;;) {
                const struct bundle_blob *b;
                r = bundle_reader_next_blob(rd, &b, e);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if ((r = bundle_reader_stream_blob(rd, NULL, NULL, e)) < 0)
                        return r;
        }
        if ((r = bundle_reader_finish(rd, e)) < 0)
                return r;
        const struct bundle_manifest *m = bundle_reader_manifest(rd);
        char *name = strdup(m->name);
        if (!name)
                return -ENOMEM;
        *ret_name = name;
        *ret_version = m->version;
        return 0;
}
