/* common.c — see common.h. */
#include "cli/common.h"

#include <stdio.h>

#include "base/log.h"

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
