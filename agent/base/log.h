/* SPDX-License-Identifier: Apache-2.0 */
/* log.h — the one logging family.
 *
 * Under systemd (stderr is the journal stream named by $JOURNAL_STREAM) every record goes
 * to the journal with structured fields: MESSAGE, PRIORITY, CODE_FILE/LINE/FUNC, ERRNO,
 * SYSLOG_IDENTIFIER and the context fields set with log_set_field() (BERTH_BUNDLE,
 * BERTH_VERSION, BERTH_ACTION_ID, BERTH_WORKLOAD, ...). Otherwise, or when the journal
 * refuses a record, it is a plain "berth: message" line on stderr. Library modules do not
 * log; the code that decides does, once. log_error_errno() returns its negative errno
 * argument so a caller can write `return log_error_errno(r, "...")`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_NOTICE = 5,
                 LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

enum log_target {
        LOG_TARGET_AUTO,    /* journal when stderr is the journal stream, else stderr */
        LOG_TARGET_STDERR,  /* always plain lines on stderr */
        LOG_TARGET_JOURNAL, /* always try the journal first (stderr when it refuses) */
};

void log_set_max_level(int level);
int log_get_max_level(void);
/* Chooses where records go; LOG_TARGET_AUTO re-reads $JOURNAL_STREAM on the next record. */
void log_set_target(enum log_target t);
/* True when the next record would be sent to the journal. */
bool log_to_journal(void);

int log_internal(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int log_internal_at(int level, int error, const char *file, int line, const char *func, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

#define log_full_errno(level, r, ...) log_internal_at((level), (r), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_error_errno(r, ...) log_full_errno(LOG_LEVEL_ERROR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_LEVEL_WARNING, (r), __VA_ARGS__)

/* A record for the journal only: an outcome that a command already prints on stdout
 * (so a terminal user does not see it twice) but that a service's journal should carry
 * with its fields. Does nothing when logging goes to stderr. */
#define log_journal(level, ...)                                                                    \
        (log_to_journal() ? log_full_errno((level), 0, __VA_ARGS__) : 0)

/* ---- context fields ---------------------------------------------------------------------
 * Fields attached to every following record of this thread (journal only; stderr lines
 * stay plain). Names follow journal rules: A-Z, 0-9 and '_', not starting with '_' or a
 * digit, at most LOG_FIELD_NAME_MAX characters. Values longer than LOG_FIELD_VALUE_MAX
 * bytes are cut. At most LOG_FIELDS_MAX fields are set at a time (-E2BIG beyond).
 *
 *   LOG_SCOPE(ctx);               (= a log_context_push() popped at the end of the block)
 *   log_set_field("BERTH_BUNDLE", m->name);
 *   log_set_fieldf("BERTH_VERSION", "%lld", (long long)m->version);
 *   ...                           every record here carries both fields
 *                                 (leaving the scope restores the fields set before)
 */
#define LOG_FIELD_NAME_MAX 64
#define LOG_FIELD_VALUE_MAX 512
#define LOG_FIELDS_MAX 16

struct log_context {
        unsigned depth; /* fields set before the scope */
        unsigned base;  /* previous scope's base */
};

/* Sets (or, value NULL, hides) a field until the current scope ends. -EINVAL: bad name. */
int log_set_field(const char *name, const char *value);
int log_set_fieldf(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The value this thread would attach for name, or NULL. */
const char *log_get_field(const char *name);
struct log_context log_context_push(void);
void log_context_pop(struct log_context *c);
/* A scope of context fields for the rest of the enclosing block. */
#define LOG_SCOPE(var)                                                                             \
        __attribute__((cleanup(log_context_pop), unused)) struct log_context var = log_context_push()

/* ---- seam for tests ---------------------------------------------------------------------
 * The journal writer gets the record as "NAME=value" strings (n of them) and returns 0 or a
 * negative errno (then the record goes to stderr). NULL restores sd_journal_sendv(). */
typedef int (*log_journal_writer)(const char *const *fields, size_t n);
void log_set_journal_writer(log_journal_writer w);
