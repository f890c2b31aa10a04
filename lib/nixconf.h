/* SPDX-License-Identifier: MIT */
/* Parser for nix.conf text (the format of Nix's applyConfigFile): "name = value" lines, '#'
 * comments, "include PATH" and "!include PATH" directives. No file access: includes are handed
 * to the caller. */
#pragma once

enum nixconf_kind {
        NIXCONF_SETTING,
        NIXCONF_INCLUDE,          /* include PATH: a missing file is an error for Nix */
        NIXCONF_INCLUDE_OPTIONAL, /* !include PATH: missing is fine */
        NIXCONF_MALFORMED,        /* a line Nix rejects ("illegal configuration line") */
};

/* Tokens are split at spaces, tabs and carriage returns, as Nix's tokenizeString does; '#'
 * starts a comment anywhere. A setting is NAME "=" VALUE...: the "=" must be a token of its
 * own ("a=b" is illegal for Nix, and so here). cb gets key and value (value is the tokens after
 * "=" joined by one space, possibly ""); for includes key is NULL and value the path as
 * written; for malformed lines key is NULL and value the line without its comment. Malformed
 * lines are also counted in *ret_malformed (may be NULL). Line numbers start at 1. Returns
 * the first negative value of cb, else 0. */
int nixconf_parse(const char *text,
                  int (*cb)(enum nixconf_kind kind, const char *key, const char *value,
                            unsigned line, void *userdata),
                  void *userdata, unsigned *ret_malformed);
