/* Parser for nix.conf text (the format of Nix's applyConfigFile): "name = value" lines, '#'
 * comments, "include PATH" and "!include PATH" directives. No file access: includes are handed
 * to the caller. */
#pragma once

enum nixconf_kind {
        NIXCONF_SETTING,
        NIXCONF_INCLUDE,          /* include PATH: a missing file is an error for Nix */
        NIXCONF_INCLUDE_OPTIONAL, /* !include PATH: missing is fine */
};

/* cb gets key and value (value is the tokens after "=" joined by one space; for includes key
 * is NULL and value the path as written). Lines Nix would reject are counted in
 * *ret_malformed. Returns the first negative value of cb, else 0. */
int nixconf_parse(const char *text,
                  int (*cb)(enum nixconf_kind kind, const char *key, const char *value,
                            unsigned line, void *userdata),
                  void *userdata, unsigned *ret_malformed);
