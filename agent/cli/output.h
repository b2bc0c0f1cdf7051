/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Output of posturectl: tables for people, JSON for scripts. Everything printed from checks
 * (reasons, remediation, summaries) is sanitised first: control characters, C1 controls and
 * invalid UTF-8 never reach the terminal, so a check or a host file cannot inject escape
 * sequences.
 */

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "posture/registry.h"
#include "posture/runner.h"

struct posture_cli_style {
    bool colour;      /* ANSI colours (a terminal, NO_COLOR unset or empty, TERM not "dumb") */
    bool utf8;        /* "→" and "·", else "->" and ";" */
    unsigned columns; /* wrap width: $COLUMNS, else the terminal's width, else 80 */
};

/* Decide the style of output going to fd (normally STDOUT_FILENO). Reads the environment, so
 * call it before any worker thread starts. */
void posture_cli_style_init(struct posture_cli_style *ret, int fd);

/*
 * One line per check (status word, id, reason), an indented "→ remediation" line under fail,
 * warn and error results that have one, then a summary ("1 check: 1 pass · overall: pass").
 * Returns 0 or -ENOMEM; write errors are left in f's error flag.
 */
int posture_cli_print_run_table(FILE *f,
                                const struct posture_cli_style *style,
                                const struct posture_run *run);

/* Columns ID, VERSION, SOURCE, NEEDS, SUMMARY. Returns 0 or -ENOMEM. */
int posture_cli_print_check_table(FILE *f,
                                  const struct posture_cli_style *style,
                                  const struct posture_registry *reg);

/* The list-checks JSON document: an array of {id, version, source, needs, summary, options}.
 * Caller frees *ret. -ENOMEM. */
int posture_cli_check_list_to_json(const struct posture_registry *reg, cJSON **ret);

/* Print doc pretty (two-space indentation, trailing newline). Returns 0 or -ENOMEM; a failed
 * write is left to main()'s final check of stdout (see posture_cli_stdout_errno()). */
int posture_cli_print_json(FILE *f, const cJSON *doc);

/* The errno (negative) of the first failed posture_cli_print_json() write to stdout, or 0.
 * stdio drops it when a write fails in the middle of a long output, so the final
 * fflush()/ferror() of main() would only know that the stream failed. */
int posture_cli_stdout_errno(void);
