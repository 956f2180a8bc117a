/* SPDX-License-Identifier: Apache-2.0 */
/* spec.h — workload specs: what a bundle runs, parsed strictly from the signed manifest
 * ("workloads" array and the per-bundle "update" object).
 *
 * Every field is checked against a limit; an invalid spec is refused with a message
 * naming the field ("workloads[1].resources.memory: required"). The parsed set owns
 * all its strings. The start order (dependencies first) is computed here, and a cycle
 * is an error. See README.md in this folder for the format.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/manifest.h"

#define WL_MAX_WORKLOADS 64
#define WL_MAX_NAME_LEN 63
#define WL_MAX_LIST 256         /* args, env, mounts, devices, capabilities, deps */
#define WL_MAX_STRING 4096
#define WL_DEFAULT_UID 65534    /* nobody */
#define WL_DEFAULT_SOAK_MS 30000

enum wl_network { WL_NET_NONE, WL_NET_HOST };
enum wl_restart { WL_RESTART_ALWAYS, WL_RESTART_ON_FAILURE, WL_RESTART_NEVER };
enum wl_probe_kind { WL_PROBE_NONE, WL_PROBE_HTTP, WL_PROBE_TCP, WL_PROBE_EXEC };

struct wl_tmpfs {
        char *path;
        uint64_t size;          /* bytes; 0 = kernel default (half of RAM) */
};

struct wl_volume {
        char *name;             /* host side: <data_dir>/<workload>/<name> */
        char *path;             /* in the container */
        bool read_only;
};

struct wl_bind {
        char *source;           /* host path */
        char *path;
        bool read_only;         /* default true; read-only all the way down (ocispec.c) */
};

struct wl_device {
        char *path;             /* host device node, same path in the container */
        char perms[4];          /* cgroup access: subset of "rwm" */
};

struct wl_probe {
        enum wl_probe_kind kind;
        uint16_t port;          /* http, tcp */
        char *path;             /* http */
        int status;             /* http: expected status code */
        char **command;         /* exec */
        size_t n_command;
        uint64_t initial_delay_ms, period_ms, timeout_ms;
        unsigned failure_threshold, success_threshold;
};

struct workload_spec {
        char *name;
        char *image;            /* one of the bundle's image refs */
        char **command;         /* replaces the image Entrypoint when set */
        size_t n_command;
        bool command_set;
        char **args;            /* replaces the image Cmd when set */
        size_t n_args;
        bool args_set;
        char **env;             /* "KEY=VALUE", added to (and overriding) the image's */
        size_t n_env;
        char *working_dir;      /* NULL: the image's */
        bool user_set;          /* false: the image's numeric non-root User, else nobody */
        uint32_t uid, gid;
        bool read_only_rootfs;
        struct wl_tmpfs *tmpfs;
        size_t n_tmpfs;
        struct wl_volume *volumes;
        size_t n_volumes;
        struct wl_bind *binds;
        size_t n_binds;
        struct wl_device *devices;
        size_t n_devices;
        enum wl_network network;
        uint64_t memory_bytes;
        uint64_t cpu_millis;    /* 1000 = one CPU */
        char **cap_add;         /* "CAP_NET_BIND_SERVICE" form */
        size_t n_cap_add;
        bool no_new_privileges;
        enum wl_restart restart;
        uint64_t backoff_ms, max_backoff_ms;
        int stop_signal;
        uint64_t stop_grace_ms;
        char **depends_on;
        size_t n_depends_on;
        struct wl_probe probe;
};

struct workload_set {
        uint64_t soak_ms;       /* post-switch probing window */
        struct workload_spec *w;
        size_t n;
        size_t *order;          /* start order: indexes into w, dependencies first */
};

/* Parses and validates the workloads of a manifest document (its "workloads" and
 * "update" fields; both optional). images/n_images are the bundle's images (refs
 * must be among them). A manifest without workloads gives an empty set. */
int workload_set_parse(json_t *manifest_root, const struct bundle_image *images, size_t n_images,
                       struct workload_set **ret, berr *e);
/* Convenience: parse from a manifest. */
int workload_set_from_manifest(const struct bundle_manifest *m, struct workload_set **ret, berr *e);
void workload_set_free(struct workload_set *s);
const struct workload_spec *workload_set_find(const struct workload_set *s, const char *name);

/* Checks a --workloads FILE document for bundle create: either an array of specs or
 * {"soak": DURATION, "workloads": [...]}. On success *ret_workloads and *ret_update
 * (may be NULL) are new references for the manifest; image_refs are the refs given
 * with --image. */
int workload_file_check(json_t *doc, const char *const *image_refs, size_t n_refs, json_t **ret_workloads,
                        json_t **ret_update, berr *e);

/* "10s", "250ms", "2m", "1h" or an integer number of seconds. */
int wl_parse_duration(json_t *v, uint64_t *ret_ms);
const char *wl_restart_name(enum wl_restart r);
/* A capability name a spec may add ("NET_RAW", "cap_net_raw", …) as "CAP_NET_RAW" in ret;
 * false when Linux has no such capability. */
#define WL_CAP_NAME_MAX 32
bool wl_capability_name(const char *name, char ret[WL_CAP_NAME_MAX]);
const char *wl_probe_name(enum wl_probe_kind k);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct workload_set *, workload_set_free)
