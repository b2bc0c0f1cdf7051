/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Declarations shared by the posture-verifier sources (DESIGN.md §4). Every command is a
 * function int fn(int argc, char **argv) with argv[0] the command name; it parses its own
 * options with getopt_long, logs its errors to stderr, prints its data to stdout and returns the
 * process exit status.
 */

#define POSTURE_VERIFIER_PROGRAM "posture-verifier"

/* Exit statuses of posture-verifier. */
enum {
    POSTURE_VERIFIER_EXIT_OK = 0,       /* the command did its job; the input was accepted */
    POSTURE_VERIFIER_EXIT_REJECTED = 1, /* the input was examined and refused */
    POSTURE_VERIFIER_EXIT_USAGE = 2,    /* usage error, or the input could not be read */
};

typedef int (*posture_verifier_command_fn)(int argc, char **argv);

/* One row of the subcommand table in main.c. */
struct posture_verifier_command {
    const char *name;
    posture_verifier_command_fn fn;
    const char *help; /* one line for `posture-verifier --help` */
};

int posture_verifier_eventlog(int argc, char **argv);

/* getopt_long() error for command (c is the '?' or ':' that getopt_long returned; the option
 * string must start with ':'). Returns POSTURE_VERIFIER_EXIT_USAGE. */
int posture_verifier_option_error(const char *command, int c, char **argv);
