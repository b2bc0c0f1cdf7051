/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the posturectl commands: options, the configuration, the registry and a
 * run of the checks. */

#include <getopt.h>
#include <string.h>

#include "posture/fileio.h"
#include "posture/loader.h"
#include "posture/log.h"
#include "posture/registry.h"
#include "posture/runner.h"
#include "posture/strv.h"

#include "cli.h"

int posture_cli_option_error(const char *command, int c, char **argv)
{
    /* getopt_long() has advanced optind past the offending element. */
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    const char *sp = command ? " " : "";

    if (!command)
        command = "";
    if (c == ':')
        log_error("option '%s' needs an argument (see '" POSTURE_CLI_PROGRAM "%s%s --help')", arg,
                  sp, command);
    else if (optopt != 0)
        log_error("unknown option '-%c' (see '" POSTURE_CLI_PROGRAM "%s%s --help')", optopt, sp,
                  command);
    else
        log_error("unknown option '%s' (see '" POSTURE_CLI_PROGRAM "%s%s --help')", arg, sp,
                  command);
    return POSTURE_EXIT_USAGE;
}

int posture_cli_extra_argument(const char *command, const char *arg)
{
    log_error("%s: unexpected argument '%s' (see '" POSTURE_CLI_PROGRAM " %s --help')", command,
              arg, command);
    return POSTURE_EXIT_USAGE;
}

int posture_cli_common_option(const char *command,
                              int c,
                              char **argv,
                              void (*help)(FILE *f),
                              struct posture_cli_common_args *a)
{
    switch (c) {
    case 'h':
        help(stdout);
        return POSTURE_EXIT_OK;
    case POSTURE_CLI_OPT_JSON:
        a->json = true;
        return POSTURE_CLI_RUN;
    case POSTURE_CLI_OPT_CONFIG:
        if (optarg[0] == '\0') {
            log_error("--config needs a file");
            return POSTURE_EXIT_USAGE;
        }
        a->config = optarg;
        return POSTURE_CLI_RUN;
    case POSTURE_CLI_OPT_ONLY: {
        posture_auto_strv char **ids = NULL;
        int r = posture_strv_split(optarg, ",", &ids);

        if (r < 0) {
            (void) log_error_errno(r, "--only: %m");
            return POSTURE_EXIT_USAGE;
        }
        if (r == 0) {
            log_error("--only needs at least one check id (see '" POSTURE_CLI_PROGRAM
                      " list-checks')");
            return POSTURE_EXIT_USAGE;
        }
        POSTURE_FOREACH_STRV (id, ids) {
            r = posture_strv_extend(&a->only, id);
            if (r < 0) {
                (void) log_error_errno(r, "--only: %m");
                return POSTURE_EXIT_USAGE;
            }
        }
        return POSTURE_CLI_RUN;
    }
    case POSTURE_CLI_OPT_ROOT:
        if (optarg[0] == '\0') {
            log_error("--root needs a directory");
            return POSTURE_EXIT_USAGE;
        }
        a->root = optarg;
        return POSTURE_CLI_RUN;
    default:
        return posture_cli_option_error(command, c, argv);
    }
}

void posture_cli_common_args_done(struct posture_cli_common_args *a)
{
    a->only = posture_strv_free(a->only);
}

int posture_cli_run_checks(const struct posture_cli_common_args *a,
                           const struct posture_cli_config *cfg,
                           struct posture_run **ret_run,
                           int *ret_root_fd)
{
    posture_auto_registry struct posture_registry *reg = NULL;
    posture_auto_run struct posture_run *run = NULL;
    posture_autoclose int root_fd = -1;
    const char *unknown = NULL;
    int r;

    r = posture_root_open(a->root, &root_fd);
    if (r < 0)
        return log_error_errno(r, "--root %s: %m", a->root ? a->root : "/");
    r = posture_cli_registry_load(cfg, &reg);
    if (r < 0)
        return r;
    r = posture_runner_validate_config(reg, cfg->config);
    if (r < 0)
        return r; /* reported with file:line through the config's diag */

    struct posture_run_opts opts = {
        .root_fd = root_fd,
        .root_path = a->root ? a->root : "/",
        .only = a->only,
        .timeout_usec = cfg->agent.check_timeout_usec,
        .config = cfg->config,
        .exec_timeout_usec = cfg->agent.exec_timeout_usec,
    };
    r = posture_runner_run(reg, &opts, &run, &unknown);
    if (r == -ENOENT && unknown)
        return log_error_errno(r, "unknown check '%s' (see '" POSTURE_CLI_PROGRAM " list-checks')",
                               unknown);
    if (r < 0)
        return log_error_errno(r, "Failed to run the checks: %m");
    *ret_run = POSTURE_TAKE_PTR(run);
    *ret_root_fd = POSTURE_TAKE_FD(root_fd);
    return 0;
}

/* The message already starts with "file:line: " when it has a location (config.h). */
static void
config_diag(int level, const char *file, unsigned line, const char *message, void *userdata)
{
    unsigned *n_errors = userdata;

    (void) file; /* already part of message */
    (void) line;
    if (level <= LOG_ERR)
        (*n_errors)++;
    log_full(level, "%s", message);
}

int posture_cli_config_load(const char *path, struct posture_cli_config *c)
{
    const char *main_path = path ? path : POSTURE_AGENT_CONFIG_PATH;
    unsigned before;
    int r;

    *c = (struct posture_cli_config){ 0 };

    r = posture_config_new(config_diag, &c->n_errors, &c->config);
    if (r < 0)
        return log_error_errno(r, "Failed to set up the configuration: %m");

    before = c->n_errors;
    r = posture_config_load(c->config, main_path, path != NULL);
    if (r < 0) {
        /* Syntax errors were reported with file:line through config_diag(); say something
         * ourselves only when nothing was said yet (a missing or unreadable file). */
        if (c->n_errors == before)
            return log_error_errno(r, "%s%s: %m", path ? "--config " : "", main_path);
        return r;
    }

    r = posture_agent_config_init(&c->agent);
    if (r < 0)
        return log_error_errno(r, "Failed to set up the configuration: %m");
    c->agent_initialised = true;

    before = c->n_errors;
    r = posture_agent_config_apply(&c->agent, c->config);
    if (r < 0) {
        if (c->n_errors == before)
            return log_error_errno(r, "%s: invalid configuration: %m", main_path);
        return r;
    }
    return 0;
}

void posture_cli_config_done(struct posture_cli_config *c)
{
    if (c->agent_initialised)
        posture_agent_config_done(&c->agent);
    c->agent_initialised = false;
    c->config = posture_config_free(c->config);
}

/* One line per external check file refused or skipped (loader.h). */
static void loader_diag(int level, const char *path, const char *message, void *userdata)
{
    (void) userdata;
    log_full(level, "%s: %s", path, message);
}

int posture_cli_registry_load(const struct posture_cli_config *cfg, struct posture_registry **ret)
{
    posture_auto_registry struct posture_registry *reg = NULL;

    int r = posture_registry_new(&reg);
    if (r >= 0)
        r = posture_registry_add_builtins(reg);
    if (r < 0)
        return log_error_errno(r, "Failed to register the built-in checks: %m");

    /* Built-ins first, so an external check can never take a built-in's name. */
    if (cfg && cfg->agent_initialised) {
        const struct posture_loader_opts lo = { .owner = 0, .diag = loader_diag };

        POSTURE_FOREACH_STRV (dir, cfg->agent.plugin_dirs) {
            r = posture_loader_load_so_dir(reg, dir, &lo);
            if (r < 0)
                return log_error_errno(r, "Failed to load the .so checks of %s: %m", dir);
        }
        POSTURE_FOREACH_STRV (dir, cfg->agent.exec_dirs) {
            r = posture_loader_load_exec_dir(reg, dir, &lo);
            if (r < 0)
                return log_error_errno(r, "Failed to load the exec checks of %s: %m", dir);
        }
    }
    *ret = POSTURE_TAKE_PTR(reg);
    return 0;
}

int posture_cli_parse_common(const char *command,
                             int argc,
                             char **argv,
                             unsigned flags,
                             void (*help)(FILE *f),
                             struct posture_cli_common_args *a)
{
    struct option options[6];
    size_t n = 0;
    int c, r;

    if (flags & POSTURE_CLI_TAKES_JSON)
        options[n++] = (struct option){ "json", no_argument, NULL, POSTURE_CLI_OPT_JSON };
    if (flags & POSTURE_CLI_TAKES_CHECKS) {
        options[n++] = (struct option){ "only", required_argument, NULL, POSTURE_CLI_OPT_ONLY };
        options[n++] = (struct option){ "root", required_argument, NULL, POSTURE_CLI_OPT_ROOT };
    }
    options[n++] = (struct option){ "config", required_argument, NULL, POSTURE_CLI_OPT_CONFIG };
    options[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    options[n] = (struct option){ 0 };

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        r = posture_cli_common_option(command, c, argv, help, a);
        if (r != POSTURE_CLI_RUN)
            return r;
    }
    if (optind < argc)
        return posture_cli_extra_argument(command, argv[optind]);
    return POSTURE_CLI_RUN;
}
