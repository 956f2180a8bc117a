/* SPDX-License-Identifier: Apache-2.0 */
/* peer_head.c — an installed bundle's signed head, rebuilt from the DB for site peers
 * (import.h: import_installed_head). */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "bundle/rootstore.h"
#include "bundle/writer.h"
#include "import/import.h"
#include "store/db.h"

int import_installed_head(const char *state_dir, const char *trust_dir, const char *name, int64_t version, void **ret,
                          size_t *ret_len, berr *e)
{
        _cleanup_(db_closep) struct berth_db *db = NULL;
        int r = db_open(state_dir, &db, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *m = NULL, *sigs = NULL, *roots = NULL;
        size_t mlen = 0, slen = 0, rlen = 0;
        if (db_get_manifest(db, name, version, &m, &mlen) < 0 || db_get_signatures(db, name, version, &sigs, &slen) < 0)
                return berr_set(e, -ENOENT, "bundle %s %lld is not installed here", name, (long long)version);
        /* The trust roots this node accepted, so a peer whose root is older can follow. */
        _cleanup_(root_store_freep) struct root_store *rs = NULL;
        struct root_chain *chain = NULL;
        if (root_store_open_state(trust_dir, state_dir, ROOT_STORE_READONLY, &rs, NULL) >= 0 &&
            root_store_chain(rs, 0, &chain, NULL) >= 0 && chain) {
                if (root_chain_serialize(chain, &roots, &rlen) < 0)
                        roots = NULL, rlen = 0;
                root_chain_free(chain);
        }
        _cleanup_close_ int fd = memfd_create("berth-head", MFD_CLOEXEC);
        if (fd < 0)
                return berr_set(e, -errno, "cannot create a memory file: %m");
        _cleanup_(bundle_writer_freep) struct bundle_writer *w = NULL;
        r = bundle_writer_new(fd, &w, e);
        if (r >= 0)
                r = bundle_writer_head(w, m, mlen, sigs, slen, e);
        if (r >= 0 && rlen)
                r = bundle_writer_roots(w, roots, rlen, e);
        if (r >= 0)
                r = bundle_writer_close(w, e);
        if (r < 0)
                return r;
        off_t size = lseek(fd, 0, SEEK_END);
        if (size <= 0)
                return berr_set(e, -EIO, "building the head of %s %lld failed", name, (long long)version);
        void *buf = malloc((size_t)size);
        if (!buf)
                return berr_set(e, -ENOMEM, "out of memory");
        if (pread(fd, buf, (size_t)size, 0) != size) {
                free(buf);
                return berr_set(e, -EIO, "reading back the head of %s %lld failed", name, (long long)version);
        }
        *ret = buf;
        *ret_len = (size_t)size;
        return 0;
}
