/* SPDX-License-Identifier: Apache-2.0 */
/* log.c — see log.h. The only file that includes sd-journal.h.
 *
 * The target is decided from $JOURNAL_STREAM (set by systemd for a service whose stderr
 * is connected to the journal: "DEV:INODE" of that stream) compared with fstat(stderr),
 * as sd_journal_stream_fd users are told to. A record the journal refuses is never lost:
 * it goes to stderr, with a "<N>" priority prefix when stderr is the journal stream.
 */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* We pass CODE_FILE/LINE/FUNC of the caller ourselves. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "base/cleanup.h"

#define LOG_MESSAGE_MAX 2048
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* MESSAGE, PRIORITY, CODE_FILE, CODE_LINE, CODE_FUNC, ERRNO, SYSLOG_IDENTIFIER + context. */
#define LOG_RECORD_FIELDS (7 + LOG_FIELDS_MAX)

static int max_level = LOG_LEVEL_INFO;
static enum log_target target = LOG_TARGET_AUTO;
/* -1: not decided yet; 0: stderr; 1: journal. Read and written atomically. */
static int stream_is_journal = -1;
static log_journal_writer journal_writer;

struct log_field {
        char name[LOG_FIELD_NAME_MAX + 1];
        char value[LOG_FIELD_VALUE_MAX + 1];
        bool hidden;
};

/* Context fields are per thread: a scope set by one thread never leaks into another's. */
static __thread struct log_field fields[LOG_FIELDS_MAX];
static __thread unsigned n_fields, scope_base;

void log_set_max_level(int level) { max_level = level; }
int log_get_max_level(void) { return max_level; }

void log_set_target(enum log_target t)
{
        target = t;
        __atomic_store_n(&stream_is_journal, -1, __ATOMIC_RELAXED);
}

void log_set_journal_writer(log_journal_writer w) { journal_writer = w; }

static bool stderr_is_journal_stream(void)
{
        int v = __atomic_load_n(&stream_is_journal, __ATOMIC_RELAXED);
        if (v >= 0)
                return v;
        v = 0;
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        char end;
        struct stat st;
        if (e && sscanf(e, "%llu:%llu%c", &dev, &ino, &end) == 2 && fstat(STDERR_FILENO, &st) == 0)
                v = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
        __atomic_store_n(&stream_is_journal, v, __ATOMIC_RELAXED);
        return v;
}

bool log_to_journal(void)
{
        switch (target) {
        case LOG_TARGET_STDERR: return false;
        case LOG_TARGET_JOURNAL: return true;
        default: return stderr_is_journal_stream();
        }
}

/* ---- context fields ------------------------------------------------------------------- */

static bool field_name_valid(const char *name)
{
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > LOG_FIELD_NAME_MAX || name[0] == '_' || (name[0] >= '0' && name[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
                        return false;
        return true;
}

int log_set_field(const char *name, const char *value)
{
        if (!field_name_valid(name))
                return -EINVAL;
        struct log_field *f = NULL;
        for (unsigned i = scope_base; i < n_fields; i++)
                if (!strcmp(fields[i].name, name))
                        f = &fields[i];
        if (!f) {
                if (n_fields >= LOG_FIELDS_MAX)
                        return -E2BIG;
                f = &fields[n_fields++];
                snprintf(f->name, sizeof f->name, "%s", name);
        }
        f->hidden = value == NULL;
        snprintf(f->value, sizeof f->value, "%s", value ? value : "");
        return 0;
}

int log_set_fieldf(const char *name, const char *fmt, ...)
{
        char buf[LOG_FIELD_VALUE_MAX + 1];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        return log_set_field(name, buf);
}

const char *log_get_field(const char *name)
{
        for (unsigned i = n_fields; i > 0; i--)
                if (!strcmp(fields[i - 1].name, name))
                        return fields[i - 1].hidden ? NULL : fields[i - 1].value;
        return NULL;
}

struct log_context log_context_push(void)
{
        struct log_context c = {.depth = n_fields, .base = scope_base};
        scope_base = n_fields;
        return c;
}

void log_context_pop(struct log_context *c)
{
        if (c->depth <= n_fields)
                n_fields = c->depth;
        scope_base = c->base <= n_fields ? c->base : n_fields;
}

/* ---- writers -------------------------------------------------------------------------- */

static int sd_journal_writer(const char *const *f, size_t n)
{
        struct iovec iov[LOG_RECORD_FIELDS];
        if (n > ELEMENTSOF(iov))
                return -E2BIG;
        /* sd_journal_sendv() drops a record silently (returns 0) when the socket does not
         * exist; we want to know, so the record can go to stderr instead. */
        struct stat st;
        if (stat(JOURNAL_SOCKET, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec){.iov_base = (void *)f[i], .iov_len = strlen(f[i])};
        return sd_journal_sendv(iov, (int)n);
}

static int write_journal(int level, int error, const char *file, int line, const char *func, const char *msg)
{
        char b_msg[LOG_MESSAGE_MAX + 16], b_prio[16], b_file[256], b_line[32], b_func[128], b_errno[32],
                b_ident[64];
        char b_ctx[LOG_FIELDS_MAX][LOG_FIELD_NAME_MAX + LOG_FIELD_VALUE_MAX + 2];
        const char *rec[LOG_RECORD_FIELDS];
        size_t n = 0;

        snprintf(b_msg, sizeof b_msg, "MESSAGE=%s", msg);
        rec[n++] = b_msg;
        snprintf(b_prio, sizeof b_prio, "PRIORITY=%d", level);
        rec[n++] = b_prio;
        if (file) {
                snprintf(b_file, sizeof b_file, "CODE_FILE=%s", file);
                rec[n++] = b_file;
                snprintf(b_line, sizeof b_line, "CODE_LINE=%d", line);
                rec[n++] = b_line;
        }
        if (func) {
                snprintf(b_func, sizeof b_func, "CODE_FUNC=%s", func);
                rec[n++] = b_func;
        }
        if (error) {
                snprintf(b_errno, sizeof b_errno, "ERRNO=%d", -error);
                rec[n++] = b_errno;
        }
        snprintf(b_ident, sizeof b_ident, "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        rec[n++] = b_ident;
        /* Innermost first; a name set (or hidden) in an inner scope shadows outer ones. */
        for (unsigned i = n_fields; i > 0; i--) {
                const struct log_field *f = &fields[i - 1];
                bool shadowed = false;
                for (unsigned j = i; j < n_fields && !shadowed; j++)
                        shadowed = !strcmp(fields[j].name, f->name);
                if (shadowed || f->hidden)
                        continue;
                snprintf(b_ctx[i - 1], sizeof b_ctx[i - 1], "%s=%s", f->name, f->value);
                rec[n++] = b_ctx[i - 1];
        }
        return (journal_writer ? journal_writer : sd_journal_writer)(rec, n);
}

static void write_stderr(int level, bool journal_stream, const char *msg)
{
        const char *prefix = level <= LOG_LEVEL_ERROR ? "error: " : level == LOG_LEVEL_WARNING ? "warning: " : "";
        if (journal_stream) /* journald reads "<N>" as the line's priority */
                fprintf(stderr, "<%d>berth: %s%s\n", level, prefix, msg);
        else
                fprintf(stderr, "berth: %s%s\n", prefix, msg);
}

__attribute__((format(printf, 6, 0)))
static int log_va(int level, int error, const char *file, int line, const char *func, const char *fmt, va_list ap)
{
        if (error > 0)
                error = -error;
        if (level > max_level)
                return error;
        int saved = errno;
        char buf[LOG_MESSAGE_MAX];
        if (error)
                errno = -error; /* so %m names the error passed in */
        vsnprintf(buf, sizeof buf, fmt, ap);
        if (!log_to_journal() || write_journal(level, error, file, line, func, buf) < 0)
                write_stderr(level, target != LOG_TARGET_STDERR && stderr_is_journal_stream(), buf);
        errno = saved;
        return error;
}

int log_internal(int level, int error, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = log_va(level, error, NULL, 0, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int log_internal_at(int level, int error, const char *file, int line, const char *func, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = log_va(level, error, file, line, func, fmt, ap);
        va_end(ap);
        return r;
}
