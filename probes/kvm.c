/* SPDX-License-Identifier: MIT */
/* KVM probe: /dev/kvm node and mode, API version, the capabilities VMMs need, the vendor
 * module with its nested parameter, kvm.nx_huge_pages, why KVM is missing when it is, and
 * whether a guest really runs: the smoke guest (kvm-smoke.c) for root and for a Nix build
 * user. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/users.h"
#include "lib/util.h"
#include "probes/kvm-smoke.h"
#include "probes/probes.h"

#define KVM_MAJOR 10
#define KVM_MINOR 232 /* KVM_MINOR in include/linux/miscdevice.h */

/* Read a module parameter: "Y"/"N" or "1"/"0" booleans become 1/0; -1 when unknown (noted in
 * bad when the file exists but says something else). */
static int module_bool_param(struct probe_ctx *ctx, const char *module, const char *param,
                             struct probe_bad *bad) {
        char path[128], v[16];
        int r;

        r = bufprintf(path, sizeof(path), "sys/module/%s/parameters/%s", module, param);
        if (r >= 0)
                r = read_line_at(ctx->root_fd, path, v, sizeof(v));
        if (r == 0) {
                if (streq(v, "Y") || streq(v, "1"))
                        return 1;
                if (streq(v, "N") || streq(v, "0"))
                        return 0;
                r = -EINVAL;
        }
        probe_bad_note(bad, r, path);
        return -1;
}

/* The answers of the KVM ioctls, from the real device (live root). */
static void query_live(struct probe_ctx *ctx, struct kvm_facts *k) {
        /* The device node itself, for its ioctls: not open_read_at (lib/fileio.c), which accepts
         * regular files only; the probe checked before that it is char 10:232. */
        _cleanup_close_ int fd = open_in_root(ctx->root_fd, "dev/kvm", O_RDWR, 0);

        k->queried = true;
        if (fd < 0) {
                k->open_error = fd;
                return;
        }
        k->api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
        for (unsigned i = 0; i < _KVM_CAPI_MAX; i++) {
                int v = ioctl(fd, KVM_CHECK_EXTENSION, (unsigned long) kvm_cap_number(i));
                k->caps[i] = v < 0 ? 0 : v;
        }
}

/* One number from .fixture/kvm; garbage is noted in bad and reads as fallback. */
static int fixture_int(struct probe_ctx *ctx, const char *key, int fallback,
                       struct probe_bad *bad) {
        char v[64];
        int64_t n;
        int r = probe_ctx_fixture_value(ctx, "kvm", key, v, sizeof(v));

        if (r == 0) {
                r = parse_i64(v, &n);
                if (r == 0 && (n < INT32_MIN || n > INT32_MAX))
                        r = -ERANGE;
                if (r == 0)
                        return (int) n;
        }
        probe_bad_note(bad, r, FIXTURE_DIR "/kvm");
        return fallback;
}

/* The same answers from a fixture's .fixture/kvm ("open ok|EACCES", "api 12", "cap NAME N");
 * a capability the file does not list reads as 0, like an old kernel's answer. */
static void query_fixture(struct probe_ctx *ctx, struct kvm_facts *k, struct probe_bad *bad) {
        static const struct {
                const char *name;
                int error;
        } open_errors[] = { { "EACCES", -EACCES },
                            { "EPERM", -EPERM },
                            { "ENXIO", -ENXIO },
                            { "ENODEV", -ENODEV },
                            { "ENOENT", -ENOENT } };
        char v[64], key[64];
        int r;

        r = probe_ctx_fixture_value(ctx, "kvm", "open", v, sizeof(v));
        if (r < 0) {
                probe_bad_note(bad, r, FIXTURE_DIR "/kvm");
                return;
        }
        k->queried = true;
        if (!streq(v, "ok")) {
                k->open_error = -ENXIO;
                for (size_t i = 0; i < ELEMENTSOF(open_errors); i++)
                        if (streq(v, open_errors[i].name))
                                k->open_error = open_errors[i].error;
                return;
        }
        k->api_version = fixture_int(ctx, "api", -1, bad);
        for (unsigned i = 0; i < _KVM_CAPI_MAX; i++) {
                xsprintf(key, "cap %s", kvm_cap_name(i));
                k->caps[i] = fixture_int(ctx, key, 0, bad);
                if (k->caps[i] < 0)
                        k->caps[i] = 0;
        }
}

/* Who a Nix build runs as: the first member of group nixbld (nix-daemon's default
 * build-users-group), with that group as its gid, as nix-daemon starts builders; else nobody
 * (uid and gid from <root>/etc/passwd, 65534 when not listed). */
static void build_user(struct probe_ctx *ctx, char *name, size_t size, uint32_t *ret_uid,
                       uint32_t *ret_gid) {
        char member[32];
        uint32_t gid, uid;

        if (group_first_member_at(ctx->root_fd, "nixbld", member, sizeof(member), &gid) >= 0 &&
            user_lookup_at(ctx->root_fd, member, &uid) >= 0) {
                strscpy(name, size, member);
                *ret_uid = uid;
                *ret_gid = gid;
                return;
        }
        strscpy(name, size, "nobody");
        if (user_lookup_at(ctx->root_fd, "nobody", ret_uid) < 0)
                *ret_uid = 65534;
        if (group_lookup_at(ctx->root_fd, "nogroup", ret_gid) < 0 &&
            group_lookup_at(ctx->root_fd, "nobody", ret_gid) < 0)
                *ret_gid = 65534;
}

/* The smoke guests on the live root: reuse the verdict the context carries (the agent's) while
 * it is about this very /dev/kvm and module, else run them: as whoever runs the probe, and, when
 * that is root, in a child that became a Nix build user. */
static void smoke_live(struct probe_ctx *ctx, struct kvm_facts *k) {
        struct kvm_smoke_verdict *v = &k->smoke;
        char user[32];
        uint32_t uid, gid;

        if (kvm_smoke_identity(ctx->root_fd, k->vendor_module, v->identity, sizeof(v->identity)) <
            0)
                v->identity[0] = 0;
        if (ctx->kvm_smoke && ctx->kvm_smoke->root.tried && v->identity[0] &&
            streq(ctx->kvm_smoke->identity, v->identity)) {
                *v = *ctx->kvm_smoke;
                k->smoke_source = "agent";
                return;
        }
        if (kvm_smoke_run(&kvm_smoke_ops_real, NULL, &v->root) < 0) {
                v->root.tried = true;
                strscpy(v->root.step, sizeof(v->root.step), "run");
                strscpy(v->root.reason, sizeof(v->root.reason), "out of memory");
        }
        v->root.uid = (uint32_t) geteuid();
        if (v->root.uid == 0)
                strscpy(v->root.user, sizeof(v->root.user), "root");
        else
                bufprintf_trunc(v->root.user, sizeof(v->root.user), "uid %u", v->root.uid);
        k->smoke_source = "probe";
        if (v->root.uid != 0)
                return; /* only root can become a build user */
        build_user(ctx, user, sizeof(user), &uid, &gid);
        if (kvm_smoke_run_as(user, uid, gid, &v->build) < 0)
                v->build.tried = false;
}

/* The smoke verdicts of a fixture: .fixture/kvm "smoke-root LINE" and "smoke-build LINE", LINE
 * as kvm_smoke_format() writes it. No smoke-root line: no guest was run. */
static void smoke_fixture(struct probe_ctx *ctx, struct kvm_facts *k, struct probe_bad *bad) {
        static const char *const keys[] = { "smoke-root", "smoke-build" };
        struct kvm_smoke_result *res[] = { &k->smoke.root, &k->smoke.build };
        char v[512];

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                int r = probe_ctx_fixture_value(ctx, "kvm", keys[i], v, sizeof(v));
                if (r == 0)
                        r = kvm_smoke_parse(v, res[i]);
                if (r < 0)
                        probe_bad_note(bad, r, FIXTURE_DIR "/kvm");
        }
        if (k->smoke.root.tried)
                k->smoke_source = "fixture";
}

/* Which hypervisor holds VT-x/AMD-V when KVM_CREATE_VM says EBUSY (hardware_enable_all() found
 * the CPU's virtualisation extensions in use): the out-of-tree modules that take them. */
static const char *busy_hypervisor(struct probe_ctx *ctx) {
        static const struct {
                const char *module, *name;
        } known[] = { { "vboxdrv", "VirtualBox (vboxdrv)" },
                      { "vmmon", "VMware Workstation/Player (vmmon)" },
                      { "intel_haxm", "Intel HAXM" } };

        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                char path[64];
                if (bufprintf(path, sizeof(path), "sys/module/%s", known[i].module) >= 0 &&
                    probe_ctx_exists(ctx, path))
                        return known[i].name;
        }
        return NULL;
}

/* The verdict when root's smoke guest did not run. */
static void smoke_failed(struct probe_ctx *ctx, const struct kvm_facts *k,
                         struct probe_result *res) {
        const struct kvm_smoke_result *s = &k->smoke.root;
        bool pvm = streq(k->vendor_module, "kvm_pvm");
        const char *hv;

        if (streq(s->step, "create-vm") && s->error == -EBUSY) {
                hv = busy_hypervisor(ctx);
                probe_set(res, PROBE_FAIL,
                          "KVM smoke guest failed at create-vm: KVM_CREATE_VM: %s: %s holds "
                          "VT-x/AMD-V",
                          strerror(EBUSY), hv ? hv : "another hypervisor");
                probe_set_remedy(res,
                                 "stop %s and unload its module; KVM and it cannot share "
                                 "the CPU's virtualisation extensions",
                                 hv ? hv : "the other hypervisor (VirtualBox, VMware)");
                return;
        }
        probe_set(res, PROBE_FAIL, "KVM smoke guest failed at %s: %s%s", s->step, s->reason,
                  pvm ? "; kvm_pvm runs only PVM-enabled guest kernels" : "");
        if (pvm)
                probe_set_remedy(res, "boot guests with a PVM-enabled kernel (CONFIG_PVM_GUEST), "
                                      "or run VM tests where the CPU shows vmx/svm (nested "
                                      "virtualisation on the outer host); for TCG pass -accel "
                                      "tcg (accel=kvm:tcg falls back only when KVM's set-up "
                                      "fails; here it succeeds, then QEMU aborts)");
        else
                probe_set_remedy(res, "this kernel's KVM cannot run a stock guest (see dmesg); "
                                      "run VM tests on another host or fix the hypervisor");
}

/* Explain a missing /dev/kvm from what the CPU and the modules say. */
static void explain_absent(const struct host_report *r, struct kvm_facts *k,
                           struct probe_result *res) {
        const struct cpu_facts *c = &r->cpu;

        if (r->results[PROBE_CPU].status == PROBE_FAIL) {
                probe_set(res, PROBE_ABSENT, "no /dev/kvm (why is unknown: %s)",
                          r->results[PROBE_CPU].reason);
                probe_set_remedy(res, "load kvm_intel or kvm_amd if the CPU supports VT-x/AMD-V");
                return;
        }
        if (!c->flag_vmx && !c->flag_svm) {
                if (c->flag_hypervisor && streq(k->vendor_module, "kvm_pvm")) {
                        /* PVM (pagetable-based virtual machines) runs KVM guests without
                         * VT-x/AMD-V, in a VM too; its module is there but made no device. */
                        probe_set(res, PROBE_ABSENT,
                                  "no /dev/kvm: the CPU shows no vmx/svm flag (a virtual machine "
                                  "without nested virtualisation), and kvm_pvm, which needs "
                                  "neither, registered no device; VM tests would need TCG "
                                  "emulation (a NixOS test took 142 s instead of 18 s)");
                        probe_set_remedy(res, "enable nested virtualisation on the outer host, "
                                              "or run VM tests where /dev/kvm exists");
                } else if (c->flag_hypervisor) {
                        probe_set(res, PROBE_ABSENT,
                                  "no /dev/kvm: the CPU shows no vmx/svm flag, this is a virtual "
                                  "machine without nested virtualisation; VM tests would need "
                                  "TCG emulation (a NixOS test took 142 s instead of 18 s)");
                        probe_set_remedy(res, "enable nested virtualisation on the outer host "
                                              "(kvm_intel nested=1 / kvm_amd nested=1 and a CPU "
                                              "model that passes vmx/svm), or run VM tests on "
                                              "bare metal");
                } else {
                        probe_set(res, PROBE_ABSENT,
                                  "no /dev/kvm: the CPU shows no vmx/svm flag (virtualisation "
                                  "disabled in firmware, or a CPU without it)");
                        probe_set_remedy(res, "enable VT-x/AMD-V in the firmware setup");
                }
                return;
        }
        if (!k->vendor_module[0]) {
                const char *mod = c->flag_vmx ? "kvm_intel" : "kvm_amd";
                probe_set(res, PROBE_ABSENT,
                          "no /dev/kvm: the CPU supports %s but %s is not loaded",
                          c->flag_vmx ? "VT-x" : "AMD-V", mod);
                probe_set_remedy(res, "modprobe %s (NixOS: boot.kernelModules = [ \"%s\" ])", mod,
                                 mod);
                return;
        }
        probe_set(res, PROBE_ABSENT, "no /dev/kvm although %s is loaded", k->vendor_module);
        probe_set_remedy(res, "check that devtmpfs is mounted on /dev and udev created the node "
                              "(mknod /dev/kvm c 10 232)");
}

/* Read everything and decide the status; probe_kvm applies the garbage note afterwards. */
static int kvm_decide(struct probe_ctx *ctx, struct host_report *r, struct probe_bad *bad) {
        struct kvm_facts *k = &r->kvm;
        struct probe_result *res = &r->results[PROBE_KVM];
        char missing[256] = "";
        unsigned n_missing = 0;
        char v[16];
        int e;

        k->nested = -1;
        k->api_version = -1;
        for (unsigned i = 0; i < _KVM_CAPI_MAX; i++)
                k->caps[i] = -1;

        k->module_loaded = probe_ctx_exists(ctx, "sys/module/kvm");
        if (probe_ctx_exists(ctx, "sys/module/kvm_intel"))
                strscpy(k->vendor_module, sizeof(k->vendor_module), "kvm_intel");
        else if (probe_ctx_exists(ctx, "sys/module/kvm_amd"))
                strscpy(k->vendor_module, sizeof(k->vendor_module), "kvm_amd");
        else if (probe_ctx_exists(ctx, "sys/module/kvm_pvm"))
                strscpy(k->vendor_module, sizeof(k->vendor_module), "kvm_pvm");
        if (k->vendor_module[0] && !streq(k->vendor_module, "kvm_pvm"))
                k->nested = module_bool_param(ctx, k->vendor_module, "nested", bad);
        /* kvm.nx_huge_pages reads Y or N, or "never" when the mitigation was disabled for
         * good at boot (get_nx_huge_pages() in arch/x86/kvm/mmu/mmu.c). Detail only: no status
         * depends on it yet. */
        if (ctx->detail &&
            read_line_at(ctx->root_fd, "sys/module/kvm/parameters/nx_huge_pages", v, sizeof(v)) ==
                    0 &&
            (streq(v, "Y") || streq(v, "N") || streq(v, "never")))
                strscpy(k->nx_huge_pages, sizeof(k->nx_huge_pages), v);
        e = probe_ctx_device_acl(ctx, "dev/kvm", &k->dev);
        if (e < 0) {
                probe_set_error(res, PROBE_FAIL, e, "/dev/kvm");
                return 0;
        }
        if (!k->dev.exists) {
                explain_absent(r, k, res);
                return 0;
        }
        k->world_accessible = (k->dev.mode & 0006) == 0006;
        if (!k->dev.is_char || k->dev.major != KVM_MAJOR || k->dev.minor != KVM_MINOR) {
                probe_set(res, PROBE_FAIL,
                          "/dev/kvm is not the KVM device (%s %u:%u, want char 10:232)",
                          k->dev.is_char ? "char" : "not a char device", k->dev.major,
                          k->dev.minor);
                probe_set_remedy(res,
                                 "rm /dev/kvm and let udev recreate it (mknod /dev/kvm c 10 232)");
                return 0;
        }

        if (ctx->live)
                query_live(ctx, k);
        else if (ctx->fixture)
                query_fixture(ctx, k, bad);
        if (!k->queried) {
                probe_set(
                        res, PROBE_WARN,
                        "/dev/kvm present (mode %04o); not opened: the root is not this machine's",
                        (unsigned) k->dev.mode);
                return 0;
        }
        if (k->open_error < 0) {
                probe_set(res, PROBE_FAIL, "cannot open /dev/kvm: %s (mode %04o, uid %u, gid %u)",
                          strerror(-k->open_error), (unsigned) k->dev.mode, (unsigned) k->dev.uid,
                          (unsigned) k->dev.gid);
                res->error =
                        k->open_error == -EACCES || k->open_error == -EPERM ? 0 : k->open_error;
                probe_set_remedy(res, "add the user to the kvm group, or chmod 0666 /dev/kvm for "
                                      "Nix build users (policy [kvm] mode = 0666)");
                return 0;
        }
        if (k->api_version != KVM_API_VERSION) {
                probe_set(res, PROBE_FAIL, "KVM API version %d, expected %d", k->api_version,
                          KVM_API_VERSION);
                probe_set_remedy(res, "use a mainline kernel; this KVM is not the upstream ABI");
                return 0;
        }
        for (unsigned i = 0; i < _KVM_CAPI_MAX; i++)
                if (kvm_cap_needed_by_firecracker(i) && k->caps[i] <= 0) {
                        bufappendf_trunc(missing, sizeof(missing), "%s%s", n_missing ? "," : "",
                                         kvm_cap_name(i));
                        n_missing++;
                }
        if (n_missing > 0) {
                probe_set(res, PROBE_FAIL, "KVM lacks capabilities Firecracker needs: %s", missing);
                probe_set_remedy(res, "upgrade the kernel; nested KVM under some hypervisors "
                                      "hides these capabilities");
                return 0;
        }
        if (ctx->live)
                smoke_live(ctx, k);
        else
                smoke_fixture(ctx, k, bad);
        if (!k->smoke.root.tried) {
                probe_set(res, PROBE_WARN,
                          "KVM answers (API %d, %s) but no smoke guest was run: unverified",
                          k->api_version, k->vendor_module[0] ? k->vendor_module : "kvm");
                probe_set_remedy(res, "run hosttune check --offline on the host itself");
                return 0;
        }
        if (!k->smoke.root.ran) {
                smoke_failed(ctx, k, res);
                return 0;
        }
        k->usable = true;
        if (k->smoke.build.tried && !k->smoke.build.ran) {
                probe_set(res, PROBE_WARN,
                          "KVM runs a guest for %s, but not for Nix build user %s (uid %u, no "
                          "supplementary groups): failed at %s: %s",
                          k->smoke.root.user, k->smoke.build.user, k->smoke.build.uid,
                          k->smoke.build.step, k->smoke.build.reason);
                probe_set_remedy(res, "chmod 0666 /dev/kvm (policy [kvm] mode = 0666; NixOS: "
                                      "services.hosttune.kvm.worldAccessible)");
                return 0;
        }
        if (!k->smoke.build.tried && !k->world_accessible && !k->dev.has_acl) {
                probe_set(res, PROBE_WARN,
                          "KVM runs a guest for %s (API %d) but /dev/kvm is mode %04o: Nix build "
                          "users lose supplementary groups and cannot open it, so sandboxed VM "
                          "tests that ask for accel=kvm:tcg run under TCG and those that ask "
                          "for kvm fail",
                          k->smoke.root.user, k->api_version, (unsigned) k->dev.mode);
                probe_set_remedy(res, "chmod 0666 /dev/kvm (policy [kvm] mode = 0666; NixOS: "
                                      "services.hosttune.kvm.worldAccessible)");
                return 0;
        }
        if (streq(k->vendor_module, "kvm_pvm")) {
                probe_set(res, PROBE_WARN,
                          "KVM ran the smoke guest (API %d, kvm_pvm, mode %04o), but kvm_pvm runs "
                          "only PVM-enabled guest kernels",
                          k->api_version, (unsigned) k->dev.mode);
                probe_set_remedy(res, "boot guests with a PVM-enabled kernel (CONFIG_PVM_GUEST)");
                return 0;
        }
        probe_set(res, PROBE_OK,
                  "KVM usable: API %d, %s, mode %04o%s%s; a smoke guest ran (loop %.2fx native)",
                  k->api_version, k->vendor_module[0] ? k->vendor_module : "kvm",
                  (unsigned) k->dev.mode, k->nested == 1 ? ", nested on" : "",
                  k->dev.has_acl ? ", ACL" : "", k->smoke.root.ratio);
        return 0;
}

int probe_kvm(struct probe_ctx *ctx, struct host_report *r) {
        struct probe_bad bad = { 0 };
        int e = kvm_decide(ctx, r, &bad);

        if (e >= 0)
                probe_bad_apply(&bad, &r->results[PROBE_KVM]);
        return e;
}
