/* SPDX-License-Identifier: Apache-2.0 */
/* posturectl list-checks: the checks this agent knows (DESIGN.md §4). */

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "posture/json.h"
#include "posture/log.h"
#include "posture/registry.h"

#include "cli.h"
#include "output.h"

static const char command[] = "list-checks";

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_CLI_PROGRAM " list-checks [--json] [--config FILE]\n"
           "\n"
           "List the checks this agent knows: id, version, source (built-in, .so, exec),\n"
           "what they need (root, tpm, net, slow) and a summary. --json adds each check's\n"
           "options.\n"
           "\n"
           "Options:\n"
           "  --json           print a JSON array instead of a table\n"
           "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
           "  -h, --help       show this help\n");
}

/* POSTURE_CLI_RUN to go on, or the exit status to return. */
static int parse_args(int argc, char **argv, struct posture_cli_common_args *a)
{
    return posture_cli_parse_common(command, argc, argv, POSTURE_CLI_TAKES_JSON, help, a);
}

int posture_cli_list_checks(int argc, char **argv)
{
    struct posture_cli_common_args args = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    posture_auto_registry struct posture_registry *reg = NULL;
    int r;

    r = parse_args(argc, argv, &args);
    if (r != POSTURE_CLI_RUN)
        return r;

    /* The configuration names where .so and exec checks live; a bad one is an error here too.
     * [check.*] sections are not validated: list-checks is how one finds the right keys. */
    r = posture_cli_config_load(args.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    r = posture_cli_registry_load(&cfg, &reg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    if (args.json) {
        posture_auto_cjson cJSON *doc = NULL;

        r = posture_cli_check_list_to_json(reg, &doc);
        if (r >= 0)
            r = posture_cli_print_json(stdout, doc);
    } else {
        struct posture_cli_style style;

        posture_cli_style_init(&style, STDOUT_FILENO);
        r = posture_cli_print_check_table(stdout, &style, reg);
    }
    if (r < 0) {
        (void) log_error_errno(r, "Failed to print the list of checks: %m");
        return POSTURE_EXIT_USAGE;
    }
    return POSTURE_EXIT_OK;
}
