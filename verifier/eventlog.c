/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture-verifier eventlog FILE [--json]: parse and replay a TCG event log, print the PCRs per
 * bank, the Secure Boot facts, the warnings and the first error (DESIGN.md §4). Exit 0 when the
 * log parsed, replayed and passed the step 13 rules, 1 when it was refused, 2 on usage errors
 * or when FILE cannot be read.
 */

#include "posture/eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/log.h"

#include "verifier.h"

static const char command[] = "eventlog";

enum {
    OPT_JSON = 0x100,
};

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_VERIFIER_PROGRAM " eventlog FILE [--json]\n"
           "\n"
           "Parse a TCG PC Client firmware event log (binary_bios_measurements, crypto-agile or\n"
           "SHA-1 legacy), replay it per bank and apply the Secure Boot rules. Prints the\n"
           "replayed PCRs (those the log extends), the Secure Boot facts, the warnings and the\n"
           "first error. Exit status: 0 accepted, 1 refused, 2 usage error or unreadable FILE.\n"
           "\n"
           "Options:\n"
           "  --json       print one JSON object\n"
           "  -h, --help   show this help\n");
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static const char *format_name(enum posture_eventlog_format f)
{
    return f == POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY ? "sha1-legacy" : "crypto-agile";
}

/* Read FILE (bounded: one byte over the cap tells "too large" from "fits"). */
static int read_log(const char *path, char **ret, size_t *ret_len)
{
    posture_autoclose int fd = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    return posture_read_fd(fd, POSTURE_EVENTLOG_MAX_SIZE, ret, ret_len);
}

/* ---- text ---------------------------------------------------------------------------------- */

static void print_problem(const struct posture_eventlog_problem *p)
{
    if (p->event >= 0)
        (void) printf("error: %s at record %lld (offset %zu)\n",
                      posture_eventlog_reason_to_string(p->reason), (long long) p->event,
                      p->offset);
    else
        (void) printf("error: %s\n", posture_eventlog_reason_to_string(p->reason));
}

static void print_text(const char *path,
                       const struct posture_eventlog *log,
                       const struct posture_eventlog_secure_boot *sb,
                       const struct posture_eventlog_problem *problem,
                       bool accepted)
{
    char buf[2 * POSTURE_EVENTLOG_MAX_DIGEST + 1];

    (void) printf("log: %s\n", path);
    if (log) {
        (void) printf("format: %s, %zu records\n", format_name(log->format), log->n_events);
        if (log->startup_locality >= 0)
            (void) printf("startup locality: %d\n", log->startup_locality);
        for (size_t b = 0; b < log->n_banks; b++) {
            const struct posture_eventlog_bank *bank = &log->banks[b];
            const char *name = posture_eventlog_alg_name(bank->alg);

            if (!bank->replayed) {
                (void) printf("bank 0x%04x (%u bytes): not replayed\n", bank->alg,
                              bank->digest_size);
                continue;
            }
            (void) printf("%s:\n", name);
            for (unsigned pcr = 0; pcr < POSTURE_EVENTLOG_PCRS; pcr++) {
                if (!(log->extended & (UINT32_C(1) << pcr)))
                    continue;
                hex(bank->pcrs[pcr], bank->digest_size, buf);
                (void) printf("  %2u  %s\n", pcr, buf);
            }
        }
    }
    if (sb) {
        (void) printf("secure boot: %s\n", sb->secure_boot == 1   ? "enabled"
                                           : sb->secure_boot == 0 ? "disabled"
                                                                  : "unknown");
        (void) printf("  PCR 7 variables:");
        for (size_t i = 0; i < sb->n_config; i++)
            (void) printf(" %s(%lluB)", sb->config[i].name,
                          (unsigned long long) sb->config[i].data_len);
        (void) printf("\n  authorities:");
        for (size_t i = 0; i < sb->n_authorities; i++)
            (void) printf(" %s", sb->authorities[i].name);
        (void) printf("\n  exit boot services: %s\n", sb->exit_boot_services ? "yes" : "no");
        (void) printf("  boot applications (PCR 4): %zu\n", sb->n_boot_apps);
        for (size_t i = 0; i < sb->n_warnings; i++)
            (void) printf("warning: %s\n",
                          posture_eventlog_warning_to_string(sb->warnings[i].code));
    }
    if (!accepted)
        print_problem(problem);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static int add_hex(cJSON *obj, const char *key, const uint8_t *p, size_t n)
{
    char buf[2 * POSTURE_EVENTLOG_MAX_DIGEST + 1];

    if (n > POSTURE_EVENTLOG_MAX_DIGEST)
        return -EINVAL;
    hex(p, n, buf);
    return posture_json_add_str(obj, key, buf);
}

static int json_log(cJSON *root, const struct posture_eventlog *log)
{
    cJSON *banks, *pcrs;
    int r;

    r = posture_json_add_str(root, "format", format_name(log->format));
    if (r >= 0)
        r = posture_json_add_int(root, "records", (int64_t) log->n_events);
    if (r >= 0)
        r = log->startup_locality >= 0
                ? posture_json_add_int(root, "startup_locality", log->startup_locality)
                : posture_json_add_null(root, "startup_locality");
    if (r < 0)
        return r;

    banks = cJSON_CreateArray();
    r = posture_json_add_item(root, "banks", banks);
    if (r < 0)
        return r;
    pcrs = cJSON_CreateObject();
    r = posture_json_add_item(root, "pcrs", pcrs);
    if (r < 0)
        return r;

    for (size_t b = 0; b < log->n_banks; b++) {
        const struct posture_eventlog_bank *bank = &log->banks[b];
        const char *name = posture_eventlog_alg_name(bank->alg);
        char id[8];
        cJSON *item = cJSON_CreateObject(), *values;

        (void) snprintf(id, sizeof(id), "0x%04x", bank->alg);
        r = posture_json_append(banks, item);
        if (r < 0)
            return r;
        r = posture_json_add_str(item, "alg", name ? name : id);
        if (r >= 0)
            r = posture_json_add_int(item, "digest_size", bank->digest_size);
        if (r >= 0)
            r = posture_json_add_bool(item, "replayed", bank->replayed);
        if (r < 0)
            return r;
        if (!bank->replayed)
            continue;

        values = cJSON_CreateObject();
        r = posture_json_add_item(pcrs, name, values);
        if (r < 0)
            return r;
        for (unsigned pcr = 0; pcr < POSTURE_EVENTLOG_PCRS; pcr++) {
            char key[4];

            if (!(log->extended & (UINT32_C(1) << pcr)))
                continue;
            (void) snprintf(key, sizeof(key), "%u", pcr);
            r = add_hex(values, key, bank->pcrs[pcr], bank->digest_size);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static cJSON *json_variable(const struct posture_eventlog_variable *v)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    char guid[37];

    if (!o || posture_json_add_str(o, "name", v->name) < 0 ||
        posture_json_add_str(o, "guid", posture_eventlog_guid_to_string(v->guid, guid)) < 0 ||
        posture_json_add_int(o, "size", (int64_t) v->data_len) < 0 ||
        posture_json_add_int(o, "record", v->event) < 0)
        return NULL;
    return POSTURE_TAKE_PTR(o);
}

static int json_secure_boot(cJSON *root,
                            const struct posture_eventlog *log,
                            const struct posture_eventlog_secure_boot *sb)
{
    cJSON *o = cJSON_CreateObject(), *vars, *auths, *apps, *seps;
    const struct posture_eventlog_bank *sha256 = posture_eventlog_bank(log, POSTURE_TPM_ALG_SHA256);
    int r;

    r = posture_json_add_item(root, "secure_boot", o);
    if (r < 0)
        return r;
    r = sb->secure_boot < 0 ? posture_json_add_null(o, "enabled")
                            : posture_json_add_bool(o, "enabled", sb->secure_boot == 1);
    if (r >= 0)
        r = posture_json_add_bool(o, "exit_boot_services", sb->exit_boot_services);
    if (r >= 0)
        r = posture_json_add_bool(o, "calling_efi_application", sb->calling_efi_application);
    if (r >= 0)
        r = posture_json_add_bool(o, "debug_mode", sb->debug_mode);
    if (r >= 0)
        r = posture_json_add_bool(o, "dma_protection_disabled", sb->dma_protection_disabled);
    if (r < 0)
        return r;

    vars = cJSON_CreateArray();
    r = posture_json_add_item(o, "variables", vars);
    for (size_t i = 0; r >= 0 && i < sb->n_config; i++)
        r = posture_json_append(vars, json_variable(&sb->config[i]));
    if (r < 0)
        return r;
    auths = cJSON_CreateArray();
    r = posture_json_add_item(o, "authorities", auths);
    for (size_t i = 0; r >= 0 && i < sb->n_authorities; i++)
        r = posture_json_append(auths, json_variable(&sb->authorities[i]));
    if (r < 0)
        return r;
    seps = cJSON_CreateArray();
    r = posture_json_add_item(o, "separators", seps);
    for (int pcr = 0; r >= 0 && pcr < 8; pcr++)
        if (sb->separators & (1u << pcr))
            r = posture_json_append(seps, cJSON_CreateNumber(pcr));
    if (r < 0)
        return r;

    /* PCR 4 applications: record index and, when the log has the bank, the SHA-256 digest
     * (the PE Authenticode hash policy matches). */
    apps = cJSON_CreateArray();
    r = posture_json_add_item(o, "boot_applications", apps);
    for (size_t i = 0; r >= 0 && i < sb->n_boot_apps; i++) {
        const struct posture_eventlog_event *e = NULL;
        cJSON *app = cJSON_CreateObject();

        r = posture_json_append(apps, app);
        if (r < 0)
            break;
        r = posture_json_add_int(app, "record", sb->boot_apps[i]);
        for (size_t k = 0; k < log->n_events; k++)
            if (log->events[k].index == sb->boot_apps[i])
                e = &log->events[k];
        if (r >= 0 && e && sha256)
            r = add_hex(app, "sha256", e->digests[sha256 - log->banks], sha256->digest_size);
    }
    return r < 0 ? r : 0;
}

static int json_problem(cJSON *root, const struct posture_eventlog_problem *p)
{
    cJSON *o = cJSON_CreateObject();
    int r;

    r = posture_json_add_item(root, "error", o);
    if (r >= 0)
        r = posture_json_add_str(o, "reason", posture_eventlog_reason_to_string(p->reason));
    if (r >= 0)
        r = p->event >= 0 ? posture_json_add_int(o, "record", p->event)
                          : posture_json_add_null(o, "record");
    if (r >= 0)
        r = p->event >= 0 ? posture_json_add_int(o, "offset", (int64_t) p->offset)
                          : posture_json_add_null(o, "offset");
    return r;
}

static int print_json(const char *path,
                      const struct posture_eventlog *log,
                      const struct posture_eventlog_secure_boot *sb,
                      const struct posture_eventlog_problem *problem,
                      bool accepted)
{
    posture_auto_cjson cJSON *root = cJSON_CreateObject();
    posture_autofree char *out = NULL;
    cJSON *warnings;
    int r;

    if (!root)
        return -ENOMEM;
    r = posture_json_add_str(root, "file", path);
    if (r >= 0)
        r = posture_json_add_bool(root, "accepted", accepted);
    if (r >= 0 && log)
        r = json_log(root, log);
    if (r >= 0)
        r = sb ? json_secure_boot(root, log, sb) : posture_json_add_null(root, "secure_boot");
    if (r < 0)
        return r;

    warnings = cJSON_CreateArray();
    r = posture_json_add_item(root, "warnings", warnings);
    for (size_t i = 0; r >= 0 && sb && i < sb->n_warnings; i++) {
        cJSON *w = cJSON_CreateObject();

        r = posture_json_append(warnings, w);
        if (r >= 0)
            r = posture_json_add_str(w, "code",
                                     posture_eventlog_warning_to_string(sb->warnings[i].code));
        if (r >= 0)
            r = sb->warnings[i].event >= 0
                    ? posture_json_add_int(w, "record", sb->warnings[i].event)
                    : posture_json_add_null(w, "record");
    }
    if (r >= 0)
        r = accepted ? posture_json_add_null(root, "error") : json_problem(root, problem);
    if (r >= 0)
        r = posture_json_print(root, true, &out);
    if (r < 0)
        return r;
    (void) fputs(out, stdout);
    return 0;
}

int posture_verifier_eventlog(int argc, char **argv)
{
    static const struct option options[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    posture_autofree char *buf = NULL;
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
    struct posture_eventlog_problem problem = { .reason = POSTURE_EVENTLOG_OK, .event = -1 };
    const char *path;
    bool json = false;
    size_t len = 0;
    int c, r;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            help(stdout);
            return POSTURE_VERIFIER_EXIT_OK;
        case OPT_JSON:
            json = true;
            break;
        default:
            return posture_verifier_option_error(command, c, argv);
        }
    }
    if (optind >= argc) {
        log_error("eventlog: no FILE given (see '" POSTURE_VERIFIER_PROGRAM " eventlog --help')");
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        log_error("eventlog: unexpected argument '%s' (see '" POSTURE_VERIFIER_PROGRAM
                  " eventlog --help')",
                  argv[optind + 1]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    path = argv[optind];

    r = read_log(path, &buf, &len);
    if (r == -EFBIG)
        problem = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_TOO_LARGE, -1, 0 };
    else if (r < 0) {
        log_error_errno(r, "eventlog: cannot read %s: %m", path);
        return POSTURE_VERIFIER_EXIT_USAGE;
    } else {
        r = posture_eventlog_parse(buf, len, &log, &problem);
        if (r >= 0)
            r = posture_eventlog_secure_boot(log, &sb, &problem);
        if (r < 0 && r != -EBADMSG) {
            log_error_errno(r, "eventlog: %s: %m", path);
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
    }

    if (json) {
        r = print_json(path, log, sb, &problem, sb != NULL);
        if (r < 0) {
            log_error_errno(r, "eventlog: cannot format the result: %m");
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
    } else
        print_text(path, log, sb, &problem, sb != NULL);

    if (!sb)
        log_error("eventlog: %s refused: %s", path,
                  posture_eventlog_reason_to_string(problem.reason));
    return sb ? POSTURE_VERIFIER_EXIT_OK : POSTURE_VERIFIER_EXIT_REJECTED;
}
