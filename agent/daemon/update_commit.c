/* SPDX-License-Identifier: Apache-2.0 */
/* update_commit.c — the update state machine's step from `fetching` to `staged`, once
 * every blob this gateway needs is in the store: the artifact's sha256 against the
 * deployment, then the store import with its preload, on a thread of its own.
 * See update.c for the whole machine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/log.h"
#include "daemon/agent_int.h"
#include "daemon/bgjob.h"
#include "daemon/update_int.h"
#include "fetch/rebuild.h"

/* Reading the artifact back for its sha256 and the store import with its preload read and
 * write the whole bundle (seconds to minutes on a gateway's flash): they run in a bgjob,
 * so polls, the control socket, probes and the watchdog go on meanwhile. The job owns
 * everything it uses (the verified head moves into it, the head bytes are copied); when
 * the action ends while it runs (canceled, superseded), its result is only logged, and
 * the next action's step waits for it (one commit thread at a time). */
struct update_commit {
        struct agent *a;                /* for done(), on the loop only */
        struct bgjob *job;
        char act_id[sizeof(((struct agent_action *)0)->id)];
        struct import_opts o;           /* points into the agent's settings: they outlive it */
        struct import_head *head;       /* the verified head, moved from a->upd.head */
        uint8_t *head_bytes;
        size_t head_len;
        uint64_t artifact_size;
        char want[DIGEST_HEX_LEN + 1];  /* the deployment's sha256, "" for none */
        char got[DIGEST_HEX_LEN + 1];   /* what the bytes here hash to */
        bool hash_failed;               /* r < 0 came from the hash step */
        struct import_result res;
        berr e;
};

static void commit_free(struct update_commit *c)
{
        if (!c)
                return;
        import_head_free(c->head);
        free(c->head_bytes);
        free(c);
}

/* On the job's thread: touches nothing but c. */
static int commit_work(void *ud)
{
        struct update_commit *c = ud;
        if (c->want[0]) {
                _cleanup_(content_store_freep) struct content_store *cs = NULL;
                int r = content_store_open(c->o.state_dir, &cs, &c->e);
                if (r >= 0)
                        r = fetch_rebuild_sha256(import_head_manifest(c->head), c->head_bytes, c->head_len,
                                                 c->artifact_size, cs, c->got, &c->e);
                if (r >= 0 && strcmp(c->got, c->want))
                        r = -EBADMSG;
                if (r < 0) {
                        c->hash_failed = true;
                        return r;
                }
        }
        FAULT_POINT("update.commit_thread");
        return berth_import_stored(&c->o, c->head_bytes, c->head_len, &c->res, &c->e);
}

/* The deployment's sha256 of the artifact against the bytes the agent holds (rebuild.h):
 * the action failed (or retried when a blob vanished) when they disagree. */
static void commit_hash_failed(struct agent *a, struct update_commit *c, int r)
{
        char l[200], msg[700];
        upd_label(a, l);
        if (r == -ENOENT)
                upd_retry(a, r, berr_msg(&c->e, r)); /* a blob vanished: plan again */
        else if (r == -EBADMSG && c->got[0]) {
                snprintf(msg, sizeof msg, "%s: the deployment names the artifact's sha256 %s, but the bytes downloaded "
                         "and verified here hash to %s; the server's artifact and its metadata disagree, nothing was "
                         "installed (upload the bundle again)", l, c->want, c->got);
                upd_fail(a, -EBADMSG, msg);
        } else {
                snprintf(msg, sizeof msg, "cannot check %s against the deployment's sha256: %s", l, berr_msg(&c->e, r));
                upd_fail(a, r, msg);
        }
}

static void commit_done(void *ud, int r)
{
        struct update_commit *c = ud;
        struct agent *a = c->a;
        a->upd.commit = NULL;
        if (!a->upd.have_act || strcmp(a->upd.act.id, c->act_id)) {
                /* Canceled or superseded meanwhile: a stored bundle is harmless (nothing
                 * switched to it). A waiting action goes on now. */
                log_info("agent: the store import of action %s ended after the action did: %s", c->act_id,
                         r < 0 ? berr_msg(&c->e, r) : "stored and preloaded");
                commit_free(c);
                if (a->upd.have_act)
                        upd_later(a, 0);
                return;
        }
        ACT_LOG_SCOPE(a);
        if (!a->upd.head)
                a->upd.head = TAKE_PTR(c->head);
        char l[200];
        upd_label(a, l);
        if (r < 0 && c->hash_failed) {
                commit_hash_failed(a, c, r);
                commit_free(c);
                return;
        }
        if (c->want[0])
                log_info("agent: %s: the artifact's sha256 %s matches the deployment", l, c->got);
        if (r == -ENOENT) {
                /* A blob vanished from the store (garbage collection?), or containerd lost a
                 * layer it held unpacked (the import forgot it: import/held.h): plan again. */
                free(a->upd.plan);
                a->upd.plan = NULL;
                upd_need_clear(a);
                upd_retry(a, r, berr_msg(&c->e, r));
                commit_free(c);
                return;
        }
        if (r < 0) {
                upd_fail(a, r, berr_msg(&c->e, r));
                commit_free(c);
                return;
        }
        commit_free(c);
        r = agentdb_action_set_state(a->db, a->upd.act.id, ACTION_STAGED, NULL, agent_now());
        if (r < 0) {
                upd_stuck(a, r, "the state 'staged'");
                return;
        }
        FAULT_POINT("update.after_staged");
        snprintf(a->upd.act.state, sizeof a->upd.act.state, "%s", ACTION_STAGED);
        uint64_t us = agent_mono_usec(a) - a->upd.fetch_start_usec;
        log_info("agent: %s stored and preloaded: %llu bytes downloaded in %.2f s (%.0f KiB/s)", l,
                 (unsigned long long)a->upd.fetched, (double)us / 1e6,
                 us ? (double)a->upd.fetched / 1024.0 / ((double)us / 1e6) : 0.0);
        /* The action's own figures (over restarts): from site peers and over the WAN. */
        telemetry_event(a, "agent", "update %s staged: %llu bytes downloaded, %llu from site peers, %llu over the WAN", l,
                        (unsigned long long)a->upd.act.fetched, (unsigned long long)a->upd.act.peer_fetched,
                        (unsigned long long)(a->upd.act.fetched - a->upd.act.peer_fetched));
        telemetry_kick(a); /* the download no longer holds telemetry back */
        upd_maybe_switch(a);
}

void upd_commit(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        agent_status(a, "%s: importing into the store", upd_label(a, l));
        struct update_commit *c = calloc(1, sizeof *c);
        if (!c || !(c->head_bytes = malloc(a->upd.act.head_len ? a->upd.act.head_len : 1))) {
                free(c);
                upd_retry(a, -ENOMEM, "out of memory");
                return;
        }
        c->a = a;
        snprintf(c->act_id, sizeof c->act_id, "%s", a->upd.act.id);
        c->o = (struct import_opts){
                .state_dir = a->set.state_dir,
                .trust_dir = a->set.trust_dir,
                .source = "ddi",
                .backends = a->backends,
                .n_backends = a->n_backends,
                .config = a->cfg,
        };
        memcpy(c->head_bytes, a->upd.act.head, a->upd.act.head_len);
        c->head_len = a->upd.act.head_len;
        c->artifact_size = a->upd.act.size;
        snprintf(c->want, sizeof c->want, "%s", a->upd.act.sha256);
        if (c->want[0] && (a->upd.need || a->upd.held)) {
                /* The artifact holds blobs this node never fetched (other platforms', or
                 * layers containerd holds unpacked): its bytes cannot be rebuilt. The signed
                 * manifest names every blob's digest, and each fetched blob was checked
                 * against it. */
                log_info("agent: %s: the artifact's sha256 is not checked: this gateway fetched only the blobs "
                         "%s", l, a->upd.need ? "of its platform" : "it does not hold unpacked");
                c->want[0] = 0;
        }
        c->head = TAKE_PTR(a->upd.head);
        berr e = {0};
        int r = bgjob_start(a->ev, "update-commit", commit_work, commit_done, c, &c->job, &e);
        if (r < 0) {
                a->upd.head = TAKE_PTR(c->head);
                commit_free(c);
                upd_retry(a, r, berr_msg(&e, r));
                return;
        }
        a->upd.commit = c;
}

/* At shutdown: the import thread finishes (the loop waits), its result is dropped; the
 * next start resumes the action from its persisted state. */
void upd_commit_stop(struct agent *a)
{
        struct update_commit *c = a->upd.commit;
        if (!c)
                return;
        log_info("agent: waiting for the store import of action %s to finish", c->act_id);
        bgjob_wait_free(c->job);
        commit_free(c);
        a->upd.commit = NULL;
}
