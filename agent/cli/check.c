/* SPDX-License-Identifier: Apache-2.0 */
/* posturectl check: run the checks once, in process, and print the results (DESIGN.md §4). */

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/log.h"
#include "posture/registry.h"
#include "posture/runner.h"
#include "posture/strv.h"

#include "cli.h"
#include "output.h"

static const char command[] = "check";

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_CLI_PROGRAM " check [--json] [--only ID[,ID...]] [--root DIR]\n"
           "                        [--config FILE]\n"
           "\n"
           "Run the posture checks once, in this process, and print the results.\n"
           "\n"
           "Options:\n"
           "  --json           print the result document as JSON instead of a table\n"
           "  --only ID,...    run only these checks (repeatable; 'posturectl list-checks'\n"
           "                   lists the ids)\n"
           "  --root DIR       read host state under DIR instead of / (like dpkg --root)\n"
           "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
           "  -h, --help       show this help\n"
           "\n"
           "Exit status: 0 no check failed, 1 a check failed, 2 usage or configuration\n"
           "error, 3 nothing failed but a check could not decide.\n");
}

/* POSTURE_CLI_RUN to go on, or the exit status to return (POSTURE_EXIT_OK after --help). */
static int parse_args(int argc, char **argv, struct posture_cli_common_args *a)
{
    return posture_cli_parse_common(command, argc, argv,
                                    POSTURE_CLI_TAKES_JSON | POSTURE_CLI_TAKES_CHECKS, help, a);
}

static int print_json(const struct posture_run *run, int root_fd)
{
    posture_auto_cjson cJSON *doc = NULL;
    int r;

    r = posture_run_to_json(run, root_fd, &doc);
    if (r < 0)
        return log_error_errno(r, "Failed to build the JSON document: %m");
    r = posture_cli_print_json(stdout, doc);
    if (r < 0)
        return log_error_errno(r, "Failed to print the JSON document: %m");
    return 0;
}

int posture_cli_check(int argc, char **argv)
{
    POSTURE_CLEANUP(posture_cli_common_args_done) struct posture_cli_common_args args = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    posture_auto_run struct posture_run *run = NULL;
    posture_autoclose int root_fd = -1;
    struct posture_cli_style style;
    int r;

    r = parse_args(argc, argv, &args);
    if (r != POSTURE_CLI_RUN)
        return r;

    r = posture_cli_config_load(args.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    /* Before the runner starts threads: this reads the environment. */
    posture_cli_style_init(&style, STDOUT_FILENO);

    r = posture_cli_run_checks(&args, &cfg, &run, &root_fd);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    if (args.json)
        r = print_json(run, root_fd);
    else {
        r = posture_cli_print_run_table(stdout, &style, run);
        if (r < 0)
            (void) log_error_errno(r, "Failed to print the results: %m");
    }
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    return posture_run_exit_status(run);
}
