/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/parse.h"

/*
 * Every line is formatted on the caller's stack into a bounded buffer and written with one
 * write(2), so concurrent callers never share a buffer and lines do not interleave. Messages
 * longer than LOG_LINE_MAX are cut (at a UTF-8 boundary) and end in "…".
 */
#define LOG_LINE_MAX    4096
#define LOG_ELLIPSIS    "\xe2\x80\xa6"
#define LOG_PREFIX_ROOM 256

static atomic_int max_level = LOG_INFO;
static atomic_bool journal = false;
static const char *_Atomic program_name = NULL;

/* The sink pair is read and called under sink_lock, so a test sink need not be thread-safe. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static posture_log_sink_fn sink_fn = NULL;
static void *sink_userdata = NULL;
/* Set while this thread runs the sink; a sink that logs goes to stderr instead of deadlocking. */
static _Thread_local bool in_sink = false;

static int clamp_level(int level)
{
    if (level < LOG_EMERG)
        return LOG_EMERG;
    if (level > LOG_DEBUG)
        return LOG_DEBUG;
    return level;
}

void posture_log_set_program(const char *name)
{
    atomic_store(&program_name, name);
}

void posture_log_set_max_level(int level)
{
    atomic_store(&max_level, clamp_level(level));
}

int posture_log_get_max_level(void)
{
    return atomic_load(&max_level);
}

bool posture_log_level_enabled(int level)
{
    return clamp_level(level) <= atomic_load(&max_level);
}

void posture_log_set_journal(bool on)
{
    atomic_store(&journal, on);
}

void posture_log_set_sink(posture_log_sink_fn sink, void *userdata)
{
    (void) pthread_mutex_lock(&sink_lock);
    sink_fn = sink;
    sink_userdata = userdata;
    (void) pthread_mutex_unlock(&sink_lock);
}

int posture_log_level_from_string(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        { "emerg", LOG_EMERG },  { "alert", LOG_ALERT },   { "crit", LOG_CRIT },
        { "err", LOG_ERR },      { "error", LOG_ERR },     { "warning", LOG_WARNING },
        { "warn", LOG_WARNING }, { "notice", LOG_NOTICE }, { "info", LOG_INFO },
        { "debug", LOG_DEBUG },
    };

    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
        return s[0] - '0';
    return -EINVAL;
}

/* JOURNAL_STREAM is "<device>:<inode>" of the stream systemd connected to stdout/stderr. */
static bool journal_stream_is_stderr(const char *value)
{
    char dev_str[32], ino_str[32];
    const char *colon = value ? strchr(value, ':') : NULL;
    uint64_t dev, ino;
    struct stat st;

    if (!colon)
        return false;
    size_t dev_len = (size_t) (colon - value);
    size_t ino_len = strlen(colon + 1);
    if (dev_len == 0 || dev_len >= sizeof(dev_str) || ino_len == 0 || ino_len >= sizeof(ino_str))
        return false;
    memcpy(dev_str, value, dev_len);
    dev_str[dev_len] = '\0';
    memcpy(ino_str, colon + 1, ino_len + 1);
    if (posture_parse_u64(dev_str, &dev) < 0 || posture_parse_u64(ino_str, &ino) < 0)
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (uint64_t) st.st_dev == dev && (uint64_t) st.st_ino == ino;
}

void posture_log_setup_from_env(void)
{
    const char *level = secure_getenv("POSTURE_LOG_LEVEL");
    if (level && *level) {
        int l = posture_log_level_from_string(level);
        if (l >= 0)
            posture_log_set_max_level(l);
        else
            log_debug("Invalid POSTURE_LOG_LEVEL=\"%s\", ignoring.", level);
    }
    posture_log_set_journal(journal_stream_is_stderr(secure_getenv("JOURNAL_STREAM")));
}

static const char *level_tag(int level)
{
    if (level <= LOG_ERR)
        return "error: ";
    if (level == LOG_WARNING)
        return "warning: ";
    if (level == LOG_DEBUG)
        return "debug: ";
    return "";
}

/* One log call is one line: drop trailing newlines, turn other control characters (except
 * tab) into spaces. */
static void sanitize(char *msg, size_t *len)
{
    while (*len > 0 && (msg[*len - 1] == '\n' || msg[*len - 1] == '\r'))
        msg[--*len] = '\0';
    for (size_t i = 0; i < *len; i++) {
        unsigned char c = (unsigned char) msg[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            msg[i] = ' ';
    }
}

/* Cut msg (whose buffer holds size bytes) so that "…" fits, never inside a UTF-8 sequence. */
static size_t truncate_with_ellipsis(char *msg, size_t size)
{
    size_t cut = size - sizeof(LOG_ELLIPSIS);
    /* Step back over continuation bytes to the start of the character at cut. */
    while (cut > 0 && ((unsigned char) msg[cut] & 0xc0) == 0x80)
        cut--;
    memcpy(msg + cut, LOG_ELLIPSIS, sizeof(LOG_ELLIPSIS));
    return cut + sizeof(LOG_ELLIPSIS) - 1;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += k;
        n -= (size_t) k;
    }
}

static void emit(int level, const char *msg, size_t msg_len)
{
    char line[LOG_PREFIX_ROOM + LOG_LINE_MAX + 2];
    int n;

    if (!in_sink) {
        bool done = false;
        (void) pthread_mutex_lock(&sink_lock);
        if (sink_fn) {
            in_sink = true;
            sink_fn(level, msg, sink_userdata);
            in_sink = false;
            done = true;
        }
        (void) pthread_mutex_unlock(&sink_lock);
        if (done)
            return;
    }

    if (atomic_load(&journal)) {
        n = snprintf(line, LOG_PREFIX_ROOM, "<%d>", level);
    } else {
        const char *prog = atomic_load(&program_name);
        if (!prog)
            prog = program_invocation_short_name;
        n = snprintf(line, LOG_PREFIX_ROOM, "%s: %s", prog, level_tag(level));
    }
    if (n < 0)
        n = 0;
    else if (n >= LOG_PREFIX_ROOM)
        n = LOG_PREFIX_ROOM - 1;
    memcpy(line + n, msg, msg_len);
    line[(size_t) n + msg_len] = '\n';
    write_all(STDERR_FILENO, line, (size_t) n + msg_len + 1);
}

int posture_log_internalv(int level,
                          int error,
                          const char *file,
                          int line,
                          const char *func,
                          const char *format,
                          va_list ap)
{
    int ret = error < 0 ? error : -error;
    char msg[LOG_LINE_MAX];

    (void) file;
    (void) line;
    (void) func;

    level = clamp_level(level);
    if (!posture_log_level_enabled(level) || !format)
        return ret;

    int saved_errno = errno;
    if (error != 0)
        errno = error == INT_MIN ? INT_MAX : (error < 0 ? -error : error);

    int k = vsnprintf(msg, sizeof(msg), format, ap);
    size_t len;
    if (k < 0) {
        msg[0] = '\0';
        len = 0;
    } else if ((size_t) k >= sizeof(msg)) {
        len = truncate_with_ellipsis(msg, sizeof(msg));
    } else {
        len = (size_t) k;
    }
    sanitize(msg, &len);
    emit(level, msg, len);

    errno = saved_errno;
    return ret;
}

int posture_log_internal(
    int level, int error, const char *file, int line, const char *func, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int r = posture_log_internalv(level, error, file, line, func, format, ap);
    va_end(ap);
    return r;
}
