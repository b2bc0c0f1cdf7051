/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Decoders behind boot.secure_boot, separate so unit tests and the fuzz target call them
 * directly. Their input is file content from the root (efivarfs, the legacy sysfs efivars
 * interface, securityfs), hence untrusted: every length is checked and nothing is assumed
 * NUL-terminated.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* EFI_GLOBAL_VARIABLE: SecureBoot, SetupMode, AuditMode, DeployedMode (UEFI spec §3.3). */
#define POSTURE_EFI_GLOBAL_GUID "8be4df61-93ca-11d2-aa0d-00e098032b8c"
/* SHIM_LOCK_GUID: shim's MOK variables (MokSBStateRT). */
#define POSTURE_EFI_SHIM_LOCK_GUID "605dab50-e046-4300-abb6-3dd810dd8b23"

/* Variable attribute bits (UEFI spec, GetVariable()). */
#define POSTURE_EFI_VARIABLE_NON_VOLATILE       UINT32_C(0x00000001)
#define POSTURE_EFI_VARIABLE_BOOTSERVICE_ACCESS UINT32_C(0x00000002)
#define POSTURE_EFI_VARIABLE_RUNTIME_ACCESS     UINT32_C(0x00000004)

/* efivarfs content: a 32-bit little-endian attribute word, then the variable's data. */
#define POSTURE_EFIVARFS_ATTR_SIZE 4u

/*
 * A boolean UEFI variable (one data byte, 0 or 1) as efivarfs returns it: 4 bytes of
 * attributes, then the byte. Errors, *ret_* untouched:
 *   -ENODATA  len == 0 (an empty file: the variable vanished or its data was withheld);
 *   -EBADMSG  1..4 bytes (short: no data byte) or more than one data byte;
 *   -ERANGE   a data byte other than 0 or 1.
 * ret_attributes may be NULL.
 */
int posture_efivar_parse_bool(const void *buf, size_t len, uint32_t *ret_attributes, bool *ret);

/* The same for the legacy sysfs interface (/sys/firmware/efi/vars/<name>-<guid>/data), whose
 * file holds the data alone: exactly one byte, 0 or 1. Same errors. */
int posture_efivar_parse_bool_data(const void *buf, size_t len, bool *ret);

/*
 * The legacy interface's "attributes" file: one flag name per line
 * ("EFI_VARIABLE_NON_VOLATILE", ...). Returns the attribute word of the names it knows;
 * unknown lines are ignored. -EBADMSG on a NUL byte.
 */
int posture_efivar_parse_attributes_text(const char *text, size_t len, uint32_t *ret);

/*
 * True when name is the name of an efivarfs file or legacy sysfs directory, i.e.
 * "<VariableName>-<GUID>" with a lowercase or uppercase 36-character GUID. Used to tell a
 * populated variable store from an empty mount point (".gitkeep", "new_var" do not count).
 */
bool posture_efivar_name_is_variable(const char *name);

/* Longest lockdown mode name we accept ("confidentiality" is 15). */
#define POSTURE_LOCKDOWN_MODE_MAX 32u

/*
 * /sys/kernel/security/lockdown: the modes the kernel knows separated by blanks, the active one
 * in brackets ("none [integrity] confidentiality\n"). Copies the active mode's name into
 * ret_mode (NUL-terminated; mode_size must be > POSTURE_LOCKDOWN_MODE_MAX). Names are
 * [a-z0-9_-]+; the current kernel ones are none, integrity and confidentiality, later kernels
 * may add others. -EBADMSG: no bracketed word, more than one, an empty or malformed name, or a
 * NUL byte; -EINVAL: bad arguments.
 */
int posture_lockdown_parse(const char *text, size_t len, char *ret_mode, size_t mode_size);
