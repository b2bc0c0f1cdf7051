/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Declarations shared by the posturectl sources (DESIGN.md §4). Every command is a function
 * int fn(int argc, char **argv) with argv[0] the command name; it parses its own options with
 * getopt_long, logs its errors to stderr, prints its data to stdout and returns the process exit
 * status.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <openssl/types.h>

#include "posture/agent_config.h"
#include "posture/config.h"
#include "posture/registry.h"
#include "posture/runner.h"

#define POSTURE_CLI_PROGRAM "posturectl"

/* Exit statuses of posturectl (DESIGN.md §4). */
enum {
    POSTURE_EXIT_OK = 0,        /* no check failed (or: the command did its job) */
    POSTURE_EXIT_FAILED = 1,    /* a check failed */
    POSTURE_EXIT_USAGE = 2,     /* usage or configuration error; the command could not run */
    POSTURE_EXIT_UNDECIDED = 3, /* nothing failed, but a check could not decide */
};

/* Returned by option parsers when the command should go on (not an exit status). */
#define POSTURE_CLI_RUN (-1)

typedef int (*posture_cli_command_fn)(int argc, char **argv);

/* One row of the subcommand table in main.c (wireguard-tools' wg.c pattern). */
struct posture_cli_command {
    const char *name;
    posture_cli_command_fn fn;
    const char *help; /* one line for `posturectl --help` */
};

int posture_cli_check(int argc, char **argv);
int posture_cli_list_checks(int argc, char **argv);
int posture_cli_key(int argc, char **argv);
int posture_cli_report(int argc, char **argv);
int posture_cli_enroll(int argc, char **argv);

int posture_cli_submit(int argc, char **argv);
int posture_cli_status(int argc, char **argv);
int posture_cli_token(int argc, char **argv);

/*
 * Report a getopt_long() error for command (NULL: the global options; c is the '?' or ':' that
 * getopt_long returned, and the option string must start with ':'). Returns POSTURE_EXIT_USAGE.
 */
int posture_cli_option_error(const char *command, int c, char **argv);
/* "unexpected argument 'x'" for the first non-option argument. Returns POSTURE_EXIT_USAGE. */
int posture_cli_extra_argument(const char *command, const char *arg);

/* getopt_long() values of the options commands share: --json, --config FILE, --only ID,...,
 * --root DIR and -h/--help ('h'). A command lists the ones it takes in its option table and
 * numbers its own options from POSTURE_CLI_OPT__MAX on. */
enum {
    POSTURE_CLI_OPT_JSON = 0x100,
    POSTURE_CLI_OPT_CONFIG,
    POSTURE_CLI_OPT_ONLY,
    POSTURE_CLI_OPT_ROOT,
    POSTURE_CLI_OPT__MAX,
};

struct posture_cli_common_args {
    bool json;          /* --json */
    const char *config; /* --config FILE; NULL: POSTURE_AGENT_CONFIG_PATH */
    char **only;        /* --only ID,... (repeatable); NULL: every check */
    const char *root;   /* --root DIR; NULL: "/" */
};

/* Frees what posture_cli_common_option() stored (the --only list). */
void posture_cli_common_args_done(struct posture_cli_common_args *a);

/*
 * Handle getopt_long()'s result c for command when it is none of the command's own options: a
 * common option is stored in a, -h prints help(stdout), and anything else is reported through
 * posture_cli_option_error(). Returns POSTURE_CLI_RUN to go on, else the exit status.
 */
int posture_cli_common_option(const char *command,
                              int c,
                              char **argv,
                              void (*help)(FILE *f),
                              struct posture_cli_common_args *a);

/* Which common options a command takes (posture_cli_parse_common). */
enum {
    POSTURE_CLI_TAKES_JSON = 1u << 0,
    POSTURE_CLI_TAKES_CHECKS = 1u << 1, /* --only and --root */
};

/*
 * Parse a command that takes only common options (flags: POSTURE_CLI_TAKES_*; --config and
 * --help always) and no arguments. Returns POSTURE_CLI_RUN to go on, or the exit status to
 * return (POSTURE_EXIT_OK after --help).
 */
int posture_cli_parse_common(const char *command,
                             int argc,
                             char **argv,
                             unsigned flags,
                             void (*help)(FILE *f),
                             struct posture_cli_common_args *a);

/* The configuration every command reads (--config FILE). */
struct posture_cli_config {
    struct posture_config *config;     /* every assignment, for [check.*] validation */
    struct posture_agent_config agent; /* the typed [agent]…[checks] sections */
    bool agent_initialised;
    unsigned n_errors; /* error diagnostics reported so far (diag userdata points here) */
};

/*
 * Load path (NULL: POSTURE_AGENT_CONFIG_PATH, which may be missing; an explicit path must
 * exist) and its drop-ins, and apply the agent sections. Diagnostics are logged as
 * "file:line: message". On error everything is logged and a negative errno returned; the caller
 * exits with POSTURE_EXIT_USAGE. The struct must not move while in use (the config's diag
 * callback points into it). Call posture_cli_config_done() in every case.
 */
int posture_cli_config_load(const char *path, struct posture_cli_config *c);
void posture_cli_config_done(struct posture_cli_config *c);

/* A new registry holding every check this agent knows: the built-ins, then the .so checks of
 * cfg's [checks] plugin_dirs and the exec checks of its exec_dirs (cfg may be NULL: built-ins
 * only). Files the loaders refuse are logged as warnings, one line each. Errors are logged; the
 * caller exits with POSTURE_EXIT_USAGE. */
int posture_cli_registry_load(const struct posture_cli_config *cfg, struct posture_registry **ret);

/*
 * Run the checks that a selects (--only, --root) under cfg, as `check` and `report` do: open
 * the root, load the registry, validate [check.*] sections, run. On success *ret_run is the run
 * and *ret_root_fd the opened root (both the caller's). Errors are logged (with file:line for
 * config errors) and returned as -errno; the caller exits with POSTURE_EXIT_USAGE.
 */
int posture_cli_run_checks(const struct posture_cli_common_args *a,
                           const struct posture_cli_config *cfg,
                           struct posture_run **ret_run,
                           int *ret_root_fd);

/* The device key of cfg's state directory (created on first use), or an error logged with
 * what is wrong and how to fix it (returned as -errno; the caller exits with
 * POSTURE_EXIT_USAGE). posture_cli_key_error() logs r for state_dir's key and returns it. */
int posture_cli_key_open(const struct posture_cli_config *cfg, EVP_PKEY **ret);

/*
 * Enrol this device (enroll.c): the request, the TPM credential challenge, and the certificate,
 * enrollment.json and, with store_ca, a copy of the CA stored in the state directory. ca is the
 * pinned verifier CA (a readable PEM file). Every failure is logged. Returns 0; -EAGAIN when a
 * later attempt may succeed (the verifier unreachable, 5xx, 429); another -errno when the
 * token or the request was refused (-EACCES), or the configuration is wrong. verbose: print the
 * outcome on stdout (posturectl) rather than log it (postured).
 */
int posture_cli_enroll_device(const struct posture_cli_config *cfg,
                              const char *url,
                              const char *ca,
                              bool store_ca,
                              const char *token,
                              bool verbose);
/* The token in path: its first line, surrounding white space removed; errors logged. */
int posture_cli_enroll_token_read(const char *path, char **ret);
int posture_cli_key_error(const char *state_dir, int r);

/* state_dir/enrollment.json, written by `enroll`: {"device_id", "tier", "server"}. */
#define POSTURE_CLI_ENROLLMENT_NAME "enrollment.json"

/*
 * A request to the verifier at url failed with r from posture_http_request() (detail: its
 * libcurl text, or NULL): log what went wrong and the fix (ca: the pinned CA file). Returns r.
 */
int posture_cli_transport_error(const char *url, const char *ca, int r, const char *detail);
/* "reason: detail" of an RFC 9457 problem body (our urn:posture:problem: prefix dropped) into
 * buf. -EBADMSG when body is not a JSON object. */
int posture_cli_problem_text(const char *body, size_t len, char *buf, size_t size);

/*
 * Run the checks that a selects under cfg and sign the report with pkey (DESIGN.md §7): the
 * claims of report.c, eat_nonce = nonce (base64url, or NULL for none), seq the next value of
 * state_dir/report.seq, dropped_reports = dropped when not 0. *ret_token is the compact JWS;
 * *ret_payload (optional) the payload exactly as signed (what the quote binds). Used by `report`
 * and `submit`. Errors are logged and returned as -errno; the caller exits with POSTURE_EXIT_USAGE.
 */
int posture_cli_report_build(const struct posture_cli_common_args *a,
                             const struct posture_cli_config *cfg,
                             EVP_PKEY *pkey,
                             const char *nonce,
                             uint64_t dropped,
                             char **ret_token,
                             char **ret_payload);

/*
 * The TPM evidence object (ATTESTATION.md §5.1) for the report payload and nonce, as
 * posture_cli_evidence_write() below makes it, into *ret (the caller frees it). Errors are
 * logged with the fix.
 */
int posture_cli_evidence_build(const struct posture_cli_config *cfg,
                               const uint8_t *nonce,
                               size_t nonce_len,
                               const char *payload,
                               size_t payload_len,
                               cJSON **ret);

/* The mTLS client to [server] url for this enrolled device (state_dir/device.crt and pkey,
 * which must outlive it), the verifier's CA pinned. Errors are logged with the fix. */
struct posture_http_client;
int posture_cli_verifier_connect(const struct posture_cli_config *cfg,
                                 EVP_PKEY *pkey,
                                 struct posture_http_client **ret);

/* Whether to send TPM evidence: [tpm] enabled = yes; auto when the device was enrolled at the
 * hardware tier (the verifier refuses evidence from a device enrolled without a TPM), or, with
 * no enrolment record, when a TPM answers. Used by submit and postured. */
bool posture_cli_evidence_wanted(const struct posture_cli_config *cfg);

/*
 * `report --evidence`: quote the TPM of cfg ([tpm] tcti) with the binding of nonce and the
 * report payload exactly as signed (DESIGN.md §7), read the EK certificate and the event log
 * ([tpm] event_log, at most 1 MiB; left out with a warning when unreadable), and write the
 * evidence object (ATTESTATION.md §5.1) to path, atomically. Errors are logged with the fix;
 * the caller exits with POSTURE_EXIT_USAGE.
 */
int posture_cli_evidence_write(const struct posture_cli_config *cfg,
                               const uint8_t *nonce,
                               size_t nonce_len,
                               const char *payload,
                               size_t payload_len,
                               const char *path);
