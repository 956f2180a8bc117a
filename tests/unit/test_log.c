/* SPDX-License-Identifier: Apache-2.0 */
/* test_log.c — the log family: plain stderr lines, the choice of journal vs stderr from
 * $JOURNAL_STREAM, the journal record's fields (through the writer seam), fallback to
 * stderr when the journal refuses a record, and scoped context fields.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/log.h"

/* stderr is redirected into a temp file for each test and restored afterwards. */
struct cap {
        char *dir;
        char path[4096];
        int saved_stderr;
};

static int setup(void **state)
{
        struct cap *c = calloc(1, sizeof *c);
        assert_non_null(c);
        c->dir = test_tmpdir("log");
        assert_non_null(c->dir);
        snprintf(c->path, sizeof c->path, "%s/stderr", c->dir);
        int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        fflush(stderr);
        c->saved_stderr = dup(STDERR_FILENO);
        assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
        close(fd);
        unsetenv("JOURNAL_STREAM");
        log_set_target(LOG_TARGET_AUTO);
        log_set_max_level(LOG_LEVEL_INFO);
        log_set_journal_writer(NULL);
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        struct cap *c = *state;
        fflush(stderr);
        dup2(c->saved_stderr, STDERR_FILENO);
        close(c->saved_stderr);
        unsetenv("JOURNAL_STREAM");
        log_set_target(LOG_TARGET_AUTO);
        log_set_journal_writer(NULL);
        test_rmdir(c->dir);
        free(c);
        return 0;
}

static char *captured(struct cap *c)
{
        fflush(stderr);
        _cleanup_fclose_ FILE *f = fopen(c->path, "re");
        assert_non_null(f);
        static char buf[8192];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        return buf;
}

/* Points $JOURNAL_STREAM at the captured stderr file, as systemd does for a service. */
static void claim_journal_stream(void)
{
        struct stat st;
        assert_int_equal(fstat(STDERR_FILENO, &st), 0);
        char v[64];
        snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        setenv("JOURNAL_STREAM", v, 1);
        log_set_target(LOG_TARGET_AUTO);
}

/* The writer seam records the last record's fields. */
static char rec[32][1024];
static size_t rec_n;
static int writer_result;

static int fake_writer(const char *const *f, size_t n)
{
        rec_n = 0;
        for (size_t i = 0; i < n && i < 32; i++)
                snprintf(rec[rec_n++], sizeof rec[0], "%s", f[i]);
        return writer_result;
}

static const char *field(const char *name)
{
        size_t l = strlen(name);
        for (size_t i = 0; i < rec_n; i++)
                if (!strncmp(rec[i], name, l) && rec[i][l] == '=')
                        return rec[i] + l + 1;
        return NULL;
}

static void test_stderr_plain(void **state)
{
        struct cap *c = *state;
        assert_false(log_to_journal());
        log_info("hello %d", 42);
        log_warning("careful");
        assert_int_equal(log_error_errno(ENOENT, "open %s: %m", "/x"), -ENOENT);
        assert_int_equal(log_error_errno(-EACCES, "again"), -EACCES);
        log_debug("not shown at the default level");
        assert_string_equal(captured(c), "berth: hello 42\n"
                                         "berth: warning: careful\n"
                                         "berth: error: open /x: No such file or directory\n"
                                         "berth: error: again\n");
        /* errno is preserved across a log call that used %m. */
        errno = EPERM;
        log_error_errno(-EIO, "%m");
        assert_int_equal(errno, EPERM);
}

static void test_journal_stream_detection(void **state)
{
        /* A JOURNAL_STREAM naming another file (or garbage) means stderr. */
        setenv("JOURNAL_STREAM", "1:2", 1);
        log_set_target(LOG_TARGET_AUTO);
        assert_false(log_to_journal());
        setenv("JOURNAL_STREAM", "nonsense", 1);
        log_set_target(LOG_TARGET_AUTO);
        assert_false(log_to_journal());
        claim_journal_stream();
        assert_true(log_to_journal());
        log_set_target(LOG_TARGET_STDERR);
        assert_false(log_to_journal());
        unsetenv("JOURNAL_STREAM");
        log_set_target(LOG_TARGET_JOURNAL);
        assert_true(log_to_journal());
}

static void test_journal_fields(void **state)
{
        struct cap *c = *state;
        claim_journal_stream();
        log_set_journal_writer(fake_writer);
        writer_result = 0;
        LOG_SCOPE(ctx);
        assert_int_equal(log_set_field("BERTH_BUNDLE", "gw"), 0);
        assert_int_equal(log_set_fieldf("BERTH_VERSION", "%d", 7), 0);
        int line = __LINE__ + 1;
        assert_int_equal(log_error_errno(-ENOSPC, "store %s full: %m", "/var"), -ENOSPC);
        assert_string_equal(field("MESSAGE"), "store /var full: No space left on device");
        assert_string_equal(field("PRIORITY"), "3");
        assert_string_equal(field("ERRNO"), "28");
        assert_string_equal(field("CODE_FUNC"), "test_journal_fields");
        char l[16];
        snprintf(l, sizeof l, "%d", line);
        assert_string_equal(field("CODE_LINE"), l);
        assert_non_null(strstr(field("CODE_FILE"), "test_log.c"));
        assert_non_null(field("SYSLOG_IDENTIFIER"));
        assert_string_equal(field("BERTH_BUNDLE"), "gw");
        assert_string_equal(field("BERTH_VERSION"), "7");
        /* Nothing reached stderr: the journal took the record. */
        assert_string_equal(captured(c), "");

        /* log_journal() records only when the journal is the target. */
        rec_n = 0;
        log_journal(LOG_LEVEL_INFO, "imported %s", "gw");
        assert_string_equal(field("MESSAGE"), "imported gw");
        assert_string_equal(field("PRIORITY"), "6");
        assert_null(field("ERRNO"));
}

static void test_journal_refuses(void **state)
{
        struct cap *c = *state;
        claim_journal_stream();
        log_set_journal_writer(fake_writer);
        writer_result = -ECONNREFUSED;
        log_error("lost?");
        log_info("no");
        /* stderr is the journal stream: lines carry their priority as "<N>". */
        assert_string_equal(captured(c), "<3>berth: error: lost?\n<6>berth: no\n");
}

static void test_journal_only_skipped_on_stderr(void **state)
{
        struct cap *c = *state;
        log_set_journal_writer(fake_writer);
        rec_n = 0;
        log_journal(LOG_LEVEL_NOTICE, "only for the journal");
        assert_int_equal(rec_n, 0);
        assert_string_equal(captured(c), "");
}

static void test_context_scopes(void **state)
{
        assert_int_equal(log_set_field("lower", "x"), -EINVAL);
        assert_int_equal(log_set_field("_TRUSTED", "x"), -EINVAL);
        assert_int_equal(log_set_field("1ABC", "x"), -EINVAL);
        assert_int_equal(log_set_field("", "x"), -EINVAL);
        assert_int_equal(log_set_field(NULL, "x"), -EINVAL);
        char longname[LOG_FIELD_NAME_MAX + 2];
        memset(longname, 'A', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        assert_int_equal(log_set_field(longname, "x"), -EINVAL);

        struct log_context outer = log_context_push();
        assert_int_equal(log_set_field("BERTH_BUNDLE", "a"), 0);
        assert_int_equal(log_set_field("BERTH_WORKLOAD", "w"), 0);
        {
                LOG_SCOPE(inner);
                assert_int_equal(log_set_field("BERTH_BUNDLE", "b"), 0);
                assert_int_equal(log_set_field("BERTH_BUNDLE", "c"), 0); /* replaces in scope */
                assert_int_equal(log_set_field("BERTH_WORKLOAD", NULL), 0); /* hidden in scope */
                assert_string_equal(log_get_field("BERTH_BUNDLE"), "c");
                assert_null(log_get_field("BERTH_WORKLOAD"));

                claim_journal_stream();
                log_set_journal_writer(fake_writer);
                writer_result = 0;
                log_info("in scope");
                assert_string_equal(field("BERTH_BUNDLE"), "c");
                assert_null(field("BERTH_WORKLOAD"));
                size_t bundles = 0;
                for (size_t i = 0; i < rec_n; i++)
                        bundles += !strncmp(rec[i], "BERTH_BUNDLE=", 13);
                assert_int_equal(bundles, 1);
        }
        assert_string_equal(log_get_field("BERTH_BUNDLE"), "a");
        assert_string_equal(log_get_field("BERTH_WORKLOAD"), "w");
        log_context_pop(&outer);
        assert_null(log_get_field("BERTH_BUNDLE"));

        /* Long values are cut, not refused; the number of fields is bounded. */
        char big[LOG_FIELD_VALUE_MAX * 2];
        memset(big, 'v', sizeof big - 1);
        big[sizeof big - 1] = 0;
        struct log_context c = log_context_push();
        assert_int_equal(log_set_field("BIG", big), 0);
        assert_int_equal(strlen(log_get_field("BIG")), LOG_FIELD_VALUE_MAX);
        int r = 0;
        for (int i = 0; i < LOG_FIELDS_MAX + 1 && r == 0; i++) {
                char n[16];
                snprintf(n, sizeof n, "F%d", i);
                r = log_set_field(n, "x");
        }
        assert_int_equal(r, -E2BIG);
        log_context_pop(&c);
        assert_null(log_get_field("BIG"));
        struct log_context d = log_context_push();
        assert_int_equal(log_set_field("AFTER", "ok"), 0); /* room again */
        assert_string_equal(log_get_field("AFTER"), "ok");
        log_context_pop(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_stderr_plain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_stream_detection, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_refuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_only_skipped_on_stderr, setup, teardown),
                cmocka_unit_test_setup_teardown(test_context_scopes, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
