/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Enough of apt.conf(5) syntax to read APT::Periodic settings from etc/apt/apt.conf.d/ *:
 *
 *     APT::Periodic::Unattended-Upgrade "1";
 *     APT { Periodic { Update-Package-Lists "1"; }; };
 *     APT::Periodic { Enable "0"; };
 *     #clear APT::Periodic;
 *
 * Comments are "//" to the end of the line, C block comments and '#' to the end of the line
 * (except the "#clear" and "#include" directives), all outside double quotes. Values may be
 * quoted or bare words. Keys are case-insensitive, as in apt; the caller compares with
 * strcasecmp. "#include" is not followed (reported as an ignored directive).
 *
 * The input is untrusted (files from the root): bounded, never aborts.
 */

#include <stdbool.h>
#include <stddef.h>

#define POSTURE_APTCONF_DEPTH_MAX 32    /* nested blocks */
#define POSTURE_APTCONF_KEY_MAX   1024u /* bytes of a full "A::B::C" key */
#define POSTURE_APTCONF_VALUE_MAX 4096u /* bytes of a value */
#define POSTURE_APTCONF_TEXT_MAX  (1u << 20)

/*
 * Called for each assignment with its full key ("APT::Periodic::Enable") and the value without
 * quotes; for "#clear KEY" with value NULL (the caller drops KEY and everything below it).
 * Return < 0 to stop parsing with that error.
 */
typedef int (*posture_aptconf_fn)(const char *key, const char *value, void *userdata);

/*
 * Parse text (len bytes). Returns the number of statements passed to fn, -EBADMSG on a syntax
 * error apt would reject too (unbalanced braces or quotes, a NUL byte), -E2BIG past the bounds,
 * -ENOMEM, or fn's error.
 */
int posture_aptconf_parse(const char *text, size_t len, posture_aptconf_fn fn, void *userdata);

/* True when key equals prefix or lies below it ("APT::Periodic::X" below "apt::periodic"). */
bool posture_aptconf_key_below(const char *key, const char *prefix);

/*
 * An APT::Periodic interval as apt.systemd.daily reads it: "always" or a positive number of
 * days, optionally with an s/m/h/d suffix, is enabled; "0", empty and anything else are not.
 */
bool posture_aptconf_interval_enabled(const char *value);
