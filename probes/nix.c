/* SPDX-License-Identifier: MIT */
/* Nix probe: does nix.conf tell the truth about this host? system-features claiming kvm while
 * /dev/kvm runs no guest sends VM tests here to abort or crawl under TCG; sandbox paths decide
 * whether builds can reach /dev/net/tun; build-dir is where VM state and rootfs copies land. */
#include <libgen.h>
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/nixconf.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "probes/probes.h"

#define NIX_INCLUDE_DEPTH_MAX 8
#define NIX_CONF_MAX (1024U * 1024U)

struct nix_parse {
        struct probe_ctx *ctx;
        struct nix_facts *n;
        char features[512];
        char extra_features[512];
        char sandbox_paths[1024];
        char extra_sandbox_paths[1024];
        char dir[256];  /* directory of the file being parsed, for relative includes */
        char file[256]; /* the file being parsed */
        unsigned depth;
        int error;
        char error_path[256];
        unsigned malformed_line; /* first line Nix rejects, 0 when none */
        char malformed_path[256];
};

/* Append a word list to another. The report's lists are sized for real nix.conf files; one
 * longer than that is cut short (and shown so in `check`), as the copy of the first list is. */
static void append_words(char *dst, size_t size, const char *words) {
        if (!*words)
                return;
        bufappendf_trunc(dst, size, "%s%s", dst[0] ? " " : "", words);
}

static int parse_file(struct nix_parse *np, const char *path);

static int nix_cb(enum nixconf_kind kind, const char *key, const char *value, unsigned line,
                  void *userdata) {
        struct nix_parse *np = userdata;
        char path[512];
        if (kind == NIXCONF_MALFORMED) {
                if (!np->malformed_line) {
                        np->malformed_line = line;
                        strscpy(np->malformed_path, sizeof(np->malformed_path), np->file);
                }
                return 0;
        }
        if (kind != NIXCONF_SETTING) {
                int r;
                if (value[0] == '/')
                        r = bufprintf(path, sizeof(path), "%s", value);
                else
                        r = bufprintf(path, sizeof(path), "%s/%s", np->dir, value);
                if (r >= 0)
                        r = parse_file(np, path);
                /* Nix ignores a missing !include and an include it cannot read; a missing
                 * plain include stops it ("file ... included from ... not found"). */
                if (r == -ENOENT && kind == NIXCONF_INCLUDE_OPTIONAL)
                        return 0;
                if (r == -ENOENT && !np->malformed_line) {
                        np->malformed_line = line;
                        strscpy(np->malformed_path, sizeof(np->malformed_path), np->file);
                        return 0;
                }
                if (r < 0 && !np->error) {
                        np->error = r;
                        strscpy(np->error_path, sizeof(np->error_path), path);
                }
                return 0;
        }
        if (streq(key, "system-features")) {
                strscpy(np->features, sizeof(np->features), value);
                np->n->features_explicit = true;
        } else if (streq(key, "extra-system-features"))
                append_words(np->extra_features, sizeof(np->extra_features), value);
        else if (streq(key, "sandbox"))
                strscpy(np->n->sandbox, sizeof(np->n->sandbox), value);
        else if (streq(key, "sandbox-paths") || streq(key, "build-chroot-dirs"))
                strscpy(np->sandbox_paths, sizeof(np->sandbox_paths), value);
        else if (streq(key, "extra-sandbox-paths"))
                append_words(np->extra_sandbox_paths, sizeof(np->extra_sandbox_paths), value);
        else if (streq(key, "build-dir"))
                strscpy(np->n->build_dir, sizeof(np->n->build_dir), value);
        return 0;
}

static int parse_file(struct nix_parse *np, const char *path) {
        _cleanup_free_ char *text = NULL;
        char saved_dir[256], saved_file[256], tmp[512];
        int r;

        if (np->depth >= NIX_INCLUDE_DEPTH_MAX)
                return -ELOOP;
        /* nix.conf and its includes are named by configuration: a FIFO or a device there must
         * neither block nor be opened (READ_CHECK_FIRST, see lib/fileio.c). */
        r = read_file_alloc_at(np->ctx->root_fd, path, READ_IN_ROOT | READ_CHECK_FIRST,
                               NIX_CONF_MAX, &text, NULL);
        if (r < 0)
                return r;
        if (np->depth > 0)
                np->n->includes_followed++;
        strscpy(saved_dir, sizeof(saved_dir), np->dir);
        strscpy(saved_file, sizeof(saved_file), np->file);
        strscpy(tmp, sizeof(tmp), path);
        strscpy(np->dir, sizeof(np->dir), dirname(tmp));
        strscpy(np->file, sizeof(np->file), path);
        np->depth++;
        r = nixconf_parse(text, nix_cb, np, NULL);
        np->depth--;
        strscpy(np->dir, sizeof(np->dir), saved_dir);
        strscpy(np->file, sizeof(np->file), saved_file);
        return r;
}

/* Does a sandbox path list give builds access to dev? Entries are "PATH", "PATH=SOURCE" or
 * "PATH?" (optional). */
static bool sandbox_has(const char *list, const char *dev) {
        size_t dl = strlen(dev);
        for (const char *p = list; *p;) {
                size_t l;
                p += strspn(p, " ");
                l = strcspn(p, " ");
                if (l >= dl && strncmp(p, dev, dl) == 0 &&
                    (l == dl || p[dl] == '=' || p[dl] == '?'))
                        return true;
                p += l;
        }
        return false;
}

struct fs_args {
        const char *path;
        size_t best;
        char fstype[64];
};

static int fs_cb(const struct mount_entry *e, void *userdata) {
        struct fs_args *a = userdata;
        size_t l = strlen(e->target);

        if (streq(e->target, "/"))
                l = 0;
        else if (strncmp(a->path, e->target, l) != 0 || (a->path[l] != '/' && a->path[l] != 0))
                return 0;
        if (l >= a->best || a->best == SIZE_MAX) {
                a->best = l;
                strscpy(a->fstype, sizeof(a->fstype), e->fstype);
        }
        return 0;
}

int probe_nix(struct probe_ctx *ctx, struct host_report *r) {
        struct nix_facts *n = &r->nix;
        struct probe_result *res = &r->results[PROBE_NIX];
        struct nix_parse np = { .ctx = ctx, .n = n };
        struct fs_args fa = { .best = SIZE_MAX };
        const char *conf = probe_ctx_nix_conf(ctx), *mountinfo;
        bool sandbox_on;
        char bd[sizeof(fa.fstype) + 3] = "";
        int e;

        strscpy(n->conf_path, sizeof(n->conf_path), conf);
        e = parse_file(&np, conf);
        if (e == -ENOENT) {
                bool store = probe_ctx_exists(ctx, "nix/store");
                probe_set(res, PROBE_ABSENT,
                          store ? "/nix/store exists but %s is missing: Nix defaults apply"
                                : "Nix is not installed (no %s)",
                          conf);
                return 0;
        }
        if (e < 0) {
                probe_set_error(res, PROBE_FAIL, e, conf);
                return 0;
        }
        n->conf_exists = true;
        if (n->features_explicit)
                strscpy(n->system_features, sizeof(n->system_features), np.features);
        else {
                /* Nix's default (getDefaultSystemFeatures): kvm only when /dev/kvm opened for the
                 * daemon when it started; judged here by whether KVM is usable now. */
                strscpy(n->system_features, sizeof(n->system_features),
                        r->kvm.usable ? "nixos-test benchmark big-parallel kvm"
                                      : "nixos-test benchmark big-parallel");
        }
        append_words(n->system_features, sizeof(n->system_features), np.extra_features);
        strscpy(n->sandbox_paths, sizeof(n->sandbox_paths), np.sandbox_paths);
        append_words(n->sandbox_paths, sizeof(n->sandbox_paths), np.extra_sandbox_paths);
        n->claims_kvm = word_list_contains(n->system_features, "kvm", false);
        n->tun_in_sandbox = sandbox_has(n->sandbox_paths, "/dev/net/tun");
        n->kvm_in_sandbox = sandbox_has(n->sandbox_paths, "/dev/kvm");
        sandbox_on = !n->sandbox[0] || streq(n->sandbox, "true");

        if (probe_ctx_mountinfo(ctx, &mountinfo) == 0) {
                fa.path = n->build_dir[0] ? n->build_dir : "/tmp";
                (void) mountinfo_parse(mountinfo, fs_cb, &fa, NULL);
                xsprintf(bd, " (%s)", fa.fstype);
        }

        if (np.malformed_line) {
                probe_set(res, PROBE_FAIL,
                          "Nix rejects %s:%u (illegal configuration line or missing include): "
                          "every nix command fails",
                          np.malformed_path, np.malformed_line);
                probe_set_remedy(res, "fix that line: settings are \"name = value\" with spaces "
                                      "around '='");
                return 0;
        }
        if (np.error < 0) {
                probe_set_error(res, PROBE_WARN, np.error, np.error_path);
                return 0;
        }
        if (n->claims_kvm && !r->kvm.usable) {
                probe_set(res, PROBE_FAIL,
                          "%s advertises system feature kvm but KVM is not usable: VM tests "
                          "scheduled here abort, or crawl under TCG (accel=kvm:tcg)",
                          conf);
                probe_set_remedy(res, "drop kvm from system-features and include hosttune's "
                                      "verified list: !include /run/hosttune/nix.conf (NixOS: "
                                      "services.hosttune.nixIntegration.systemFeatures)");
                return 0;
        }
        if (!n->claims_kvm && r->kvm.usable) {
                probe_set(res, PROBE_WARN,
                          "KVM is usable but %s does not advertise kvm: VM tests "
                          "are never scheduled here",
                          conf);
                probe_set_remedy(res,
                                 "add kvm to system-features, or !include /run/hosttune/nix.conf");
                return 0;
        }
        if (streq(n->sandbox, "relaxed")) {
                probe_set(res, PROBE_WARN,
                          "sandbox = relaxed: builds marked __noChroot run "
                          "without the sandbox and its sandbox-paths");
                probe_set_remedy(res, "set sandbox = true");
                return 0;
        }
        probe_set(res, PROBE_OK, "system-features: %s; sandbox %s%s; build-dir %s%s",
                  n->system_features[0] ? n->system_features : "(none)", sandbox_on ? "on" : "off",
                  sandbox_on && n->tun_in_sandbox ? " with /dev/net/tun" : "",
                  n->build_dir[0] ? n->build_dir : "/tmp", bd);
        return 0;
}
