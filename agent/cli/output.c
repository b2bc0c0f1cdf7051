/* SPDX-License-Identifier: Apache-2.0 */
/* Tables and JSON output of posturectl (DESIGN.md §4 and §6). */

#include "output.h"

#include <langinfo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/json.h"
#include "posture/parse.h"
#include "posture/strbuf.h"
#include "posture/utf8.h"

#define ANSI_RESET    "\033[0m"
#define ANSI_BOLD     "\033[1m"
#define ANSI_DIM      "\033[2m"
#define ANSI_RED      "\033[31m"
#define ANSI_BOLD_RED "\033[1;31m"
#define ANSI_GREEN    "\033[32m"
#define ANSI_YELLOW   "\033[33m"

#define COLUMNS_DEFAULT 80u
#define COLUMNS_MIN     40u
#define COLUMNS_MAX     1000u
/* Wrapped text gets at least this many columns, even when the id column is very wide. */
#define TEXT_WIDTH_MIN 30u
/* A reason or summary longer than this is cut (sanitising bound; reasons are one sentence). */
#define TEXT_MAX ((size_t) 16 * 1024)
/* Width of the status column: the longest word, "ERROR". */
#define STATUS_WIDTH 5u
#define GAP          "  "
#define GAP_WIDTH    2u

struct status_style {
    const char *word;    /* table column */
    const char *summary; /* summary line */
    const char *colour;
};

static const struct status_style status_styles[POSTURE_STATUS__MAX] = {
    [POSTURE_STATUS_PASS] = { "PASS", "pass", ANSI_GREEN },
    [POSTURE_STATUS_WARN] = { "WARN", "warn", ANSI_YELLOW },
    [POSTURE_STATUS_FAIL] = { "FAIL", "fail", ANSI_BOLD_RED },
    [POSTURE_STATUS_NOT_APPLICABLE] = { "N/A", "not applicable", ANSI_DIM },
    [POSTURE_STATUS_ERROR] = { "ERROR", "error", ANSI_RED },
};

static const struct status_style *status_style_of(int status)
{
    /* A status out of range cannot come from the runner; show it as what it means: undecided. */
    if (status < 0 || status >= POSTURE_STATUS__MAX)
        return &status_styles[POSTURE_STATUS_ERROR];
    return &status_styles[status];
}

static bool env_is_set(const char *name)
{
    const char *v = getenv(name); /* NOLINT(concurrency-mt-unsafe): before any thread starts */
    return v && v[0] != '\0';
}

static bool colour_wanted(int fd)
{
    const char *term;

    /* https://no-color.org: a non-empty NO_COLOR disables colour. */
    if (env_is_set("NO_COLOR"))
        return false;
    term = getenv("TERM"); /* NOLINT(concurrency-mt-unsafe): before any thread starts */
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(fd) == 1;
}

static bool locale_is_utf8(void)
{
    const char *codeset = nl_langinfo(CODESET); /* NOLINT(concurrency-mt-unsafe) */

    if (codeset && strcmp(codeset, "UTF-8") == 0)
        return true;
    /* No locale configured at all: assume a modern UTF-8 terminal (as systemd does). A locale
     * explicitly set to something else gets ASCII. */
    return !env_is_set("LC_ALL") && !env_is_set("LC_CTYPE") && !env_is_set("LANG");
}

static unsigned columns_of(int fd)
{
    const char *e = getenv("COLUMNS"); /* NOLINT(concurrency-mt-unsafe): before any thread */
    struct winsize ws = { 0 };
    uint32_t n = 0;

    if (!e || posture_parse_u32(e, &n) < 0 || n == 0) {
        if (isatty(fd) == 1 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
            n = ws.ws_col;
        else
            n = COLUMNS_DEFAULT;
    }
    if (n < COLUMNS_MIN)
        n = COLUMNS_MIN;
    if (n > COLUMNS_MAX)
        n = COLUMNS_MAX;
    return n;
}

void posture_cli_style_init(struct posture_cli_style *ret, int fd)
{
    *ret = (struct posture_cli_style){
        .colour = colour_wanted(fd),
        .utf8 = locale_is_utf8(),
        .columns = columns_of(fd),
    };
}

static bool is_unprintable(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||           /* C0, DEL, C1 */
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069); /* bidi controls */
}

/*
 * Append s, at most TEXT_MAX bytes of it, to sb as text safe for a terminal: tabs, newlines and
 * line separators become spaces; other control characters and invalid UTF-8 become '?'.
 */
static int sanitise(struct posture_strbuf *sb, const char *s)
{
    const char *p = s ? s : "";
    size_t len = strnlen(p, TEXT_MAX + 3); /* the last character may start before TEXT_MAX */
    size_t done = 0;
    int r;

    while (done < len && done < TEXT_MAX) {
        uint32_t cp = 0;
        size_t n = posture_utf8_decode(p + done, len - done, &cp);

        if (n > 0 && (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029))
            r = posture_strbuf_putc(sb, ' ');
        else if (n == 0 || is_unprintable(cp))
            r = posture_strbuf_putc(sb, '?');
        else
            r = posture_strbuf_append(sb, p + done, n);
        if (r < 0)
            return r;
        done += n == 0 ? 1 : n;
    }
    return 0;
}

/* The text of sb; "" before the first append. */
static const char *sb_str(const struct posture_strbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

/* Display width of valid UTF-8: one column per code point (good enough for our text). */
static unsigned text_width(const char *s, size_t len)
{
    unsigned w = 0;

    for (size_t i = 0; i < len; i++)
        if (((unsigned char) s[i] & 0xc0) != 0x80)
            w++;
    return w;
}

static void put_spaces(FILE *f, unsigned n)
{
    while (n-- > 0)
        (void) fputc(' ', f);
}

/* Print s padded with spaces to width columns (s is printed whole when wider). */
static void put_padded(FILE *f, const char *s, unsigned width)
{
    unsigned w = text_width(s, strlen(s));

    (void) fputs(s, f);
    if (w < width)
        put_spaces(f, width - w);
}

/*
 * Print sanitised text at column indent (the caller has printed everything before it), wrapped
 * at columns on spaces; continuation lines start at column indent too. A word longer than a
 * line is printed whole. Ends the line.
 */
static void put_wrapped(FILE *f, const char *text, unsigned indent, unsigned columns)
{
    unsigned avail = columns > indent ? columns - indent : 0;
    unsigned used = 0;
    const char *p = text;

    if (avail < TEXT_WIDTH_MIN)
        avail = TEXT_WIDTH_MIN;
    for (;;) {
        const char *word;
        unsigned w;

        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        word = p;
        while (*p != '\0' && *p != ' ')
            p++;
        w = text_width(word, (size_t) (p - word));
        if (used > 0 && used + 1 + w > avail) {
            (void) fputc('\n', f);
            put_spaces(f, indent);
            used = 0;
        } else if (used > 0) {
            (void) fputc(' ', f);
            used++;
        }
        (void) fwrite(word, 1, (size_t) (p - word), f);
        used += w;
    }
    (void) fputc('\n', f);
}

static void put_status(FILE *f,
                       const struct posture_cli_style *style,
                       const struct status_style *s,
                       const char *text,
                       unsigned width)
{
    if (style->colour)
        (void) fputs(s->colour, f);
    (void) fputs(text, f);
    if (style->colour)
        (void) fputs(ANSI_RESET, f);
    if (width > 0)
        put_spaces(f, width - (unsigned) strlen(text));
}

static bool status_shows_remediation(int status)
{
    return status == POSTURE_STATUS_FAIL || status == POSTURE_STATUS_WARN ||
           status == POSTURE_STATUS_ERROR;
}

static void
put_summary(FILE *f, const struct posture_cli_style *style, const struct posture_run *run)
{
    size_t counts[POSTURE_STATUS__MAX] = { 0 };
    bool first = true;

    for (size_t i = 0; i < run->n_results; i++) {
        int st = run->results[i]->status;
        counts[st >= 0 && st < POSTURE_STATUS__MAX ? st : POSTURE_STATUS_ERROR]++;
    }

    (void) fprintf(f, "%zu %s", run->n_results, run->n_results == 1 ? "check" : "checks");
    for (int st = 0; st < POSTURE_STATUS__MAX; st++) {
        if (counts[st] == 0)
            continue;
        (void) fprintf(f, "%s%zu %s", first ? ": " : ", ", counts[st], status_styles[st].summary);
        first = false;
    }
    (void) fputs(style->utf8 ? " · overall: " : "; overall: ", f);
    put_status(f, style, status_style_of(run->overall), status_style_of(run->overall)->summary, 0);
    (void) fputc('\n', f);
}

int posture_cli_print_run_table(FILE *f,
                                const struct posture_cli_style *style,
                                const struct posture_run *run)
{
    posture_auto_strbuf struct posture_strbuf text = POSTURE_STRBUF_INIT(0);
    const char *arrow = style->utf8 ? "→ " : "-> ";
    unsigned id_width = 0, text_col, arrow_width;
    int r;

    for (size_t i = 0; i < run->n_results; i++) {
        unsigned w = text_width(run->results[i]->id, strlen(run->results[i]->id));
        if (w > id_width)
            id_width = w;
    }
    text_col = STATUS_WIDTH + GAP_WIDTH + id_width + GAP_WIDTH;
    arrow_width = text_width(arrow, strlen(arrow));

    for (size_t i = 0; i < run->n_results; i++) {
        const struct posture_result *res = run->results[i];
        const struct status_style *st = status_style_of(res->status);

        put_status(f, style, st, st->word, STATUS_WIDTH);
        (void) fputs(GAP, f);

        posture_strbuf_done(&text);
        r = sanitise(&text, res->reason);
        if (r < 0)
            return r;
        if (text.len == 0) {
            (void) fputs(res->id, f);
            (void) fputc('\n', f);
        } else {
            put_padded(f, res->id, id_width);
            (void) fputs(GAP, f);
            put_wrapped(f, sb_str(&text), text_col, style->columns);
        }

        if (!status_shows_remediation(res->status) || !res->remediation ||
            res->remediation[0] == '\0')
            continue;
        posture_strbuf_done(&text);
        r = sanitise(&text, res->remediation);
        if (r < 0)
            return r;
        put_spaces(f, STATUS_WIDTH + GAP_WIDTH);
        (void) fputs(arrow, f);
        put_wrapped(f, sb_str(&text), STATUS_WIDTH + GAP_WIDTH + arrow_width, style->columns);
    }

    if (run->n_results > 0)
        (void) fputc('\n', f);
    put_summary(f, style, run);
    return 0;
}

static const char *const need_names[] = { "root", "tpm", "net", "slow" };
static const uint32_t need_flags[] = { POSTURE_CHECK_NEEDS_ROOT, POSTURE_CHECK_NEEDS_TPM,
                                       POSTURE_CHECK_NEEDS_NET, POSTURE_CHECK_SLOW };

/* "root,tpm" or "-". */
static int needs_to_string(uint32_t flags, struct posture_strbuf *sb)
{
    int r;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(need_names); i++) {
        if (!(flags & need_flags[i]))
            continue;
        if (sb->len > 0) {
            r = posture_strbuf_putc(sb, ',');
            if (r < 0)
                return r;
        }
        r = posture_strbuf_puts(sb, need_names[i]);
        if (r < 0)
            return r;
    }
    return sb->len > 0 ? 0 : posture_strbuf_puts(sb, "-");
}

enum { COL_ID, COL_VERSION, COL_SOURCE, COL_NEEDS, COL_SUMMARY, COL__MAX };
static const char *const column_names[COL__MAX] = { "ID", "VERSION", "SOURCE", "NEEDS", "SUMMARY" };

/* The sanitised cells of one row of list-checks. */
static int check_row(const struct posture_check *chk, struct posture_strbuf cells[COL__MAX])
{
    const char *source = posture_check_source_to_string(chk->source);
    int r;

    for (size_t i = 0; i < COL__MAX; i++)
        posture_strbuf_done(&cells[i]);
    r = sanitise(&cells[COL_ID], chk->desc->name);
    if (r >= 0)
        r = sanitise(&cells[COL_VERSION], chk->desc->version);
    if (r >= 0)
        r = sanitise(&cells[COL_SOURCE], source ? source : "?");
    if (r >= 0)
        r = needs_to_string(chk->desc->flags, &cells[COL_NEEDS]);
    if (r >= 0)
        r = sanitise(&cells[COL_SUMMARY], chk->desc->summary);
    return r < 0 ? r : 0;
}

static void cells_done(struct posture_strbuf cells[COL__MAX])
{
    for (size_t i = 0; i < COL__MAX; i++)
        posture_strbuf_done(&cells[i]);
}

int posture_cli_print_check_table(FILE *f,
                                  const struct posture_cli_style *style,
                                  const struct posture_registry *reg)
{
    struct posture_strbuf cells[COL__MAX] = { 0 };
    unsigned width[COL__MAX] = { 0 };
    size_t n = posture_registry_count(reg);
    unsigned summary_col = 0;
    int r;

    for (size_t c = 0; c < COL__MAX; c++)
        width[c] = (unsigned) strlen(column_names[c]);
    for (size_t i = 0; i < n; i++) {
        r = check_row(posture_registry_at(reg, i), cells);
        if (r < 0)
            goto out;
        for (size_t c = 0; c < COL_SUMMARY; c++) {
            unsigned w = text_width(sb_str(&cells[c]), cells[c].len);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t c = 0; c < COL_SUMMARY; c++)
        summary_col += width[c] + GAP_WIDTH;

    if (style->colour)
        (void) fputs(ANSI_BOLD, f);
    for (size_t c = 0; c < COL_SUMMARY; c++) {
        put_padded(f, column_names[c], width[c]);
        (void) fputs(GAP, f);
    }
    (void) fputs(column_names[COL_SUMMARY], f);
    if (style->colour)
        (void) fputs(ANSI_RESET, f);
    (void) fputc('\n', f);

    for (size_t i = 0; i < n; i++) {
        r = check_row(posture_registry_at(reg, i), cells);
        if (r < 0)
            goto out;
        for (size_t c = 0; c < COL_SUMMARY; c++) {
            put_padded(f, sb_str(&cells[c]), width[c]);
            (void) fputs(GAP, f);
        }
        put_wrapped(f, cells[COL_SUMMARY].len > 0 ? sb_str(&cells[COL_SUMMARY]) : "-", summary_col,
                    style->columns);
    }
    r = 0;
out:
    cells_done(cells);
    return r;
}

static int option_to_json(const struct posture_option *opt, cJSON **ret)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    int r;

    if (!o)
        return -ENOMEM;
    r = posture_json_add_str(o, "key", opt->key);
    if (r >= 0)
        r = posture_json_add_str(o, "type", posture_option_type_to_string(opt->type));
    if (r >= 0)
        r = posture_json_add_str(o, "default", opt->default_value);
    if (r >= 0)
        r = posture_json_add_str(o, "help", opt->help);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(o);
    return 0;
}

static int check_to_json(const struct posture_check *chk, cJSON **ret)
{
    const struct posture_check_desc *d = chk->desc;
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    cJSON *needs, *options;
    int r;

    if (!o)
        return -ENOMEM;
    r = posture_json_add_str(o, "id", d->name);
    if (r >= 0)
        r = posture_json_add_str(o, "version", d->version);
    if (r >= 0)
        r = posture_json_add_str(o, "source", posture_check_source_to_string(chk->source));
    if (r >= 0)
        r = posture_json_add_str(o, "path", chk->path); /* null for built-ins */
    if (r < 0)
        return r;

    needs = cJSON_CreateArray();
    r = needs ? posture_json_add_item(o, "needs", needs) : -ENOMEM;
    if (r < 0)
        return r;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(need_names); i++) {
        if (!(d->flags & need_flags[i]))
            continue;
        r = posture_json_append_str(needs, need_names[i]);
        if (r < 0)
            return r;
    }

    r = posture_json_add_str(o, "summary", d->summary);
    if (r < 0)
        return r;

    options = cJSON_CreateArray();
    r = options ? posture_json_add_item(o, "options", options) : -ENOMEM;
    if (r < 0)
        return r;
    for (const struct posture_option *opt = d->options; opt && opt->key; opt++) {
        cJSON *item = NULL;

        r = option_to_json(opt, &item);
        if (r < 0)
            return r;
        r = posture_json_append(options, item);
        if (r < 0)
            return r;
    }

    *ret = POSTURE_TAKE_PTR(o);
    return 0;
}

int posture_cli_check_list_to_json(const struct posture_registry *reg, cJSON **ret)
{
    posture_auto_cjson cJSON *list = cJSON_CreateArray();
    size_t n = posture_registry_count(reg);
    int r;

    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        cJSON *item = NULL;

        r = check_to_json(posture_registry_at(reg, i), &item);
        if (r < 0)
            return r;
        r = posture_json_append(list, item);
        if (r < 0)
            return r;
    }
    *ret = POSTURE_TAKE_PTR(list);
    return 0;
}

static int stdout_errno;

int posture_cli_stdout_errno(void)
{
    return stdout_errno;
}

int posture_cli_print_json(FILE *f, const cJSON *doc)
{
    posture_autofree char *text = NULL;
    int r;

    r = posture_json_print(doc, true, &text);
    if (r < 0)
        return r;
    errno = 0;
    if (fputs(text, f) == EOF && f == stdout && stdout_errno == 0)
        stdout_errno = posture_negative_errno();
    return 0;
}
