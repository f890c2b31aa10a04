/* SPDX-License-Identifier: MIT */
/* Unit tests for probes/kvm-smoke.c through its ops seam: a fake KVM that plays the guest and
 * answers the ioctls, to drive the fault paths no single machine shows (EBUSY, refused MSRs,
 * internal errors, failed entries, a slow or stuck guest). The real kernel is exercised by
 * tests/integration/test-kvm-smoke.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "lib/util.h"
#include "probes/kvm-smoke.h"

#define FD_KVM 100
#define FD_VM 101
#define FD_VCPU 102
#define RUN_SIZE 8192
#define IO_OFFSET 4096

struct fake {
        _Alignas(4096) uint8_t run[RUN_SIZE]; /* the kvm_run area the smoke guest maps */

        /* what to do wrong */
        unsigned long fail_req; /* this ioctl answers -fail_errno */
        int fail_errno;
        int set_msrs_written;                  /* KVM_SET_MSRS answer; -1: all */
        enum kvm_smoke_guest_step stop_before; /* the guest stops instead of doing this step */
        uint32_t stop_exit;                    /* with this exit reason */
        bool stuck;                            /* KVM_RUN returns -EINTR, immediate_exit set */
        uint64_t guest_loop_extra_ns;          /* time the guest's loop takes beyond a tick */
        bool no_cx16;
        bool lie_memory; /* hlt without having written the pages */

        /* state */
        uint8_t *mem;
        uint8_t seq[32];
        unsigned n_seq, idx;
        uint64_t clock;
        int open_fds;
        bool timeout_armed;
        bool xcr_set, msrs_set;
};

static const uint32_t fake_msrs[] = { 0x8b, 0x10a, 0x345 };

static int f_open(void *ud) {
        struct fake *f = ud;
        if (f->fail_req == 1)
                return -f->fail_errno;
        f->open_fds++;
        return FD_KVM;
}

static void build_seq(struct fake *f) {
        f->n_seq = 0;
        f->seq[f->n_seq++] = KVM_SMOKE_STEP_LONG_MODE;
        f->seq[f->n_seq++] = KVM_SMOKE_STEP_CPUID;
        f->seq[f->n_seq++] = KVM_SMOKE_STEP_RDTSC;
        if (!f->no_cx16)
                f->seq[f->n_seq++] = KVM_SMOKE_STEP_CMPXCHG16B;
        f->seq[f->n_seq++] = KVM_SMOKE_STEP_XSAVE;
        for (int i = 0; i < 3; i++) {
                f->seq[f->n_seq++] = KVM_SMOKE_STEP_LOOP_BEGIN;
                f->seq[f->n_seq++] = KVM_SMOKE_STEP_LOOP_END;
        }
        f->seq[f->n_seq++] = KVM_SMOKE_STEP_PAGES;
}

/* Play the guest: one exit per KVM_RUN. */
static int f_run(struct fake *f) {
        struct kvm_run *run = (struct kvm_run *) f->run;

        if (f->stuck) {
                run->immediate_exit = 1; /* as the timer's signal handler would */
                return -EINTR;
        }
        if (f->idx < f->n_seq && f->seq[f->idx] == f->stop_before) {
                run->exit_reason = f->stop_exit;
                if (f->stop_exit == KVM_EXIT_INTERNAL_ERROR) {
                        static const uint8_t cx16[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0e };
                        run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
                        /* Linux 5.16+ says which instruction; the cmpxchg16b case plays one. */
                        if (f->stop_before == KVM_SMOKE_STEP_CMPXCHG16B) {
                                run->emulation_failure.ndata = 3;
                                run->emulation_failure.flags =
                                        KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
                                run->emulation_failure.insn_size = sizeof(cx16);
                                memcpy(run->emulation_failure.insn_bytes, cx16, sizeof(cx16));
                        }
                }
                if (f->stop_exit == KVM_EXIT_FAIL_ENTRY)
                        run->fail_entry.hardware_entry_failure_reason = 0x80000021;
                return 0;
        }
        if (f->idx == f->n_seq) {
                uint64_t v;
                if (!f->lie_memory) {
                        v = KVM_SMOKE_PAGES_QWORDS;
                        memcpy(f->mem + KVM_SMOKE_PAGES_GPA, &v, 8);
                        v = 1;
                        memcpy(f->mem + KVM_SMOKE_PAGES_GPA + (KVM_SMOKE_PAGES_QWORDS - 1) * 8, &v,
                               8);
                        memcpy(f->mem + KVM_SMOKE_CX16_GPA, &v, 8);
                        v = 2;
                        memcpy(f->mem + KVM_SMOKE_CX16_GPA + 8, &v, 8);
                }
                run->exit_reason = KVM_EXIT_HLT;
                return 0;
        }
        if (f->seq[f->idx] == KVM_SMOKE_STEP_LOOP_END)
                f->clock += f->guest_loop_extra_ns;
        run->exit_reason = KVM_EXIT_IO;
        run->io.direction = KVM_EXIT_IO_OUT;
        run->io.port = KVM_SMOKE_PORT;
        run->io.size = 1;
        run->io.count = 1;
        run->io.data_offset = IO_OFFSET;
        f->run[IO_OFFSET] = f->seq[f->idx++];
        return 0;
}

static int f_ioctl(void *ud, int fd, unsigned long req, void *arg) {
        struct fake *f = ud;

        if (req == f->fail_req)
                return -f->fail_errno;
        switch (req) {
        case KVM_CREATE_VM:
                assert_int_equal(fd, FD_KVM);
                f->open_fds++;
                return FD_VM;
        case KVM_SET_USER_MEMORY_REGION: {
                const struct kvm_userspace_memory_region *m = arg;
                assert_int_equal(fd, FD_VM);
                assert_int_equal(m->memory_size, KVM_SMOKE_MEM_SIZE);
                f->mem = (uint8_t *) (uintptr_t) m->userspace_addr;
                return 0;
        }
        case KVM_CREATE_VCPU:
                f->open_fds++;
                return FD_VCPU;
        case KVM_GET_VCPU_MMAP_SIZE:
                return RUN_SIZE;
        case KVM_GET_SUPPORTED_CPUID: {
                struct kvm_cpuid2 *c = arg;
                assert_true(c->nent >= 2);
                c->nent = 2;
                c->entries[0] = (struct kvm_cpuid_entry2){
                        .function = 1, .ecx = (f->no_cx16 ? 0 : 1U << 13) | (1U << 26)
                };
                c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xd, .eax = 0x7 };
                return 0;
        }
        case KVM_SET_CPUID2:
                assert_int_equal(fd, FD_VCPU);
                return 0;
        case KVM_SET_XCRS: {
                const struct kvm_xcrs *x = arg;
                assert_int_equal(x->nr_xcrs, 1);
                assert_int_equal(x->xcrs[0].value, 7);
                f->xcr_set = true;
                return 0;
        }
        case KVM_GET_MSR_FEATURE_INDEX_LIST: {
                struct kvm_msr_list *l = arg;
                unsigned want = l->nmsrs;
                l->nmsrs = ELEMENTSOF(fake_msrs);
                if (want < ELEMENTSOF(fake_msrs))
                        return -E2BIG;
                memcpy(l->indices, fake_msrs, sizeof(fake_msrs));
                return 0;
        }
        case KVM_GET_MSRS: {
                struct kvm_msrs *m = arg;
                assert_int_equal(fd, FD_KVM); /* the feature values come from /dev/kvm */
                for (unsigned i = 0; i < m->nmsrs; i++)
                        m->entries[i].data = m->entries[i].index == 0x10a ? 0x69 : 0;
                return (int) m->nmsrs;
        }
        case KVM_SET_MSRS: {
                const struct kvm_msrs *m = arg;
                assert_int_equal(fd, FD_VCPU);
                f->msrs_set = true;
                return f->set_msrs_written >= 0 ? f->set_msrs_written : (int) m->nmsrs;
        }
        case KVM_GET_SREGS:
                memset(arg, 0, sizeof(struct kvm_sregs));
                return 0;
        case KVM_SET_SREGS: {
                const struct kvm_sregs *s = arg;
                assert_true(s->efer & (1U << 10)); /* LMA */
                assert_true(s->cr4 & (1U << 18));  /* OSXSAVE */
                assert_true(s->cr0 & (1UL << 31)); /* PG */
                assert_int_equal(s->cs.l, 1);
                return 0;
        }
        case KVM_SET_REGS:
                build_seq(f);
                return 0;
        case KVM_RUN:
                assert_true(f->timeout_armed);
                return f_run(f);
        default:
                fail_msg("unexpected ioctl %#lx", req);
        }
        return -ENOTTY;
}

static struct kvm_run *f_map_run(void *ud, int fd, size_t size) {
        struct fake *f = ud;
        assert_int_equal(fd, FD_VCPU);
        assert_int_equal(size, RUN_SIZE);
        return (struct kvm_run *) f->run;
}

static void f_unmap_run(void *ud, struct kvm_run *run, size_t size) {
        (void) ud;
        (void) run;
        (void) size;
}

static void f_close(void *ud, int fd) {
        struct fake *f = ud;
        assert_true(fd == FD_KVM || fd == FD_VM || fd == FD_VCPU);
        f->open_fds--;
}

/* A tick per reading: the native loop takes one tick, the guest's one plus its extra. */
static uint64_t f_now(void *ud) {
        struct fake *f = ud;
        return f->clock += 1000;
}

static int f_arm(void *ud, struct kvm_run *run, uint64_t usec) {
        struct fake *f = ud;
        assert_ptr_equal(run, f->run);
        if (usec)
                assert_int_equal(usec, KVM_SMOKE_TIMEOUT_USEC);
        f->timeout_armed = usec > 0;
        return 0;
}

static const struct kvm_smoke_ops fake_ops = {
        .open_dev = f_open,
        .ioctl = f_ioctl,
        .map_run = f_map_run,
        .unmap_run = f_unmap_run,
        .close_fd = f_close,
        .now_ns = f_now,
        .arm_timeout = f_arm,
};

static struct kvm_smoke_result run_fake(struct fake *f) {
        struct kvm_smoke_result r = { 0 };

        assert_int_equal(kvm_smoke_run(&fake_ops, f, &r), 0);
        assert_true(r.tried);
        assert_int_equal(f->open_fds, 0); /* every fd closed, whatever happened */
        assert_false(f->timeout_armed);   /* the time limit never outlives the run */
        return r;
}

static struct fake *new_fake(void) {
        /* aligned_alloc: calloc gives 16-byte alignment, not the page alignment of run[]. */
        struct fake *f = aligned_alloc(_Alignof(struct fake), sizeof(*f));
        assert_non_null(f);
        memset(f, 0, sizeof(*f));
        f->set_msrs_written = -1;
        return f;
}

static void test_guest_runs(void **state) {
        struct fake *f = new_fake();
        struct kvm_smoke_result r;
        (void) state;

        r = run_fake(f);
        assert_true(r.ran);
        assert_string_equal(r.step, "");
        assert_true(f->msrs_set && f->xcr_set);
        /* Every step reported, the loops as fast as natively (one tick each). */
        for (unsigned s = KVM_SMOKE_STEP_LONG_MODE; s < _KVM_SMOKE_STEP_MAX; s++)
                assert_true(r.steps & (1ULL << s));
        assert_true(r.ratio > 0.99 && r.ratio < 1.01);
        assert_non_null(strstr(r.reason, "cmpxchg16b, xsave/xrstor"));
        free(f);

        /* Without CX16 in CPUID the guest leaves cmpxchg16b out, and nobody checks it. */
        f = new_fake();
        f->no_cx16 = true;
        r = run_fake(f);
        assert_true(r.ran);
        assert_false(r.steps & (1ULL << KVM_SMOKE_STEP_CMPXCHG16B));
        free(f);
}

static void test_create_vm_busy(void **state) {
        struct fake *f = new_fake();
        struct kvm_smoke_result r;
        (void) state;

        f->fail_req = KVM_CREATE_VM;
        f->fail_errno = EBUSY;
        r = run_fake(f);
        assert_false(r.ran);
        assert_string_equal(r.step, "create-vm");
        assert_int_equal(r.error, -EBUSY);
        assert_string_equal(r.reason, "KVM_CREATE_VM: Device or resource busy");
        free(f);

        f = new_fake();
        f->fail_req = 1; /* open */
        f->fail_errno = EACCES;
        r = run_fake(f);
        assert_string_equal(r.step, "open");
        assert_string_equal(r.reason, "open /dev/kvm: Permission denied");
        free(f);
}

static void test_set_msrs_refused(void **state) {
        struct fake *f = new_fake();
        struct kvm_smoke_result r;
        (void) state;

        /* PVM's answer: the first MSR written, IA32_ARCH_CAPABILITIES refused. */
        f->set_msrs_written = 1;
        r = run_fake(f);
        assert_false(r.ran);
        assert_string_equal(r.step, "set-msrs");
        assert_string_equal(r.reason, "KVM_SET_MSRS wrote 1 of 3 MSRs (first refused: 0x10a) of "
                                      "the feature MSRs QEMU -cpu max writes (value 0x69)");
        free(f);

        /* An ioctl that fails outright carries the errno string. */
        f = new_fake();
        f->fail_req = KVM_SET_MSRS;
        f->fail_errno = EINVAL;
        r = run_fake(f);
        assert_string_equal(r.step, "set-msrs");
        assert_string_equal(r.reason, "KVM_SET_MSRS: Invalid argument");
        free(f);
}

static void test_guest_exits(void **state) {
        static const struct {
                enum kvm_smoke_guest_step before;
                uint32_t exit;
                const char *step, *reason;
        } cases[] = {
                { KVM_SMOKE_STEP_CMPXCHG16B, KVM_EXIT_INTERNAL_ERROR, "cmpxchg16b",
                  "KVM internal error at guest step cmpxchg16b: suberror 1 (emulation failure): "
                  "KVM could not emulate an instruction (instruction bytes f0 48 0f c7 0e)" },
                { KVM_SMOKE_STEP_XSAVE, KVM_EXIT_INTERNAL_ERROR, "xsave",
                  "KVM internal error at guest step xsave: suberror 1 (emulation failure): KVM "
                  "could not emulate an instruction" },
                { KVM_SMOKE_STEP_LONG_MODE, KVM_EXIT_FAIL_ENTRY, "long-mode",
                  "VM entry failed at guest step long-mode: hardware reason 0x80000021" },
                { KVM_SMOKE_STEP_PAGES, KVM_EXIT_SHUTDOWN, "pages",
                  "the guest shut down (triple fault) at step pages" },
                { KVM_SMOKE_STEP_RDTSC, KVM_EXIT_MMIO, "rdtsc",
                  "unexpected exit 6 at guest step rdtsc" },
                { KVM_SMOKE_STEP_CPUID, KVM_EXIT_HLT, "cpuid",
                  "the guest halted before step cpuid" },
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct fake *f = new_fake();
                struct kvm_smoke_result r;

                f->stop_before = cases[i].before;
                f->stop_exit = cases[i].exit;
                r = run_fake(f);
                assert_false(r.ran);
                assert_string_equal(r.step, cases[i].step);
                assert_string_equal(r.reason, cases[i].reason);
                free(f);
        }
}

static void test_slow_stuck_and_lying_guests(void **state) {
        struct fake *f = new_fake();
        struct kvm_smoke_result r;
        (void) state;

        /* A loop ten times slower than natively is emulation: fail at "ratio". */
        f->guest_loop_extra_ns = 9000;
        r = run_fake(f);
        assert_false(r.ran);
        assert_string_equal(r.step, "ratio");
        assert_true(r.ratio > 9.9 && r.ratio < 10.1);
        assert_non_null(strstr(r.reason, "10.0x slower than natively"));
        free(f);

        /* Just under the bound still runs. */
        f = new_fake();
        f->guest_loop_extra_ns = (uint64_t) ((KVM_SMOKE_RATIO_MAX - 1) * 1000) - 100;
        r = run_fake(f);
        assert_true(r.ran);
        free(f);

        /* The time limit kicks a stuck guest out: its step is named. */
        f = new_fake();
        f->stuck = true;
        r = run_fake(f);
        assert_false(r.ran);
        assert_string_equal(r.step, "long-mode");
        assert_non_null(strstr(r.reason, "did not reach hlt within 2000 ms"));
        free(f);

        /* hlt without the memory the guest should have written. */
        f = new_fake();
        f->lie_memory = true;
        r = run_fake(f);
        assert_false(r.ran);
        assert_string_equal(r.step, "verify");
        free(f);
}

static void test_format_parse(void **state) {
        struct kvm_smoke_result a = { .tried = true,
                                      .ran = false,
                                      .error = -EACCES,
                                      .uid = 30001,
                                      .usec = 120,
                                      .ratio = 0 },
                                b;
        char buf[512];
        (void) state;

        strscpy(a.step, sizeof(a.step), "open");
        strscpy(a.user, sizeof(a.user), "nixbld1");
        strscpy(a.reason, sizeof(a.reason), "open /dev/kvm:\tPermission\ndenied");
        assert_int_equal(kvm_smoke_format(&a, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "fail open 13 nixbld1 30001 120 0.000 open /dev/kvm: Permission "
                                 "denied");
        assert_int_equal(kvm_smoke_parse(buf, &b), 0);
        assert_true(b.tried && !b.ran);
        assert_string_equal(b.step, "open");
        assert_string_equal(b.user, "nixbld1");
        assert_int_equal(b.error, -EACCES);
        assert_int_equal(b.uid, 30001);
        assert_int_equal(b.usec, 120);
        assert_string_equal(b.reason, "open /dev/kvm: Permission denied");
        assert_int_equal(kvm_smoke_format(&a, buf, 20), -ENOBUFS);

        assert_int_equal(kvm_smoke_parse("ran - 0 root 0 900 1.5 fine", &b), 0);
        assert_true(b.ran);
        assert_string_equal(b.step, "");
        assert_true(b.ratio == 1.5);

        static const char *const bad[] = {
                "",
                "ran",
                "maybe - 0 root 0 1 1 x",
                "ran open 0 root 0 1 1 x", /* ran, yet a failed step */
                "fail - 0 root 0 1 1 x",   /* failed, yet no step */
                "ran - 0 root 0 1 -2 x",   /* negative ratio */
                "ran - -5 root 0 1 1 x",   /* negative errno */
                "ran - 0 root zero 1 1 x",
                "fail open 13 nixbld1 30001", /* truncated */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(kvm_smoke_parse(bad[i], &b), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_guest_runs),
                cmocka_unit_test(test_create_vm_busy),
                cmocka_unit_test(test_set_msrs_refused),
                cmocka_unit_test(test_guest_exits),
                cmocka_unit_test(test_slow_stuck_and_lying_guests),
                cmocka_unit_test(test_format_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
