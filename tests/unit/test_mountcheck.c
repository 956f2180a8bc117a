/* SPDX-License-Identifier: Apache-2.0 */
/* test_mountcheck.c — a container's mount table against its read-only binds: read-only
 * all the way down passes; a writable submount below a read-only bind (what runc < 1.1
 * leaves behind) is refused with the bind and the submount named; writable spec mounts
 * nested below a read-only bind, writable volumes and escaped mount points are handled.
 */
#include "testutil.h"

#include <errno.h>

#include "workload/mountcheck.h"
#include "workload/ocispec.h"

/* The mounts of a spec: /proc, a read-only bind /host, a tmpfs /host/cache on top of it,
 * a writable volume /data and a read-only bind with a space in its path. */
static const char *spec =
        "{\"mounts\": ["
        "{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\", \"options\": [\"nosuid\"]},"
        "{\"destination\": \"/host\", \"type\": \"bind\", \"source\": \"/srv/x\","
        " \"options\": [\"rbind\", \"ro\", \"rro\"]},"
        "{\"destination\": \"/host/cache\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": []},"
        "{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/var/lib/d\","
        " \"options\": [\"rbind\", \"rw\"]},"
        "{\"destination\": \"/my dir\", \"type\": \"bind\", \"source\": \"/etc/m\", \"options\": [\"rbind\", \"ro\"]}"
        "]}";

#define LINE(id, mp, opts) #id " 1 0:1 / " mp " " opts " shared:1 - tmpfs tmpfs rw\n"

static const char *good = LINE(1, "/", "ro,relatime") LINE(2, "/proc", "rw,nosuid") LINE(3, "/host", "ro,nosuid")
        LINE(4, "/host/sub", "ro,nosuid") LINE(5, "/host/sub/deeper", "ro") LINE(6, "/host/cache", "rw,nosuid")
        LINE(7, "/host/cache/inner", "rw") LINE(8, "/data", "rw") LINE(9, "/data/sub", "rw")
        LINE(10, "/my\\040dir", "ro") LINE(11, "/hostile", "rw");

static void expect_refused(const char *info, const char *what)
{
        berr e = {0};
        assert_int_equal(mountcheck_readonly(spec, info, "poller", &e), -EPERM);
        if (!strstr(e.msg, what) || !strstr(e.msg, "workload poller"))
                fail_msg("expected '%s' in '%s'", what, e.msg);
}

static void test_readonly_all_the_way_down(void **state)
{
        (void)state;
        berr e = {0};
        /* rw under /proc, /data, the tmpfs on /host/cache and /hostile (not below /host): fine */
        assert_int_equal(mountcheck_readonly(spec, good, "poller", &e), 0);
}

static void test_writable_submount_refused(void **state)
{
        (void)state;
        char info[2048];
        snprintf(info, sizeof info, "%s%s", good, LINE(12, "/host/sub/deeper/shm", "rw,nosuid,nodev"));
        expect_refused(info, "the read-only bind /host (host /srv/x) has a writable mount below it inside the "
                             "container (/host/sub/deeper/shm)");
        expect_refused(info, "bind a host path with no mounts below it, or upgrade runc");
        /* the top of the bind itself */
        expect_refused(LINE(3, "/host", "rw,nosuid"), "the read-only bind /host (host /srv/x) is writable");
        /* mount points come escaped (\040 = space) */
        expect_refused(LINE(10, "/my\\040dir/x", "rw"), "(/my dir/x)");
}

static void test_malformed(void **state)
{
        (void)state;
        berr e = {0};
        assert_int_equal(mountcheck_readonly(spec, "1 2 3\n", "w", &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "line 1"));
        assert_int_equal(mountcheck_readonly("{}", good, "w", &e), -EBADMSG);
        assert_int_equal(mountcheck_readonly(spec, "", "w", &e), 0);
}

/* What ocispec.c asks runc for: recursive read-only, nosuid and nodev on every bind. */
static void test_ocispec_asks_for_recursive(void **state)
{
        (void)state;
        char *dir = test_tmpdir("mountcheck");
        assert_non_null(dir);
        struct wl_bind b = {.source = dir, .path = (char *)"/host", .read_only = true};
        struct wl_volume v[] = {{.name = (char *)"ro", .path = (char *)"/ro", .read_only = true},
                                {.name = (char *)"rw", .path = (char *)"/rw"}};
        char *argv[] = {(char *)"/bin/true"};
        struct workload_spec w = {.name = (char *)"w", .command = argv, .n_command = 1, .command_set = true,
                                  .binds = &b, .n_binds = 1, .volumes = v, .n_volumes = 2,
                                  .memory_bytes = 64 << 20, .cpu_millis = 100};
        struct ocispec_input in = {.w = &w, .cgroups_path = "/t/w", .volume_dir = "/vol", .hostname = "w"};
        char *out = NULL;
        berr e = {0};
        assert_int_equal(ocispec_build(&in, &out, &e), 0);
        json_t *j = json_loads(out, 0, NULL);
        free(out);
        assert_non_null(j);
        size_t i;
        json_t *m;
        int seen = 0;
        json_array_foreach(json_object_get(j, "mounts"), i, m) {
                const char *d = json_string_value(json_object_get(m, "destination"));
                char *opts = json_dumps(json_object_get(m, "options"), JSON_COMPACT);
                if (!strcmp(d, "/host") || !strcmp(d, "/ro")) {
                        assert_string_equal(opts, "[\"rbind\",\"ro\",\"rro\",\"nosuid\",\"nodev\",\"rnosuid\","
                                                  "\"rnodev\"]");
                        seen++;
                } else if (!strcmp(d, "/rw")) {
                        assert_string_equal(opts, "[\"rbind\",\"rw\",\"nosuid\",\"nodev\",\"rnosuid\",\"rnodev\"]");
                        seen++;
                }
                free(opts);
        }
        assert_int_equal(seen, 3);
        json_decref(j);
        /* a writable bind: recursive nosuid/nodev, no ro */
        b.read_only = false;
        assert_int_equal(ocispec_build(&in, &out, &e), 0);
        assert_non_null(strstr(out, "\"destination\":\"/host\",\"type\":\"bind\",\"source\""));
        assert_non_null(strstr(out, "\"options\":[\"rbind\",\"rw\",\"nosuid\",\"nodev\",\"rnosuid\",\"rnodev\"]"));
        free(out);
        /* a source reached through a symbolic link is refused; slashes are forgiven */
        char *link = path_join(dir, "link"), *slashes = NULL;
        assert_int_equal(symlink("/", link), 0);
        b.source = link;
        assert_int_equal(ocispec_build(&in, &out, &e), -ELOOP);
        assert_non_null(strstr(e.msg, "leads through a symbolic link to /"));
        assert_true(asprintf(&slashes, "/%s//", dir) > 0);
        b.source = slashes;
        assert_int_equal(ocispec_build(&in, &out, &e), 0);
        free(out);
        b.source = (char *)"/nonexistent-berth-test";
        assert_int_equal(ocispec_build(&in, &out, &e), -ENOENT);
        free(link);
        free(slashes);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_readonly_all_the_way_down),
                cmocka_unit_test(test_writable_submount_refused),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_ocispec_asks_for_recursive),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
