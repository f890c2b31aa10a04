/* SPDX-License-Identifier: MIT */
/* The KVM smoke guest: a tiny 64-bit guest run through the KVM API the way a VMM sets one up, so
 * that "KVM usable" means a guest ran, not only that /dev/kvm answered. docs/kvm-smoke.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_run;

/* A guest CPU-bound loop that takes longer than this many times the same loop run natively is
 * emulation in disguise (docs/kvm-smoke.md explains the figure). */
#define KVM_SMOKE_RATIO_MAX 4.0
/* Wall-clock limit for the guest from its first KVM_RUN: a crawling guest cannot hang a probe. */
#define KVM_SMOKE_TIMEOUT_USEC (2U * 1000U * 1000U)

/* The verdict of one smoke guest run. */
struct kvm_smoke_result {
        bool tried;       /* a run was attempted (false: not run, e.g. no build user) */
        bool ran;         /* the guest reached hlt and every check passed */
        char step[24];    /* the step that failed, "" when it ran */
        char reason[256]; /* what happened, in the kernel's words where it has some */
        char user[32];    /* who ran it: "root", "nixbld1", "nobody" */
        uint32_t uid;
        uint64_t usec;  /* wall time of the whole run, set-up included */
        double ratio;   /* guest loop time / native loop time, 0 when not measured */
        uint64_t steps; /* bit n set: guest step n was reported (for tests) */
        int error;      /* negative errno of the ioctl that failed, 0 otherwise */
};

/* Root's and a Nix build user's verdicts, with the identity of the KVM they are about. */
#define KVM_SMOKE_IDENTITY_MAX 96
struct kvm_smoke_verdict {
        struct kvm_smoke_result root;
        struct kvm_smoke_result build; /* .tried false: no build user could be tried */
        /* /dev/kvm's dev:ino:mode:ctime and the vendor module's sysfs inode when the guests
         * ran (kvm_smoke_identity()): a reloaded module or a replaced or re-moded node changes
         * it, and a verdict about another identity is stale. "" for fixtures. */
        char identity[KVM_SMOKE_IDENTITY_MAX];
};

/* The seam between the smoke guest and the kernel. Production uses kvm_smoke_ops_real; unit
 * tests pass their own to drive the fault paths (EBUSY, internal errors, refused MSRs, a slow
 * guest) that a given machine cannot show. Every callback returns a negative errno on failure. */
struct kvm_smoke_ops {
        /* open("/dev/kvm", O_RDWR|O_CLOEXEC): an fd. */
        int (*open_dev)(void *userdata);
        /* ioctl(fd, request, arg): its non-negative result. */
        int (*ioctl)(void *userdata, int fd, unsigned long request, void *arg);
        /* mmap the vCPU's shared kvm_run area of size bytes; NULL with errno set on failure. */
        struct kvm_run *(*map_run)(void *userdata, int vcpu_fd, size_t size);
        void (*unmap_run)(void *userdata, struct kvm_run *run, size_t size);
        void (*close_fd)(void *userdata, int fd);
        /* Monotonic nanoseconds. */
        uint64_t (*now_ns)(void *userdata);
        /* Make KVM_RUN return -EINTR (via run->immediate_exit) after usec; disarm with 0. */
        int (*arm_timeout)(void *userdata, struct kvm_run *run, uint64_t usec);
};

extern const struct kvm_smoke_ops kvm_smoke_ops_real;

/* Run the smoke guest through ops and fill ret (ret->user/uid are left to the caller). Returns
 * 0 whatever the guest did (the verdict is in ret), or a negative errno for a failure that is not
 * about KVM (out of memory). */
int kvm_smoke_run(const struct kvm_smoke_ops *ops, void *userdata, struct kvm_smoke_result *ret);

/* Run the smoke guest in a forked child that drops to uid/gid with no supplementary groups
 * (setgroups(0), setgid, setuid: how nix-daemon starts a builder) and report its verdict in ret
 * (user and uid filled in from the arguments). Returns 0, or a negative errno when the child
 * could not be started or gave no verdict. */
int kvm_smoke_run_as(const char *user, uint32_t uid, uint32_t gid, struct kvm_smoke_result *ret);

/* Guest steps, reported by the guest with OUT to KVM_SMOKE_PORT after each one. */
enum kvm_smoke_guest_step {
        KVM_SMOKE_STEP_LONG_MODE = 1,
        KVM_SMOKE_STEP_CPUID,
        KVM_SMOKE_STEP_RDTSC,
        KVM_SMOKE_STEP_CMPXCHG16B,
        KVM_SMOKE_STEP_XSAVE,
        KVM_SMOKE_STEP_LOOP_BEGIN,
        KVM_SMOKE_STEP_LOOP_END,
        KVM_SMOKE_STEP_PAGES,
        _KVM_SMOKE_STEP_MAX,
};
#define KVM_SMOKE_PORT 0x10

/* The name of a guest step ("cpuid", "cmpxchg16b", ...). */
const char *kvm_smoke_step_to_string(enum kvm_smoke_guest_step s);

/* Guest physical addresses the host checks after hlt (for tests that play the guest). */
#define KVM_SMOKE_MEM_SIZE (2U * 1024U * 1024U)
#define KVM_SMOKE_PAGES_GPA 0x10000U
#define KVM_SMOKE_PAGES_QWORDS 2048U
#define KVM_SMOKE_CX16_GPA 0x30000U
#define KVM_SMOKE_LOOP_ITERATIONS 4000000U

/* One verdict as one line of text, for the agent's state file and fixtures:
 * "ran|fail STEP|- ERRNO USER UID USEC RATIO REASON..." (ERRNO positive, 0 for none). Tabs and
 * newlines in the reason become spaces. -ENOBUFS when buf is too small. */
int kvm_smoke_format(const struct kvm_smoke_result *r, char *buf, size_t size);

/* Parse kvm_smoke_format()'s text; -EBADMSG for anything else. */
int kvm_smoke_parse(const char *text, struct kvm_smoke_result *ret);

/* The identity of the KVM under root_fd (see struct kvm_smoke_verdict): /dev/kvm's stat and
 * /sys/module/<vendor_module>'s inode. -errno when /dev/kvm cannot be looked at. */
int kvm_smoke_identity(int root_fd, const char *vendor_module, char *buf, size_t size);
