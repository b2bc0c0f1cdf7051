/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Parsers of dnf / yum output for os.patch_level on RPM-family hosts (the tools are run by the
 * check; these functions only read their stdout, which is untrusted input: every line and the
 * whole text are bounded, nothing aborts).
 *
 *   dnf -C -q updateinfo list --security   (dnf 4: "ID  Severity/Sec.  NEVRA" per line;
 *                                           dnf 5: "ID  security  Severity  NEVRA  Issued")
 *   dnf -C -q check-update                 ("name.arch  [epoch:]version-release  repo" per
 *                                           line, long names wrapped onto two lines, then an
 *                                           optional "Obsoleting Packages" section)
 */

#include <stdbool.h>
#include <stddef.h>

/* Longest line looked at; longer lines are skipped as unparseable. */
#define POSTURE_DNF_LINE_MAX 4096u
/* Most distinct packages kept from one output. */
#define POSTURE_DNF_PACKAGES_MAX 100000u

struct posture_dnf_updateinfo {
    char **names;      /* distinct packages with a security advisory, sorted (strv) */
    size_t n_names;    /* length of names */
    size_t advisories; /* lines that named an advisory and a package */
    size_t ignored;    /* non-empty lines that were neither an advisory nor a header */
};

/*
 * Parse `updateinfo list --security` output. A package is named "name" when its architecture is
 * noarch or native_arch (e.g. "x86_64"; NULL: any), else "name.arch", so that multilib pairs
 * count twice, like apt's "libc6" and "libc6:i386". Lines whose type is not a security type are
 * ignored. Returns the number of distinct packages, -EBADMSG when there were non-empty lines but
 * none of them was an advisory or a known header (an output format we do not understand), -E2BIG
 * past POSTURE_DNF_PACKAGES_MAX, -ENOMEM, -EINVAL. The caller frees with
 * posture_dnf_updateinfo_done().
 */
int posture_dnf_parse_updateinfo(const char *text,
                                 size_t len,
                                 const char *native_arch,
                                 struct posture_dnf_updateinfo *ret);
void posture_dnf_updateinfo_done(struct posture_dnf_updateinfo *u);

/*
 * Parse `check-update` output: the number of distinct name.arch entries before the
 * "Obsoleting Packages" section. Returns that number, -EBADMSG when non-empty lines were present
 * but none was an update, -E2BIG, -ENOMEM, -EINVAL.
 */
int posture_dnf_parse_check_update(const char *text, size_t len, size_t *ret_ignored);

/*
 * Split a NEVRA such as "openssl-libs-1:3.0.7-27.el9.x86_64" into its name ("openssl-libs") and
 * architecture ("x86_64"), both malloc'ed. Returns 0, -EINVAL when it is not a NEVRA with a
 * known architecture, -ENOMEM.
 */
int posture_dnf_split_nevra(const char *nevra, char **ret_name, char **ret_arch);
