/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posturectl: the command-line tool for people and scripts (DESIGN.md §4). A static table of
 * subcommands {name, fn, help}; each command parses its own options.
 */

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "posture/err.h"
#include "posture/log.h"
#include "posture/version.h"

#include "cli.h"
#include "output.h"

static int command_help(int argc, char **argv);

static const struct posture_cli_command commands[] = {
    { "check", posture_cli_check, "run the checks once and print the results" },
    { "list-checks", posture_cli_list_checks, "list the checks this agent knows" },
    { "report", posture_cli_report, "run the checks and print the signed report (JWS)" },
    { "key", posture_cli_key, "print the device public key (JWK or PEM)" },
    { "enroll", posture_cli_enroll, "enrol this device with the verifier" },
    { "submit", posture_cli_submit, "run one cycle now: challenge, checks, report, verdict" },
    { "status", posture_cli_status, "show the last verdict, what to fix, the spool (no network)" },
    { "token", posture_cli_token, "print the current EAR (the verifier's signed result)" },
    { "help", command_help, "show this help, or the help of one command" },
};

static const struct posture_cli_command *command_find(const char *name)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *f)
{
    (void) fprintf(f, "Usage: " POSTURE_CLI_PROGRAM " [--help] [--version] COMMAND [OPTIONS]\n"
                      "\n"
                      "Check this device's security posture.\n"
                      "\n"
                      "Commands:\n");
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(commands); i++)
        (void) fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
    (void) fprintf(f, "\n"
                      "Options:\n"
                      "  -h, --help     show this help\n"
                      "  -V, --version  show the version\n"
                      "\n"
                      "Run '" POSTURE_CLI_PROGRAM " help COMMAND' for the options of a command.\n");
}

static int command_help(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const struct posture_cli_command *cmd;
    int c;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            (void) printf("Usage: " POSTURE_CLI_PROGRAM " help [COMMAND]\n"
                          "\n"
                          "Show the list of commands, or the help of COMMAND.\n");
            return POSTURE_EXIT_OK;
        default:
            return posture_cli_option_error("help", c, argv);
        }
    }
    if (optind >= argc) {
        usage(stdout);
        return POSTURE_EXIT_OK;
    }
    if (optind + 1 < argc)
        return posture_cli_extra_argument("help", argv[optind + 1]);

    cmd = command_find(argv[optind]);
    if (!cmd) {
        log_error("unknown command '%s' (see '" POSTURE_CLI_PROGRAM " --help')", argv[optind]);
        return POSTURE_EXIT_USAGE;
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
    const struct posture_cli_command *cmd;
    int c;

    /* '+': stop at the command; its options are its own. */
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            usage(stdout);
            return POSTURE_EXIT_OK;
        case 'V':
            (void) printf(POSTURE_CLI_PROGRAM " " POSTURE_VERSION "\n");
            return POSTURE_EXIT_OK;
        default:
            return posture_cli_option_error(NULL, c, argv);
        }
    }
    if (optind >= argc) {
        log_error("no command given");
        usage(stderr);
        return POSTURE_EXIT_USAGE;
    }

    cmd = command_find(argv[optind]);
    if (!cmd) {
        log_error("unknown command '%s' (see '" POSTURE_CLI_PROGRAM " --help')", argv[optind]);
        return POSTURE_EXIT_USAGE;
    }
    return cmd->fn(argc - optind, argv + optind);
}

int main(int argc, char **argv)
{
    int status;

    /* Only the character set: it decides between "→" and "->". Messages and numbers stay C. */
    (void) setlocale(LC_CTYPE, ""); /* NOLINT(concurrency-mt-unsafe): no thread exists yet */
    posture_log_set_program(POSTURE_CLI_PROGRAM);
    posture_log_setup_from_env();

    status = run(argc, argv);

    /* Output that never reached stdout (a full disk, a closed pipe) is an error, for --help and
     * --version too. Output longer than stdio's buffer failed while the command printed, and
     * glibc does not write to a stream in error again: keep the errno of that write. */
    int early = ferror(stdout) ? errno : 0;
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        /* the flush's own errno, else the first failed write's that the JSON printer kept,
         * else errno as it was when the stream was found in error */
        int r = errno > 0 ? -errno : posture_cli_stdout_errno();
        if (r >= 0 && early > 0)
            r = -early;
        (void) log_error_errno(r < 0 ? r : -EIO, "Failed to write to standard output: %m");
        return POSTURE_EXIT_USAGE;
    }
    return status;
}
