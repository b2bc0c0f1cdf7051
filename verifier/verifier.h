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
int posture_verifier_devices(int argc, char **argv);
int posture_verifier_audit(int argc, char **argv);

/* Open the store named by --config/--state-dir/--store the way every command does (config
 * errors and open errors are logged with what to check). -EINVAL (config), or the store's. */
struct posture_store;
int posture_verifier_open_store(const char *command,
                                const char *config,
                                const char *state_dir,
                                const char *store_arg,
                                struct posture_store **ret);

/* The store URL: store when not NULL, else "sqlite:<state_dir>/store.db". -ENOMEM. */
int posture_verifier_store_url(const char *state_dir, const char *store, char **ret);

/* Read verifier.conf (path, or POSTURE_VERIFIER_CONFIG_PATH when NULL, which may be missing)
 * with its drop-ins into cfg, which the caller frees with posture_verifier_config_done().
 * Errors are logged (with file:line) and returned. */
struct posture_verifier_config;
int posture_verifier_load_config(const char *path, struct posture_verifier_config *cfg);

/* getopt_long() error for command (c is the '?' or ':' that getopt_long returned; the option
 * string must start with ':'). Returns POSTURE_VERIFIER_EXIT_USAGE. */
int posture_verifier_option_error(const char *command, int c, char **argv);
