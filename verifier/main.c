/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture-verifier: the gateway-facing service and its offline tools (DESIGN.md §4). A static
 * table of subcommands {name, fn, help}, as in posturectl; each command parses its own options.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "posture/err.h"
#include "posture/log.h"
#include "posture/version.h"

#include "verifier.h"

static int command_help(int argc, char **argv);

static const struct posture_verifier_command commands[] = {
    { "audit", posture_verifier_audit, "check the hash chain of the audit log" },
    { "ca", posture_verifier_ca, "print the TLS CA or (--device) the device CA certificate" },
    { "devices", posture_verifier_devices, "list, show or revoke enrolled devices" },
    { "eventlog", posture_verifier_eventlog, "parse and replay a TCG event log" },
    { "help", command_help, "show this help, or the help of one command" },
    { "serve", posture_verifier_serve, "run the verifier service (HTTP, TLS)" },
    { "token", posture_verifier_token, "create one-time enrolment tokens" },
    { "verify", posture_verifier_verify, "appraise a report offline under a policy" },
};

static const struct posture_verifier_command *command_find(const char *name)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int posture_verifier_option_error(const char *command, int c, char **argv)
{
    /* getopt_long() has advanced optind past the offending element. */
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    const char *sp = command ? " " : "";

    if (!command)
        command = "";
    if (c == ':')
        log_error("option '%s' needs an argument (see '" POSTURE_VERIFIER_PROGRAM "%s%s --help')",
                  arg, sp, command);
    else if (optopt != 0)
        log_error("unknown option '-%c' (see '" POSTURE_VERIFIER_PROGRAM "%s%s --help')", optopt,
                  sp, command);
    else
        log_error("unknown option '%s' (see '" POSTURE_VERIFIER_PROGRAM "%s%s --help')", arg, sp,
                  command);
    return POSTURE_VERIFIER_EXIT_USAGE;
}

static void usage(FILE *f)
{
    (void) fprintf(f, "Usage: " POSTURE_VERIFIER_PROGRAM " [--help] [--version] COMMAND [OPTIONS]\n"
                      "\n"
                      "Verify device posture reports and TPM evidence.\n"
                      "\n"
                      "Commands:\n");
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(commands); i++)
        (void) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    (void) fprintf(f, "\n"
                      "Options:\n"
                      "  -h, --help     show this help\n"
                      "  -V, --version  show the version\n"
                      "\n"
                      "Run '" POSTURE_VERIFIER_PROGRAM
                      " help COMMAND' for the options of a command.\n");
}

static int command_help(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const struct posture_verifier_command *cmd;
    int c;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            (void) printf("Usage: " POSTURE_VERIFIER_PROGRAM " help [COMMAND]\n"
                          "\n"
                          "Show the list of commands, or the help of COMMAND.\n");
            return POSTURE_VERIFIER_EXIT_OK;
        default:
            return posture_verifier_option_error("help", c, argv);
        }
    }
    if (optind >= argc) {
        usage(stdout);
        return POSTURE_VERIFIER_EXIT_OK;
    }
    if (optind + 1 < argc) {
        log_error("help: unexpected argument '%s'", argv[optind + 1]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }

    cmd = command_find(argv[optind]);
    if (!cmd) {
        log_error("unknown command '%s' (see '" POSTURE_VERIFIER_PROGRAM " --help')", argv[optind]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    char *help_argv[] = { (char *) cmd->name, (char *) "--help", NULL };
    return cmd->fn(2, help_argv);
}

/* Dispatch; returns the exit status. */
static int run(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        {},
    };
    const struct posture_verifier_command *cmd;
    int c;

    /* '+': stop at the command; its options are its own. */
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            usage(stdout);
            return POSTURE_VERIFIER_EXIT_OK;
        case 'V':
            (void) printf(POSTURE_VERIFIER_PROGRAM " " POSTURE_VERSION "\n");
            return POSTURE_VERIFIER_EXIT_OK;
        default:
            return posture_verifier_option_error(NULL, c, argv);
        }
    }
    if (optind >= argc) {
        log_error("no command given");
        usage(stderr);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }

    cmd = command_find(argv[optind]);
    if (!cmd) {
        log_error("unknown command '%s' (see '" POSTURE_VERIFIER_PROGRAM " --help')", argv[optind]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    return cmd->fn(argc - optind, argv + optind);
}

int main(int argc, char **argv)
{
    int status;

    posture_log_set_program(POSTURE_VERIFIER_PROGRAM);
    posture_log_setup_from_env();

    status = run(argc, argv);

    /* Output that never reached stdout (a full disk, a closed pipe) is an error. */
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        (void) log_error_errno(posture_negative_errno(), "Failed to write to standard output: %m");
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    return status;
}
