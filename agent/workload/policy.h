/* SPDX-License-Identifier: Apache-2.0 */
/* policy.h — the gateway's own bounds on workload specs: `[policy]` in agent.conf.
 *
 * A signature says who built a bundle; the node policy says what may run on this node
 * (users, groups, capabilities, devices, host paths for binds, host network, writable
 * rootfs, new privileges, environment). Parsed once from the config into a struct with
 * safe defaults; wl_policy_check() holds a parsed workload set against it and names, for
 * every violation, the workload, the field and the policy key. Pure: no I/O, no logging.
 * Keys and defaults: packaging/README.md; what a spec can do under them:
 * agent/workload/README.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "config/config.h"
#include "workload/spec.h"

struct wl_id_range {
        uint32_t lo, hi;                /* inclusive */
};

struct wl_policy_device {
        char *pattern;                  /* fnmatch(3) pattern under /dev/, '*' stops at '/' */
        char access[4];                 /* most the spec may ask for: subset of "rwm" */
};

struct wl_policy_bind {
        char *prefix;                   /* absolute host path; covers itself and below */
        bool writable;                  /* ":rw": the spec may also bind it writable */
};

enum wl_policy_key {
        WL_POLICY_USERS,
        WL_POLICY_GROUPS,
        WL_POLICY_CAPABILITIES,
        WL_POLICY_DEVICES,
        WL_POLICY_BINDS,
        WL_POLICY_HOST_NETWORK,
        WL_POLICY_WRITABLE_ROOTFS,
        WL_POLICY_NEW_PRIVILEGES,
        WL_POLICY_ENV_REFUSED,
        WL_POLICY_N_KEYS,
};

struct wl_policy {
        struct wl_id_range *users;      /* uids a spec's "user" may name */
        size_t n_users;
        struct wl_id_range *groups;     /* gids a spec's "user" may name */
        size_t n_groups;
        char **capabilities;            /* "CAP_NET_BIND_SERVICE" form */
        size_t n_capabilities;
        struct wl_policy_device *devices;
        size_t n_devices;
        struct wl_policy_bind *binds;
        size_t n_binds;
        bool host_network;              /* "network": "host" */
        bool writable_rootfs;           /* "readOnlyRootfs": false */
        bool new_privileges;            /* "noNewPrivileges": false */
        char **env_refused;             /* fnmatch(3) patterns of variable names */
        size_t n_env_refused;
        char *text[WL_POLICY_N_KEYS];   /* each key's value as written (or its default), for messages */
};

/* Every key as "policy.NAME", in enum order (NULL-terminated); a key's name under
 * [policy] ("users") and its default value. */
extern const char *const wl_policy_known_keys[WL_POLICY_N_KEYS + 1];
const char *wl_policy_key_name(enum wl_policy_key k);
const char *wl_policy_key_default(enum wl_policy_key k);

/* Parses the [policy] keys of c (c NULL or without them: the defaults). An unknown
 * policy.* key or a malformed value is an error naming the key (-EINVAL): a misspelt
 * key must not silently leave a default in force. */
int wl_policy_from_config(const struct berth_config *c, struct wl_policy **ret, berr *e);
void wl_policy_free(struct wl_policy *p);

/* 0 when every workload of s fits p; -EPERM otherwise, with every violation in e, each
 * "workload NAME: FIELD VALUE is not allowed by [policy] KEY = VALUE", joined by "; "
 * (at most three quarters of a berr, then "; and N more", so a caller can prefix it).
 * Only what the spec says is checked: a workload without "user" runs as its image's
 * numeric non-root User or 65534, which is not known before the image is fetched. */
int wl_policy_check(const struct wl_policy *p, const struct workload_set *s, berr *e);
/* The same check, calling fn once per violation with its sentence (no length limit on
 * how many); returns how many there were. For `berth bundle verify --policy`. */
typedef void (*wl_policy_violation_fn)(const char *sentence, void *ud);
unsigned wl_policy_check_each(const struct wl_policy *p, const struct workload_set *s, wl_policy_violation_fn fn,
                              void *ud);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct wl_policy *, wl_policy_free)
