/* log.c — see log.h. */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int max_level = LOG_LEVEL_INFO;

void log_set_max_level(int level) { max_level = level; }
int log_get_max_level(void) { return max_level; }

int log_internal(int level, int error, const char *fmt, ...)
{
        if (error > 0)
                error = -error;
        if (level > max_level)
                return error;
        int saved = errno;
        char buf[2048];
        if (error)
                errno = -error; /* so %m names the error passed in */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        const char *prefix = level <= LOG_LEVEL_ERROR ? "error: " : level == LOG_LEVEL_WARNING ? "warning: " : "";
        fprintf(stderr, "berth: %s%s\n", prefix, buf);
        errno = saved;
        return error;
}
