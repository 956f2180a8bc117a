/* SPDX-License-Identifier: Apache-2.0 */
/* test_update.c — the daemon's update state machine (daemon/update*.c) on its event
 * loop, with the store backend, against in-process HTTP peers: the artifact from a
 * ranged file server (rangesrv.h) and the feedback into a sink that keeps every body.
 * A deployment installs and its feedback says so once; a cut transfer resumes without
 * fetching a byte twice; an agent stopped mid-download resumes the same action after a
 * restart (without its head again) and switches once the server's deployment is seen
 * again; an artifact that is not a .berth fails for good; an update larger than the
 * data budget is refused after its head.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <systemd/sd-event.h>

#include "config/config.h"
#include "daemon/agent_int.h"
#include "fixture.h"
#include "rangesrv.h"

/* ---- the feedback sink: answers 200, keeps the bodies -------------------------------- */

struct sink {
        struct test_server t;
        pthread_mutex_t lock;
        char *bodies[64];
        size_t n;
};

static void *sink_main(void *ud)
{
        struct sink *s = ud;
        for (;;) {
                int c = accept(s->t.fd, NULL, NULL);
                if (c < 0)
                        break;
                /* One request per connection (Connection: close). */
                char buf[65536];
                size_t got = 0;
                long want = -1;
                char *body = NULL;
                while (got < sizeof buf - 1) {
                        ssize_t k = recv(c, buf + got, sizeof buf - 1 - got, 0);
                        if (k <= 0)
                                break;
                        got += (size_t)k;
                        buf[got] = 0;
                        body = strstr(buf, "\r\n\r\n");
                        if (body && want < 0) {
                                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                                want = cl && cl < body ? strtol(cl + 17, NULL, 10) : 0;
                        }
                        if (body && (long)(got - (size_t)(body + 4 - buf)) >= want)
                                break;
                }
                if (body && want > 0) {
                        pthread_mutex_lock(&s->lock);
                        if (s->n < ELEMENTSOF(s->bodies))
                                s->bodies[s->n++] = strndup(body + 4, (size_t)want);
                        pthread_mutex_unlock(&s->lock);
                }
                static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                rangesrv_send(c, ok, sizeof ok - 1);
                close(c);
        }
        return NULL;
}

/* The feedback bodies so far, joined. */
static char *sink_text(struct sink *s)
{
        pthread_mutex_lock(&s->lock);
        size_t len = 1;
        for (size_t i = 0; i < s->n; i++)
                len += strlen(s->bodies[i]) + 1;
        char *t = calloc(1, len);
        for (size_t i = 0; i < s->n; i++) {
                strcat(t, s->bodies[i]);
                strcat(t, "\n");
        }
        pthread_mutex_unlock(&s->lock);
        return t;
}

/* ---- an agent with the store backend ------------------------------------------------- */

struct env {
        struct fixture f;
        char *file;                     /* the .berth */
        uint8_t *art;
        size_t art_len;
        char sha[DIGEST_HEX_LEN + 1];
        struct rangesrv srv;
        struct sink sink;
        struct berth_config *cfg;
        struct agent a;
        char url[200];
};

static void agent_open(struct env *v)
{
        struct agent *a = &v->a;
        *a = (struct agent) {.cfg = v->cfg, .upd = {.update_allowed = -1, .download_allowed = -1, .last_pct = -1}};
        berr e = {0};
        assert_int_equal(agent_settings_load(v->cfg, &a->set, &e), 0);
        assert_true(asprintf(&a->base_url, "http://127.0.0.1:%d/default/controller/v1/gw", v->sink.t.port) > 0);
        assert_int_equal(db_open(a->set.state_dir, &a->db, &e), 0);
        assert_int_equal(content_store_open(a->set.state_dir, &a->cs, &e), 0);
        const struct import_backends_opts bo = {.names = "store"};
        assert_int_equal(import_backends_new(v->cfg, &bo, a->backends, &a->n_backends, &e), 0);
        assert_true(sd_event_new(&a->ev) >= 0);
        assert_int_equal(http_loop_new(a->ev, &a->http, &e), 0);
        assert_int_equal(budget_start(a, &e), 0);
}

static void agent_close(struct env *v)
{
        struct agent *a = &v->a;
        update_stop(a);
        outbox_stop(a);
        budget_stop(a);
        http_loop_free(a->http);
        import_backends_free(a->backends, a->n_backends);
        content_store_free(a->cs);
        db_close(a->db);
        free(a->base_url);
        agent_settings_clear(&a->set);
        sd_event_unref(a->ev);
}

static struct env *env_new(const char *budget)
{
        struct env *v = calloc(1, sizeof *v);
        fx_init(&v->f, 3, 40000);
        v->file = fx_default_bundle(&v->f, "app-1.berth", 1);
        size_t len;
        assert_int_equal(read_file_bounded(v->file, 16u << 20, (char **)&v->art, &len), 0);
        v->art_len = len;
        char d[DIGEST_STR_LEN + 1];
        assert_int_equal(sha256_buf_str(v->art, len, d), 0);
        snprintf(v->sha, sizeof v->sha, "%s", digest_hex(d));
        v->srv = (struct rangesrv) {.file = v->art, .file_len = v->art_len};
        rangesrv_start(&v->srv);
        pthread_mutex_init(&v->sink.lock, NULL);
        test_server_start(&v->sink.t, sink_main, &v->sink);
        snprintf(v->url, sizeof v->url, "http://127.0.0.1:%d/app-1.berth", v->srv.t.port);

        char *state = path_join(v->f.dir, "state");
        v->cfg = config_new_empty();
        assert_non_null(v->cfg);
        assert_int_equal(config_set(v->cfg, "state_dir", state), 0);
        assert_int_equal(config_set(v->cfg, "trust_dir", v->f.trust), 0);
        assert_int_equal(config_set(v->cfg, "server.url", "http://127.0.0.1:1"), 0);
        assert_int_equal(config_set(v->cfg, "server.insecure", "true"), 0);
        assert_int_equal(config_set(v->cfg, "server.retry_min", "1"), 0);
        assert_int_equal(config_set(v->cfg, "server.retry_max", "1"), 0);
        assert_int_equal(config_set(v->cfg, "telemetry.enabled", "false"), 0);
        assert_int_equal(config_set(v->cfg, "update.backends", "store"), 0);
        if (budget)
                assert_int_equal(config_set(v->cfg, "budget.limit", budget), 0);
        free(state);
        agent_open(v);
        return v;
}

static void env_free(struct env *v)
{
        agent_close(v);
        rangesrv_stop(&v->srv);
        test_server_stop(&v->sink.t);
        for (size_t i = 0; i < v->sink.n; i++)
                free(v->sink.bodies[i]);
        config_free(v->cfg);
        free(v->art);
        free(v->file);
        fx_done(&v->f);
        free(v);
}

static void deploy(struct env *v, const char *id)
{
        struct ddi_deployment d = {
                .dl = DDI_FORCED,
                .update = DDI_FORCED,
                .maintenance = -1,
                .name = (char *)"app",
                .version = (char *)"1",
                .filename = (char *)"app-1.berth",
                .size = v->art_len,
                .download = v->url,
        };
        snprintf(d.id, sizeof d.id, "%s", id);
        snprintf(d.sha256, sizeof d.sha256, "%s", v->sha);
        update_on_deployment(&v->a, &d);
}

/* Runs the loop until the action is in one of the states (comma separated) and the
 * sink holds its final feedback, or 20 s pass. */
static void run_until(struct env *v, const char *id, const char *states, bool final_feedback)
{
        for (int i = 0; i < 2000; i++) {
                assert_true(sd_event_run(v->a.ev, 10000) >= 0);
                struct agent_action act;
                if (agentdb_action_get(v->a.db, id, &act) > 0) {
                        bool in = strstr(states, act.state) != NULL;
                        agent_action_clear(&act);
                        _cleanup_free_ char *t = sink_text(&v->sink);
                        if (in && (!final_feedback || strstr(t, "\"closed\"")))
                                return;
                }
        }
        fail_msg("action %s did not reach %s", id, states);
}

static const char *state_of(struct env *v, const char *id, char buf[16])
{
        struct agent_action act;
        assert_int_equal(agentdb_action_get(v->a.db, id, &act), 1);
        snprintf(buf, 16, "%s", act.state);
        agent_action_clear(&act);
        return buf;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_install(void **state)
{
        (void)state;
        struct env *v = env_new(NULL);
        deploy(v, "1");
        run_until(v, "1", ACTION_INSTALLED, true);
        _cleanup_free_ char *t = sink_text(&v->sink);
        assert_non_null(strstr(t, "\"proceeding\""));
        assert_non_null(strstr(t, "\"success\""));
        assert_non_null(strstr(t, "bytes downloaded in 2 HTTP request(s)"));
        /* Exactly one final feedback. */
        const char *c = strstr(t, "\"closed\"");
        assert_non_null(c);
        assert_null(strstr(c + 1, "\"closed\""));
        for (size_t i = 0; i < v->f.n_blobs; i++)
                assert_true(content_has(v->a.cs, v->f.digest[i], v->f.blob_len[i]));
        int64_t ver = 0;
        assert_int_equal(db_installed(v->a.db, "app", &ver, NULL), 1);
        assert_int_equal(ver, 1);
        env_free(v);
}

static void test_cut_resumes(void **state)
{
        (void)state;
        struct env *v = env_new(NULL);
        v->srv.cut_after = 0;
        deploy(v, "2");
        /* The blob request (after the head's) is cut 50,000 bytes in. */
        for (int i = 0; i < 200 && v->srv.requests < 1; i++)
                assert_true(sd_event_run(v->a.ev, 10000) >= 0);
        v->srv.cut_after = 50000;
        run_until(v, "2", ACTION_INSTALLED, true);
        struct agent_action act;
        assert_int_equal(agentdb_action_get(v->a.db, "2", &act), 1);
        uint64_t blobs = 0;
        for (size_t i = 0; i < v->f.n_blobs; i++)
                blobs += v->f.blob_len[i];
        /* Each blob byte once; the span also carries the tar headers between blobs. */
        assert_true(act.fetched >= blobs);
        assert_true(act.fetched < blobs + 4 * 1024);
        assert_true(act.requests >= 3);
        agent_action_clear(&act);
        env_free(v);
}

static void test_restart_resumes(void **state)
{
        (void)state;
        struct env *v = env_new(NULL);
        v->srv.cut_after = 50000; /* the blobs' answer breaks: the action waits in fetching */
        deploy(v, "3");
        run_until(v, "3", ACTION_FETCHING, false);
        agent_close(v); /* the process ends while the action is fetching */
        int before = v->srv.requests;
        agent_open(v);
        update_resume(&v->a);
        /* After a restart the update waits until a poll says again that it may switch. */
        run_until(v, "3", ACTION_STAGED, false);
        deploy(v, "3");
        run_until(v, "3", ACTION_INSTALLED, true);
        char st[16];
        assert_string_equal(state_of(v, "3", st), ACTION_INSTALLED);
        /* The head was not fetched again: it is kept with the action. */
        for (int i = before; i < v->srv.requests && i < 8; i++)
                assert_string_not_equal(v->srv.ranges[i], "0-4095");
        env_free(v);
}

static void test_not_a_bundle(void **state)
{
        (void)state;
        struct env *v = env_new(NULL);
        memset(v->art, 'x', 4096); /* no tar header */
        deploy(v, "4");
        run_until(v, "4", ACTION_FAILED, true);
        _cleanup_free_ char *t = sink_text(&v->sink);
        assert_non_null(strstr(t, "\"failure\""));
        assert_int_equal(db_installed(v->a.db, "app", NULL, NULL), 0);
        env_free(v);
}

static void test_over_budget(void **state)
{
        (void)state;
        struct env *v = env_new("64k");
        deploy(v, "5");
        run_until(v, "5", ACTION_FAILED, true);
        _cleanup_free_ char *t = sink_text(&v->sink);
        assert_non_null(strstr(t, "app 1 needs 119 KiB from the WAN, more than the whole data budget (64 KiB per 30 days)"));
        assert_int_equal(v->srv.requests, 1); /* the head only */
        for (size_t i = 0; i < v->f.n_blobs; i++)
                assert_false(content_has(v->a.cs, v->f.digest[i], v->f.blob_len[i]));
        env_free(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_install),
                cmocka_unit_test(test_cut_resumes),
                cmocka_unit_test(test_restart_resumes),
                cmocka_unit_test(test_not_a_bundle),
                cmocka_unit_test(test_over_budget),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
