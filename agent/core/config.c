/* SPDX-License-Identifier: Apache-2.0 */
/*
 * INI store, parser, drop-in loader, table-driven apply and dump (config.h, STYLE.md G7).
 *
 * The store is an ordered array of assignments; each entry owns one allocation holding
 * "section\0key\0value\0", and points at an interned file name (the list of files read).
 * Lookups scan from the end, so the last assignment wins. Diagnostics go through the diag
 * callback as complete "file:line: text" lines; without a callback they go to log_debug.
 */
#include "posture/config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/fileio.h"
#include "posture/log.h"
#include "posture/parse.h"
#include "posture/strbuf.h"
#include "posture/strv.h"

#define DEFAULT_NAME "<string>"
#define BOM          "\xef\xbb\xbf"
/* How much of a line or value a diagnostic quotes before cutting it with "...". */
#define DIAG_QUOTE_MAX 120
/* Room for a quoted text: 4 bytes per escaped byte, "..." and the NUL. */
#define DIAG_QUOTE_SIZE ((size_t) DIAG_QUOTE_MAX * 4 + 8)

struct entry {
    struct posture_config_entry pub;
    char *blob; /* "section\0key\0value\0"; pub.section/key/value point into it */
};

struct posture_config {
    posture_config_diag_fn diag;
    void *userdata;
    struct entry *entries;
    size_t n_entries;
    size_t cap_entries;
    char **files; /* interned names, in the order first read */
    size_t n_files;
    size_t cap_files;
};

int posture_config_new(posture_config_diag_fn diag, void *userdata, struct posture_config **ret)
{
    struct posture_config *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->diag = diag;
    c->userdata = userdata;
    *ret = c;
    return 0;
}

struct posture_config *posture_config_free(struct posture_config *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_entries; i++)
        free(c->entries[i].blob);
    free(c->entries);
    for (size_t i = 0; i < c->n_files; i++)
        free(c->files[i]);
    free(c->files);
    free(c);
    return NULL;
}

static void diag_emit(const struct posture_config *c,
                      int level,
                      const char *file,
                      unsigned line,
                      const char *format,
                      va_list ap) __attribute__((format(printf, 5, 0)));

static void diag_emit(const struct posture_config *c,
                      int level,
                      const char *file,
                      unsigned line,
                      const char *format,
                      va_list ap)
{
    char buf[8192];
    size_t off = 0;
    int n = 0;

    if (file && line > 0)
        n = snprintf(buf, sizeof(buf), "%s:%u: ", file, line);
    else if (file)
        n = snprintf(buf, sizeof(buf), "%s: ", file);
    if (n > 0)
        off = (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf) - 1;
    n = vsnprintf(buf + off, sizeof(buf) - off, format, ap);
    if (n < 0)
        buf[off] = '\0';
    else if ((size_t) n >= sizeof(buf) - off) /* truncated: say so */
        memcpy(buf + sizeof(buf) - 4, "...", 4);

    if (c && c->diag)
        c->diag(level, file, line, buf, c->userdata);
    else
        log_debug("%s", buf);
}

void posture_config_diag(const struct posture_config *c,
                         int level,
                         const char *file,
                         unsigned line,
                         const char *format,
                         ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, format);
    diag_emit(c, level, file, line, format, ap);
    va_end(ap);
    errno = saved;
}

/* Copy s (n bytes) into buf for quoting in a diagnostic: control bytes become \xNN, and long
 * text is cut with "...". Always NUL-terminates. */
static const char *diag_quote(char *buf, size_t size, const char *s, size_t n)
{
    size_t o = 0;
    size_t shown = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) s[i];
        if (shown >= DIAG_QUOTE_MAX || o + 8 >= size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f) {
            (void) snprintf(buf + o, size - o, "\\x%02x", ch);
            o += 4;
        } else {
            buf[o++] = (char) ch;
        }
        shown++;
    }
    buf[o] = '\0';
    return buf;
}

/* Whitespace inside a line ('\n' never occurs there). */
static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

static bool is_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static bool is_section_char(char ch)
{
    return is_key_char(ch) || ch == '.' || ch == '-';
}

static bool name_is_valid(const char *s, size_t n, bool (*valid)(char))
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!valid(s[i]))
            return false;
    return true;
}

/* Trim whitespace on both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_ws(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_ws((*s)[*n - 1]))
        (*n)--;
}

/* The interned copy of name, adding it to the list of files when new (*ret_added). */
static int
intern_file(struct posture_config *c, const char *name, const char **ret, bool *ret_added)
{
    for (size_t i = 0; i < c->n_files; i++)
        if (strcmp(c->files[i], name) == 0) {
            *ret = c->files[i];
            *ret_added = false;
            return 0;
        }
    if (c->n_files == c->cap_files) {
        size_t cap = c->cap_files ? c->cap_files * 2 : 8;
        char **f = reallocarray(c->files, cap, sizeof(char *));
        if (!f)
            return -ENOMEM;
        c->files = f;
        c->cap_files = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    c->files[c->n_files++] = copy;
    *ret = copy;
    *ret_added = true;
    return 0;
}

static int add_entry(struct posture_config *c,
                     const char *section,
                     size_t section_len,
                     const char *key,
                     size_t key_len,
                     const char *value,
                     size_t value_len,
                     const char *file,
                     unsigned line)
{
    if (c->n_entries == c->cap_entries) {
        size_t cap = c->cap_entries ? c->cap_entries * 2 : 32;
        struct entry *e = reallocarray(c->entries, cap, sizeof(struct entry));
        if (!e)
            return -ENOMEM;
        c->entries = e;
        c->cap_entries = cap;
    }
    /* Each part is at most one line long, so the sum cannot overflow. */
    char *blob = malloc(section_len + key_len + value_len + 3);
    if (!blob)
        return -ENOMEM;
    char *p = blob;
    memcpy(p, section, section_len);
    p[section_len] = '\0';
    p += section_len + 1;
    memcpy(p, key, key_len);
    p[key_len] = '\0';
    p += key_len + 1;
    memcpy(p, value, value_len);
    p[value_len] = '\0';

    c->entries[c->n_entries++] = (struct entry){
        .pub = { .section = blob,
                 .key = blob + section_len + 1,
                 .value = blob + section_len + key_len + 2,
                 .file = file,
                 .line = line },
        .blob = blob,
    };
    return 0;
}

struct parse_state {
    struct posture_config *c;
    const char *file;
    unsigned line;
    char section[POSTURE_CONFIG_LINE_MAX + 1];
    size_t section_len;
    bool have_section;
    char value[POSTURE_CONFIG_LINE_MAX + 1]; /* unquoted value of the current line */
};

/* Returns -EBADMSG after reporting, or 0. */
static int parse_section(struct parse_state *st, const char *s, size_t n)
{
    char q[DIAG_QUOTE_SIZE];
    const char *close = memchr(s, ']', n);

    if (!close) {
        posture_config_diag(st->c, LOG_ERR, st->file, st->line,
                            "missing ']' at the end of section header '%s'",
                            diag_quote(q, sizeof(q), s, n));
        return -EBADMSG;
    }
    const char *name = s + 1;
    size_t name_len = (size_t) (close - name);
    trim(&name, &name_len);
    if (!name_is_valid(name, name_len, is_section_char)) {
        posture_config_diag(st->c, LOG_ERR, st->file, st->line, "invalid section name '%s'",
                            diag_quote(q, sizeof(q), name, name_len));
        return -EBADMSG;
    }

    const char *rest = close + 1;
    size_t rest_len = n - (size_t) (rest - s);
    trim(&rest, &rest_len);
    if (rest_len > 0 && rest[0] != '#' && rest[0] != ';') {
        posture_config_diag(st->c, LOG_ERR, st->file, st->line,
                            "unexpected text '%s' after section header [%.*s]",
                            diag_quote(q, sizeof(q), rest, rest_len), (int) name_len, name);
        return -EBADMSG;
    }

    memcpy(st->section, name, name_len);
    st->section[name_len] = '\0';
    st->section_len = name_len;
    st->have_section = true;
    return 0;
}

/* Parse the value part v (leading whitespace already trimmed; ws_before tells whether there
 * was any after the '=') into st->value. */
static int
parse_value(struct parse_state *st, const char *v, size_t n, bool ws_before, size_t *ret_len)
{
    char q[DIAG_QUOTE_SIZE];
    size_t o = 0;

    if (n > 0 && v[0] == '"') {
        size_t i = 1;
        bool closed = false;
        while (i < n) {
            if (v[i] == '\\' && i + 1 < n && (v[i + 1] == '"' || v[i + 1] == '\\')) {
                st->value[o++] = v[i + 1];
                i += 2;
            } else if (v[i] == '"') {
                closed = true;
                i++;
                break;
            } else {
                st->value[o++] = v[i++];
            }
        }
        if (!closed) {
            posture_config_diag(st->c, LOG_ERR, st->file, st->line,
                                "missing closing '\"' in value '%s'",
                                diag_quote(q, sizeof(q), v, n));
            return -EBADMSG;
        }
        size_t ws = 0;
        while (i < n && is_ws(v[i])) {
            i++;
            ws++;
        }
        if (i < n && !(v[i] == '#' && ws > 0)) {
            posture_config_diag(st->c, LOG_ERR, st->file, st->line,
                                "unexpected text '%s' after closing '\"'",
                                diag_quote(q, sizeof(q), v + i, n - i));
            return -EBADMSG;
        }
    } else {
        /* A '#' preceded by whitespace starts a comment; the value starts after whitespace. */
        size_t end = n;
        for (size_t i = 0; i < n; i++)
            if (v[i] == '#' && (i == 0 ? ws_before : is_ws(v[i - 1]))) {
                end = i;
                break;
            }
        while (end > 0 && is_ws(v[end - 1]))
            end--;
        memcpy(st->value, v, end);
        o = end;
    }
    st->value[o] = '\0';
    *ret_len = o;
    return 0;
}

static int parse_assignment(struct parse_state *st, const char *s, size_t n)
{
    char q[DIAG_QUOTE_SIZE];
    const char *eq = memchr(s, '=', n);

    if (!eq) {
        posture_config_diag(st->c, LOG_ERR, st->file, st->line,
                            "expected 'key = value' or '[section]', got '%s'",
                            diag_quote(q, sizeof(q), s, n));
        return -EBADMSG;
    }
    const char *key = s;
    size_t key_len = (size_t) (eq - s);
    trim(&key, &key_len);
    if (key_len == 0) {
        posture_config_diag(st->c, LOG_ERR, st->file, st->line, "empty key in '%s'",
                            diag_quote(q, sizeof(q), s, n));
        return -EBADMSG;
    }
    if (!name_is_valid(key, key_len, is_key_char)) {
        posture_config_diag(st->c, LOG_ERR, st->file, st->line,
                            "invalid key name '%s' (allowed: A-Z a-z 0-9 _)",
                            diag_quote(q, sizeof(q), key, key_len));
        return -EBADMSG;
    }
    if (!st->have_section) {
        posture_config_diag(st->c, LOG_ERR, st->file, st->line, "key '%.*s' outside of any section",
                            (int) key_len, key);
        return -EBADMSG;
    }

    const char *v = eq + 1;
    size_t v_len = n - (size_t) (v - s);
    bool ws_before = false;
    while (v_len > 0 && is_ws(*v)) {
        v++;
        v_len--;
        ws_before = true;
    }
    size_t value_len = 0;
    int r = parse_value(st, v, v_len, ws_before, &value_len);
    if (r < 0)
        return r;
    return add_entry(st->c, st->section, st->section_len, key, key_len, st->value, value_len,
                     st->file, st->line);
}

static int parse_text(struct parse_state *st, const char *text, size_t len)
{
    unsigned content_lines = 0;
    size_t pos = 0;

    if (len >= 3 && memcmp(text, BOM, 3) == 0)
        pos = 3;

    while (pos < len) {
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - l) : len - pos;
        pos += n + (nl ? 1 : 0);
        st->line++;

        if (n > 0 && l[n - 1] == '\r')
            n--;
        if (memchr(l, '\0', n)) {
            posture_config_diag(st->c, LOG_ERR, st->file, st->line, "NUL byte in line");
            return -EBADMSG;
        }
        if (n > POSTURE_CONFIG_LINE_MAX) {
            posture_config_diag(st->c, LOG_ERR, st->file, st->line, "line longer than %u bytes",
                                (unsigned) POSTURE_CONFIG_LINE_MAX);
            return -EBADMSG;
        }

        trim(&l, &n);
        if (n == 0 || l[0] == '#' || l[0] == ';')
            continue;
        if (++content_lines > POSTURE_CONFIG_LINES_MAX) {
            posture_config_diag(st->c, LOG_ERR, st->file, st->line,
                                "more than %u lines with content",
                                (unsigned) POSTURE_CONFIG_LINES_MAX);
            return -E2BIG;
        }
        int r = l[0] == '[' ? parse_section(st, l, n) : parse_assignment(st, l, n);
        if (r < 0)
            return r;
    }
    return 0;
}

int posture_config_parse_string(struct posture_config *c,
                                const char *text,
                                size_t len,
                                const char *filename)
{
    const char *file = NULL;
    bool added = false;

    if (!c || (!text && len > 0))
        return -EINVAL;
    if (!filename)
        filename = DEFAULT_NAME;
    if (len > POSTURE_CONFIG_FILE_MAX) {
        posture_config_diag(c, LOG_ERR, filename, 0, "larger than %u bytes",
                            (unsigned) POSTURE_CONFIG_FILE_MAX);
        return -E2BIG;
    }

    int r = intern_file(c, filename, &file, &added);
    if (r < 0)
        return r;

    struct parse_state *st = calloc(1, sizeof(*st));
    if (!st)
        r = -ENOMEM;
    else {
        size_t before = c->n_entries;
        st->c = c;
        st->file = file;
        r = parse_text(st, text ? text : "", len);
        if (r < 0) {
            /* Keep nothing of this text. */
            for (size_t i = before; i < c->n_entries; i++)
                free(c->entries[i].blob);
            c->n_entries = before;
        }
        free(st);
    }
    if (r < 0 && added)
        free(c->files[--c->n_files]);
    return r;
}

/* Read a regular file of at most POSTURE_CONFIG_FILE_MAX bytes. Reports everything but
 * -ENOENT through diag. */
static int
read_config_file(const struct posture_config *c, const char *path, char **ret_buf, size_t *ret_len)
{
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below like any non-file. */
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int r = -errno;
        if (r != -ENOENT)
            posture_config_diag(c, LOG_ERR, path, 0, "cannot open: %s", strerrordesc_np(-r));
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        posture_config_diag(c, LOG_ERR, path, 0, "cannot stat: %s", strerrordesc_np(-r));
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        posture_config_diag(c, LOG_ERR, path, 0, "not a regular file");
        return -EINVAL;
    }

    /* The size may change under us (or be reported as 0): posture_read_fd() reads until EOF,
     * one byte past the limit at most. */
    posture_autofree char *buf = NULL;
    size_t len = 0;
    int r = st.st_size > (off_t) POSTURE_CONFIG_FILE_MAX
                ? -EFBIG
                : posture_read_fd(fd, POSTURE_CONFIG_FILE_MAX, &buf, &len);
    if (r == -EFBIG) {
        posture_config_diag(c, LOG_ERR, path, 0, "file larger than %u bytes",
                            (unsigned) POSTURE_CONFIG_FILE_MAX);
        return -E2BIG;
    }
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        posture_config_diag(c, LOG_ERR, path, 0, "cannot read: %s", strerrordesc_np(-r));
        return r;
    }
    *ret_buf = POSTURE_TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

int posture_config_load_file(struct posture_config *c, const char *path)
{
    posture_autofree char *buf = NULL;
    size_t len = 0;

    if (!c || !path)
        return -EINVAL;
    int r = read_config_file(c, path, &buf, &len);
    if (r < 0)
        return r;
    log_debug("Parsing configuration file %s (%zu bytes)", path, len);
    return posture_config_parse_string(c, buf, len, path);
}

static bool is_dropin_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

/* The sorted names of the drop-ins in dir; an empty list when dir does not exist. */
static int list_dropins(const struct posture_config *c, const char *dir, char ***ret)
{
    posture_auto_strv char **names = calloc(1, sizeof(char *));
    size_t n = 0;

    if (!names)
        return -ENOMEM;

    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        if (r == -ENOENT) {
            *ret = POSTURE_TAKE_PTR(names);
            return 0;
        }
        posture_config_diag(c, LOG_ERR, dir, 0, "cannot open drop-in directory: %s",
                            strerrordesc_np(-r));
        return r;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        (void) close(fd);
        posture_config_diag(c, LOG_ERR, dir, 0, "cannot read drop-in directory: %s",
                            strerrordesc_np(-r));
        return r;
    }

    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d); /* NOLINT(concurrency-mt-unsafe): DIR is ours */
        if (!de) {
            if (errno != 0) {
                r = -errno;
                posture_config_diag(c, LOG_ERR, dir, 0, "cannot read drop-in directory: %s",
                                    strerrordesc_np(-r));
            }
            break;
        }
        if (!is_dropin_name(de->d_name))
            continue;
        /* Follow symlinks; skip what is not a regular file (a dangling link is opened, and
         * reported, by the loader). */
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && !S_ISREG(st.st_mode)) {
            posture_config_diag(c, LOG_WARNING, dir, 0, "%s is not a regular file, ignoring",
                                de->d_name);
            continue;
        }
        if (n >= POSTURE_CONFIG_DROPINS_MAX) {
            posture_config_diag(c, LOG_ERR, dir, 0, "more than %u drop-in files",
                                (unsigned) POSTURE_CONFIG_DROPINS_MAX);
            r = -E2BIG;
            break;
        }
        r = posture_strv_extend(&names, de->d_name);
        if (r < 0)
            break;
        n++;
    }
    (void) closedir(d);
    if (r < 0)
        return r;
    posture_strv_sort(names);
    *ret = POSTURE_TAKE_PTR(names);
    return 0;
}

int posture_config_load(struct posture_config *c, const char *main_path, bool required)
{
    posture_auto_strv char **names = NULL;
    posture_autofree char *dir = NULL;

    if (!c || !main_path)
        return -EINVAL;

    int r = posture_config_load_file(c, main_path);
    if (r == -ENOENT) {
        if (required) {
            posture_config_diag(c, LOG_ERR, main_path, 0, "%s", strerrordesc_np(ENOENT));
            return r;
        }
        log_debug("Configuration file %s does not exist, using defaults", main_path);
    } else if (r < 0)
        return r;

    if (asprintf(&dir, "%s.d", main_path) < 0) {
        dir = NULL;
        return -ENOMEM;
    }
    r = list_dropins(c, dir, &names);
    if (r < 0)
        return r;

    POSTURE_FOREACH_STRV (name, names) {
        posture_autofree char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0) {
            path = NULL;
            return -ENOMEM;
        }
        r = posture_config_load_file(c, path);
        if (r == -ENOENT) /* vanished, or a dangling symlink */
            posture_config_diag(c, LOG_ERR, path, 0, "cannot open: %s", strerrordesc_np(ENOENT));
        if (r < 0)
            return r;
    }
    return 0;
}

const struct posture_config_entry *
posture_config_lookup(const struct posture_config *c, const char *section, const char *key)
{
    if (!c || !section || !key)
        return NULL;
    for (size_t i = c->n_entries; i > 0; i--) {
        const struct posture_config_entry *e = &c->entries[i - 1].pub;
        if (strcmp(e->key, key) == 0 && strcmp(e->section, section) == 0)
            return e;
    }
    return NULL;
}

const char *posture_config_get(const struct posture_config *c, const char *section, const char *key)
{
    const struct posture_config_entry *e = posture_config_lookup(c, section, key);
    return e ? e->value : NULL;
}

size_t posture_config_count(const struct posture_config *c)
{
    return c ? c->n_entries : 0;
}

const struct posture_config_entry *posture_config_entry_at(const struct posture_config *c, size_t i)
{
    return c && i < c->n_entries ? &c->entries[i].pub : NULL;
}

size_t posture_config_file_count(const struct posture_config *c)
{
    return c ? c->n_files : 0;
}

const char *posture_config_file_at(const struct posture_config *c, size_t i)
{
    return c && i < c->n_files ? c->files[i] : NULL;
}

/* Generic item parsers. */

int posture_config_parse_string_item(const char *value, void *data, const char **ret_why)
{
    char **p = data;
    char *copy = NULL;

    (void) ret_why; /* cannot fail but for memory */
    if (value[0] != '\0') {
        copy = strdup(value);
        if (!copy)
            return -ENOMEM;
    }
    free(*p);
    *p = copy; /* an empty value unsets */
    return 0;
}

int posture_config_parse_bool_item(const char *value, void *data, const char **ret_why)
{
    bool b;
    if (posture_parse_bool(value, &b) < 0) {
        *ret_why = "expected a boolean (yes/no)";
        return -EINVAL;
    }
    *(bool *) data = b;
    return 0;
}

static const char *number_why(int r)
{
    return r == -ERANGE ? "number out of range" : "expected an unsigned integer";
}

int posture_config_parse_u32_item(const char *value, void *data, const char **ret_why)
{
    uint32_t u;
    int r = posture_parse_u32(value, &u);
    if (r < 0) {
        *ret_why = number_why(r);
        return -EINVAL;
    }
    *(uint32_t *) data = u;
    return 0;
}

int posture_config_parse_u64_item(const char *value, void *data, const char **ret_why)
{
    uint64_t u;
    int r = posture_parse_u64(value, &u);
    if (r < 0) {
        *ret_why = number_why(r);
        return -EINVAL;
    }
    *(uint64_t *) data = u;
    return 0;
}

int posture_config_parse_duration_item(const char *value, void *data, const char **ret_why)
{
    uint64_t u;
    int r = posture_parse_duration_usec(value, &u);
    if (r < 0) {
        *ret_why = r == -ERANGE ? "duration out of range" : "expected a duration like 30s, 5m, 1h";
        return -EINVAL;
    }
    *(uint64_t *) data = u;
    return 0;
}

int posture_config_parse_size_item(const char *value, void *data, const char **ret_why)
{
    uint64_t u;
    int r = posture_parse_size(value, &u);
    if (r < 0) {
        *ret_why = r == -ERANGE ? "size out of range" : "expected a size like 512K, 8M, 1G";
        return -EINVAL;
    }
    *(uint64_t *) data = u;
    return 0;
}

int posture_config_parse_strv_item(const char *value, void *data, const char **ret_why)
{
    char ***p = data;
    char **l = NULL;

    int r = posture_strv_split(value, " \t\r\f\v", &l);
    if (r < 0) {
        if (r != -ENOMEM)
            *ret_why = "expected a whitespace-separated list";
        return r;
    }
    (void) posture_strv_free(*p);
    *p = l;
    return 0;
}

/* Apply. */

struct warned {
    const char *file;
    const char *section;
};

static bool has_skip_prefix(const char *section, const char *const *skip_prefixes)
{
    if (!skip_prefixes)
        return false;
    for (const char *const *p = skip_prefixes; *p; p++)
        if (strncmp(section, *p, strlen(*p)) == 0)
            return true;
    return false;
}

static bool section_is_known(const struct posture_config_item *items, const char *section)
{
    for (const struct posture_config_item *it = items; it->section; it++)
        if (strcmp(it->section, section) == 0)
            return true;
    return false;
}

static const struct posture_config_item *
find_item(const struct posture_config_item *items, const char *section, const char *key)
{
    for (const struct posture_config_item *it = items; it->section; it++)
        if (strcmp(it->section, section) == 0 && strcmp(it->key, key) == 0)
            return it;
    return NULL;
}

/* Warn about an unknown section once per section and file. -ENOMEM only. */
static int warn_unknown_section(const struct posture_config *c,
                                const struct posture_config_entry *e,
                                struct warned **warned,
                                size_t *n_warned)
{
    for (size_t i = 0; i < *n_warned; i++)
        if ((*warned)[i].file == e->file && strcmp((*warned)[i].section, e->section) == 0)
            return 0;
    struct warned *w = reallocarray(*warned, *n_warned + 1, sizeof(struct warned));
    if (!w)
        return -ENOMEM;
    w[(*n_warned)++] = (struct warned){ .file = e->file, .section = e->section };
    *warned = w;
    posture_config_diag(c, LOG_WARNING, e->file, e->line, "unknown section [%s], ignoring",
                        e->section);
    return 0;
}

int posture_config_apply(const struct posture_config *c,
                         const struct posture_config_item *items,
                         const char *const *skip_prefixes,
                         void *base)
{
    posture_autofree struct warned *warned = NULL;
    size_t n_warned = 0;

    if (!c || !items || !base)
        return -EINVAL;

    for (size_t i = 0; i < c->n_entries; i++) {
        const struct posture_config_entry *e = &c->entries[i].pub;
        if (has_skip_prefix(e->section, skip_prefixes))
            continue;
        const struct posture_config_item *it = find_item(items, e->section, e->key);
        if (!it) {
            if (!section_is_known(items, e->section)) {
                int r = warn_unknown_section(c, e, &warned, &n_warned);
                if (r < 0)
                    return r;
            } else
                posture_config_diag(c, LOG_WARNING, e->file, e->line,
                                    "unknown key '%s' in [%s], ignoring", e->key, e->section);
            continue;
        }
        const char *why = NULL;
        int r = it->parse(e->value, (uint8_t *) base + it->offset, &why);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            char q[DIAG_QUOTE_SIZE];
            posture_config_diag(c, LOG_ERR, e->file, e->line,
                                "invalid value '%s' for key '%s' in [%s]: %s",
                                diag_quote(q, sizeof(q), e->value, strlen(e->value)), e->key,
                                e->section, why ? why : strerrordesc_np(-r));
            return -EINVAL;
        }
    }
    return 0;
}

/* Dump. */

/* One (section, key) pair of the effective configuration. */
struct dump_row {
    const char *section;
    size_t section_first; /* index of the first entry of the section */
    size_t key_first;     /* index of the first entry of this section/key */
    size_t last;          /* index of the effective (last) entry */
};

static int cmp_by_name(const void *a, const void *b, void *userdata)
{
    const struct posture_config *c = userdata;
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    const struct posture_config_entry *x = &c->entries[i].pub;
    const struct posture_config_entry *y = &c->entries[j].pub;
    int d = strcmp(x->section, y->section);
    if (d == 0)
        d = strcmp(x->key, y->key);
    if (d == 0)
        d = (i > j) - (i < j);
    return d;
}

static int cmp_rows(const void *a, const void *b)
{
    const struct dump_row *x = a, *y = b;
    if (x->section_first != y->section_first)
        return (x->section_first > y->section_first) - (x->section_first < y->section_first);
    return (x->key_first > y->key_first) - (x->key_first < y->key_first);
}

/* Whether a value must be quoted to read back unchanged after "key = " (spaced) or "key=". */
static bool value_needs_quotes(const char *v, bool spaced)
{
    size_t n = strlen(v);
    if (n == 0)
        return false;
    if (is_ws(v[0]) || is_ws(v[n - 1]) || v[0] == '"' || (spaced && v[0] == '#'))
        return true;
    for (size_t i = 1; i < n; i++)
        if (v[i] == '#' && is_ws(v[i - 1]))
            return true;
    return false;
}

/* Quote with the fewest escapes: '"' always, '\' only where the parser would read an escape
 * (before '"' or '\', or before the closing quote). */
static int append_quoted(struct posture_strbuf *sb, const char *v)
{
    int r = posture_strbuf_putc(sb, '"');
    for (const char *p = v; r >= 0 && *p; p++) {
        if (*p == '"')
            r = posture_strbuf_puts(sb, "\\\"");
        else if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == '\0'))
            r = posture_strbuf_puts(sb, "\\\\");
        else
            r = posture_strbuf_putc(sb, *p);
    }
    return r < 0 ? r : posture_strbuf_putc(sb, '"');
}

static int encode_value(struct posture_strbuf *enc, const char *value, bool spaced)
{
    posture_strbuf_done(enc);
    if (value_needs_quotes(value, spaced))
        return append_quoted(enc, value);
    return posture_strbuf_puts(enc, value);
}

static int dump_line(struct posture_strbuf *sb, const char *key, const char *value)
{
    struct posture_strbuf enc = POSTURE_STRBUF_INIT(0);
    size_t key_len = strlen(key);

    /* "key = value" reads best. A line that would not fit the limit that way drops the spaces
     * (and the quotes a leading '#' needs after a space): the parser accepted the original
     * line, which held at least "key=" and this encoding of the value, so the dump never
     * makes a line too long. */
    int r = encode_value(&enc, value, true);
    bool spaced = r >= 0 && key_len + 3 + enc.len <= POSTURE_CONFIG_LINE_MAX;
    if (r >= 0 && !spaced)
        r = encode_value(&enc, value, false);
    if (r >= 0)
        r = posture_strbuf_printf(sb, "%s%s%s\n", key,
                                  !spaced   ? "="
                                  : enc.len ? " = "
                                            : " =",
                                  enc.buf ? enc.buf : "");
    posture_strbuf_done(&enc);
    return r;
}

int posture_config_dump(const struct posture_config *c, char **ret)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT((size_t) 64 * 1024 * 1024);
    posture_autofree size_t *idx = NULL;
    posture_autofree struct dump_row *rows = NULL;
    size_t n_rows = 0;
    int r = 0;

    if (!c || !ret)
        return -EINVAL;

    if (c->n_entries > 0) {
        idx = calloc(c->n_entries, sizeof(size_t));
        rows = calloc(c->n_entries, sizeof(struct dump_row));
        if (!idx || !rows)
            return -ENOMEM;
        for (size_t i = 0; i < c->n_entries; i++)
            idx[i] = i;
        qsort_r(idx, c->n_entries, sizeof(size_t), cmp_by_name, (void *) c);

        /* Sorted by section, key and position: one row per run of equal section and key. */
        for (size_t i = 0; i < c->n_entries; i++) {
            const struct posture_config_entry *e = &c->entries[idx[i]].pub;
            const struct posture_config_entry *prev = i > 0 ? &c->entries[idx[i - 1]].pub : NULL;
            if (!prev || strcmp(prev->section, e->section) != 0 || strcmp(prev->key, e->key) != 0)
                rows[n_rows++] =
                    (struct dump_row){ .section = e->section, .key_first = idx[i], .last = idx[i] };
            else
                rows[n_rows - 1].last = idx[i];
        }
        /* A section is placed where its earliest assignment is (its rows are adjacent). */
        for (size_t i = 0; i < n_rows;) {
            size_t j = i, first = rows[i].key_first;
            for (; j < n_rows && strcmp(rows[j].section, rows[i].section) == 0; j++)
                if (rows[j].key_first < first)
                    first = rows[j].key_first;
            for (size_t k = i; k < j; k++)
                rows[k].section_first = first;
            i = j;
        }
        qsort(rows, n_rows, sizeof(struct dump_row), cmp_rows);
    }

    for (size_t i = 0; r >= 0 && i < n_rows; i++) {
        const struct posture_config_entry *e = &c->entries[rows[i].last].pub;
        if (i == 0 || rows[i].section_first != rows[i - 1].section_first)
            r = posture_strbuf_printf(&sb, "%s[%s]\n", i == 0 ? "" : "\n", e->section);
        if (r >= 0)
            r = dump_line(&sb, e->key, e->value);
    }
    if (r < 0) {
        posture_strbuf_done(&sb);
        return r;
    }
    char *s = posture_strbuf_steal(&sb);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}
