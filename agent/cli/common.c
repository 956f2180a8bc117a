/* SPDX-License-Identifier: Apache-2.0 */
/* common.c — see common.h. */
#include "cli/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "ctl/ctl.h"

int cli_load_config(const char *path, struct berth_config **ret)
{
        berr e = {0};
        int r = config_load(path ? path : BERTH_DEFAULT_CONFIG, path == NULL, ret, &e);
        if (r < 0)
                return log_error_errno(r, "%s", berr_msg(&e, r));
        return 0;
}

const char *format_size(uint64_t bytes, char buf[32])
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)bytes;
        unsigned u = 0;
        while (v >= 1024 && u < 4) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
        else
                snprintf(buf, 32, "%.1f %s", v, units[u]);
        return buf;
}

json_t *cli_daemon_request(const char *cmd, const char *state_dir)
{
        json_t *req = json_pack("{s:s}", "cmd", cmd);
        char real[4096];
        if (req && state_dir && realpath(state_dir, real))
                json_object_set_new(req, "stateDir", json_string(real));
        return req;
}

int cli_daemon_call(const struct berth_config *cfg, const char *socket, json_t *req, int fd, unsigned timeout_s,
                    json_t **ret)
{
        const char *path = socket ? socket : config_get(cfg, "control.socket", CTL_DEFAULT_SOCKET);
        berr e = {0};
        json_t *rep = NULL;
        int r = ctl_call(path, req, fd, timeout_s, &rep, &e);
        if (r == -ENOTCONN)
                return r;
        if (r < 0)
                return log_error_errno(r, "%s", berr_msg(&e, r));
        const char *code = json_string_value(json_object_get(rep, "code"));
        if (code && !strcmp(code, "other-state")) {
                json_decref(rep);
                return -ENOTCONN;
        }
        *ret = rep;
        return 0;
}
