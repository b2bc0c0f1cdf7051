/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Logging (STYLE.md G6). log_<level>(fmt, ...) logs; log_<level>_errno(r, fmt, ...) logs with
 * errno set to |r| (so "%m" prints r) and evaluates to -|r|, so an error path is
 *     return log_error_errno(r, "Failed to read %s: %m", path);
 *
 * Only agent/daemon, agent/cli and the verifier log above debug; core, checks and attest return
 * errors and let the caller log once.
 *
 * Output goes to stderr. Under systemd (JOURNAL_STREAM names our stderr) each line starts with
 * a "<N>" syslog priority prefix; interactively it reads "program: error: message".
 */

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

/* Identify the program in interactive output ("posturectl"). Borrowed; must stay valid. */
void posture_log_set_program(const char *name);
/* Maximum level printed (LOG_ERR .. LOG_DEBUG); default LOG_INFO, or POSTURE_LOG_LEVEL from the
 * environment (a syslog level name or number) when posture_log_setup_from_env() is called. */
void posture_log_set_max_level(int level);
int posture_log_get_max_level(void);
/* Parse "debug", "info", "notice", "warning", "err"/"error", or "0".."7". */
int posture_log_level_from_string(const char *s);
/* Read POSTURE_LOG_LEVEL and JOURNAL_STREAM. Call once at start-up. */
void posture_log_setup_from_env(void);
/* Force or disable the journal "<N>" prefix (tests). */
void posture_log_set_journal(bool on);
bool posture_log_level_enabled(int level);

/* Capture hook for tests: when set, every line that passes the level filter goes here instead
 * of stderr. */
typedef void (*posture_log_sink_fn)(int level, const char *message, void *userdata);
void posture_log_set_sink(posture_log_sink_fn sink, void *userdata);

/* Returns -|error| (or 0 when error is 0). */
int posture_log_internal(
    int level, int error, const char *file, int line, const char *func, const char *format, ...)
    __attribute__((format(printf, 6, 7)));
int posture_log_internalv(int level,
                          int error,
                          const char *file,
                          int line,
                          const char *func,
                          const char *format,
                          va_list ap) __attribute__((format(printf, 6, 0)));

#define log_full(level, ...)                                                                    \
    do {                                                                                        \
        if (posture_log_level_enabled(level))                                                   \
            (void) posture_log_internal((level), 0, __FILE__, __LINE__, __func__, __VA_ARGS__); \
    } while (0)

#define log_full_errno(level, error, ...) \
    posture_log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...)  log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)
