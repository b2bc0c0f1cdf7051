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
int posture_verifier_serve(int argc, char **argv);
int posture_verifier_verify(int argc, char **argv);
int posture_verifier_token(int argc, char **argv);
int posture_verifier_ca(int argc, char **argv);

/* Defaults of verifier.conf (DESIGN.md §5) used by token and ca until they read --config. */
#define POSTURE_VERIFIER_STATE_DIR "/var/lib/posture-verifier"
#define POSTURE_VERIFIER_TLS_CERT  "/etc/posture/verifier.crt"

/* The store URL: store when not NULL, else "sqlite:<state_dir>/store.db". -ENOMEM. */
int posture_verifier_store_url(const char *state_dir, const char *store, char **ret);

/* getopt_long() error for command (c is the '?' or ':' that getopt_long returned; the option
 * string must start with ':'). Returns POSTURE_VERIFIER_EXIT_USAGE. */
int posture_verifier_option_error(const char *command, int c, char **argv);
