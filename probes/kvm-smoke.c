/* SPDX-License-Identifier: MIT */
/* The KVM smoke guest (see kvm-smoke.h): set up a VM as QEMU does for -cpu max/host, enter
 * 64-bit long mode, run what an early Linux boot relies on, and time a CPU-bound loop against
 * the same loop run natively. Every ioctl goes through struct kvm_smoke_ops. */
#include "probes/kvm-smoke.h"

#include <assert.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "lib/util.h"

/* Guest physical layout (identity mapped by one 2 MiB page; the slot is 2 MiB). */
#define GDT_GPA 0x500U
#define PML4_GPA 0x1000U
#define PDPT_GPA 0x2000U
#define PD_GPA 0x3000U
#define CODE_GPA 0x8000U
#define XSAVE_GPA 0x20000U
#define STACK_GPA 0x80000U
#define CODE_MAX 1024U

/* Control register and EFER bits (Intel SDM vol. 3, 2.5; AMD APM vol. 2, 3.1). */
#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_OSXSAVE (1ULL << 18)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define PTE_P (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)
#define CPUID1_ECX_CX16 (1U << 13)
#define CPUID1_ECX_XSAVE (1U << 26)
#define XCR0_X87_SSE_AVX 0x7ULL

/* Guest code, hand-assembled x86-64. The host concatenates the snippets it wants (cmpxchg16b
 * and xsave only when the CPUID it gave the guest offers them), so no jump crosses a snippet.
 * Each snippet ends by reporting its step: mov al, STEP (b0 ib); out 0x10, al (e6 10). */
#define OUT_STEP(s) 0xb0, (s), 0xe6, KVM_SMOKE_PORT

static const uint8_t code_long_mode[] = {
        OUT_STEP(KVM_SMOKE_STEP_LONG_MODE), /* we are in 64-bit mode: say so */
};
static const uint8_t code_cpuid[] = {
        0x31,
        0xc0, /* xor eax, eax */
        0x31,
        0xc9, /* xor ecx, ecx */
        0x0f,
        0xa2, /* cpuid (leaf 0: vendor) */
        0xb8,
        0x01,
        0x00,
        0x00,
        0x00, /* mov eax, 1 */
        0x0f,
        0xa2, /* cpuid (leaf 1: features) */
        OUT_STEP(KVM_SMOKE_STEP_CPUID),
};
static const uint8_t code_rdtsc[] = {
        0x0f,
        0x31, /* rdtsc */
        OUT_STEP(KVM_SMOKE_STEP_RDTSC),
};
/* Linux's this_cpu_cmpxchg_double and SLUB rely on it; PVM's emulator died on it. Compares
 * rdx:rax (0:0, the zeroed target) with [rsi] and stores rcx:rbx (2:1) there. */
static const uint8_t code_cmpxchg16b[] = {
        0xbe,
        0x00,
        0x00,
        0x03,
        0x00, /* mov esi, KVM_SMOKE_CX16_GPA */
        0x31,
        0xc0, /* xor eax, eax */
        0x31,
        0xd2, /* xor edx, edx */
        0xbb,
        0x01,
        0x00,
        0x00,
        0x00, /* mov ebx, 1 */
        0xb9,
        0x02,
        0x00,
        0x00,
        0x00, /* mov ecx, 2 */
        0xf0,
        0x48,
        0x0f,
        0xc7,
        0x0e, /* lock cmpxchg16b [rsi] */
        OUT_STEP(KVM_SMOKE_STEP_CMPXCHG16B),
};
/* What every context switch of a Linux guest does with the FPU state: save it, restore it. */
static const uint8_t code_xsave[] = {
        0xbf,
        0x00,
        0x00,
        0x02,
        0x00, /* mov edi, XSAVE_GPA (64-byte aligned) */
        0xb8,
        0xff,
        0xff,
        0xff,
        0xff, /* mov eax, -1 (every component XCR0 enables) */
        0xba,
        0xff,
        0xff,
        0xff,
        0xff, /* mov edx, -1 */
        0x48,
        0x0f,
        0xae,
        0x27, /* xsave64 [rdi] */
        0x48,
        0x0f,
        0xae,
        0x2f, /* xrstor64 [rdi] */
        OUT_STEP(KVM_SMOKE_STEP_XSAVE),
};
/* The timed loop; native_loop() runs the same three instructions. */
static const uint8_t code_loop[] = {
        OUT_STEP(KVM_SMOKE_STEP_LOOP_BEGIN),
        0xb9,
        0x00,
        0x09,
        0x3d,
        0x00, /* mov ecx, KVM_SMOKE_LOOP_ITERATIONS (4000000) */
        0x48,
        0x01,
        0xc8, /* 1: add rax, rcx */
        0xff,
        0xc9, /* dec ecx */
        0x75,
        0xf9, /* jnz 1b */
        OUT_STEP(KVM_SMOKE_STEP_LOOP_END),
};
/* Write every qword of four pages (first touches fault them in through the nested/shadow page
 * tables), the countdown value, so the host can check the guest really wrote them. */
static const uint8_t code_pages[] = {
        0xbf,
        0x00,
        0x00,
        0x01,
        0x00, /* mov edi, KVM_SMOKE_PAGES_GPA */
        0xb9,
        0x00,
        0x08,
        0x00,
        0x00, /* mov ecx, KVM_SMOKE_PAGES_QWORDS (2048) */
        0x48,
        0x89,
        0x0f, /* 1: mov [rdi], rcx */
        0x48,
        0x83,
        0xc7,
        0x08, /* add rdi, 8 */
        0xff,
        0xc9, /* dec ecx */
        0x75,
        0xf5, /* jnz 1b */
        OUT_STEP(KVM_SMOKE_STEP_PAGES),
};
static const uint8_t code_hlt[] = {
        0xf4, /* hlt */
};

#define LOOP_RUNS 3

/* The guest's timed loop, natively: the same instructions as code_loop. */
static void native_loop(void) {
        uint64_t a = 0;
        uint32_t c = KVM_SMOKE_LOOP_ITERATIONS;

        __asm__ volatile("1: add %%rcx, %%rax\n\tdec %%ecx\n\tjnz 1b" : "+a"(a), "+c"(c) : : "cc");
}

static const char *const kvm_smoke_step_table[_KVM_SMOKE_STEP_MAX] = {
        [KVM_SMOKE_STEP_LONG_MODE] = "long-mode", [KVM_SMOKE_STEP_CPUID] = "cpuid",
        [KVM_SMOKE_STEP_RDTSC] = "rdtsc",         [KVM_SMOKE_STEP_CMPXCHG16B] = "cmpxchg16b",
        [KVM_SMOKE_STEP_XSAVE] = "xsave",         [KVM_SMOKE_STEP_LOOP_BEGIN] = "loop",
        [KVM_SMOKE_STEP_LOOP_END] = "loop",       [KVM_SMOKE_STEP_PAGES] = "pages",
};

/* Entry 0 is no step: "?" like a value past the table. */
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(kvm_smoke_step, enum kvm_smoke_guest_step, "?")

/* One smoke run's state; every resource is released by smoke_done(). */
struct smoke {
        const struct kvm_smoke_ops *ops;
        void *ud;
        int kvm, vm, vcpu;
        uint8_t *mem;
        struct kvm_run *run;
        size_t run_size;
        struct kvm_smoke_result *res;
        bool cx16, xsave;
        uint8_t seq[32]; /* the guest steps in the order the guest reports them */
        unsigned n_seq;
        uint8_t code[CODE_MAX];
        size_t code_len;
};

/* Record the failing step and reason; returns -1 so callers can "return fail(...)". */
static int fail(struct smoke *s, const char *step, const char *fmt, ...) _printf_(3, 4);
static int fail(struct smoke *s, const char *step, const char *fmt, ...) {
        va_list ap;

        s->res->ran = false;
        strscpy(s->res->step, sizeof(s->res->step), step);
        va_start(ap, fmt);
        vbufprintf_trunc(s->res->reason, sizeof(s->res->reason), fmt, ap);
        va_end(ap);
        return -1;
}

/* An ioctl that must succeed; on failure the step fails with the kernel's errno string. */
static int must(struct smoke *s, int fd, unsigned long req, void *arg, const char *step,
                const char *what) {
        int r = s->ops->ioctl(s->ud, fd, req, arg);

        if (r < 0) {
                s->res->error = r;
                return fail(s, step, "%s: %s", what, strerror(-r));
        }
        return r;
}

static int setup_vm(struct smoke *s) {
        struct kvm_userspace_memory_region region = { 0 };
        int r;

        r = s->ops->open_dev(s->ud);
        if (r < 0) {
                s->res->error = r;
                return fail(s, "open", "open /dev/kvm: %s", strerror(-r));
        }
        s->kvm = r;
        r = must(s, s->kvm, KVM_CREATE_VM, 0, "create-vm", "KVM_CREATE_VM");
        if (r < 0)
                return r;
        s->vm = r;
        s->mem = mmap(NULL, KVM_SMOKE_MEM_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s->mem == MAP_FAILED) {
                s->mem = NULL;
                return -ENOMEM;
        }
        region.slot = 0;
        region.guest_phys_addr = 0;
        region.memory_size = KVM_SMOKE_MEM_SIZE;
        region.userspace_addr = (uintptr_t) s->mem;
        r = must(s, s->vm, KVM_SET_USER_MEMORY_REGION, &region, "memory",
                 "KVM_SET_USER_MEMORY_REGION");
        if (r < 0)
                return r;
        r = must(s, s->vm, KVM_CREATE_VCPU, 0, "create-vcpu", "KVM_CREATE_VCPU");
        if (r < 0)
                return r;
        s->vcpu = r;
        r = must(s, s->kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "map-run", "KVM_GET_VCPU_MMAP_SIZE");
        if (r < 0)
                return r;
        if ((size_t) r < sizeof(struct kvm_run))
                return fail(s, "map-run", "KVM_GET_VCPU_MMAP_SIZE answered %d", r);
        s->run_size = (size_t) r;
        s->run = s->ops->map_run(s->ud, s->vcpu, s->run_size);
        if (!s->run) {
                s->res->error = -errno;
                return fail(s, "map-run", "mmap of kvm_run: %s", strerror(errno));
        }
        return 0;
}

/* CPUID as a VMM sets it: everything KVM_GET_SUPPORTED_CPUID offers. Notes whether the guest
 * may use cmpxchg16b and xsave, and sets XCR0 when it may. */
static int setup_cpuid(struct smoke *s) {
        _cleanup_free_ struct kvm_cpuid2 *c = NULL;
        uint64_t xcr0_supported = 0;
        unsigned n = 64;
        int r;

        for (;;) {
                free(c);
                c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
                if (!c)
                        return -ENOMEM;
                c->nent = n;
                r = s->ops->ioctl(s->ud, s->kvm, KVM_GET_SUPPORTED_CPUID, c);
                if (r != -E2BIG || n >= 4096)
                        break;
                n *= 2;
        }
        if (r < 0) {
                s->res->error = r;
                return fail(s, "cpuid", "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
        }
        for (unsigned i = 0; i < c->nent && i < n; i++) {
                const struct kvm_cpuid_entry2 *e = &c->entries[i];
                if (e->function == 1) {
                        s->cx16 = e->ecx & CPUID1_ECX_CX16;
                        s->xsave = e->ecx & CPUID1_ECX_XSAVE;
                } else if (e->function == 0xd && e->index == 0)
                        xcr0_supported = e->eax | ((uint64_t) e->edx << 32);
        }
        r = must(s, s->vcpu, KVM_SET_CPUID2, c, "cpuid", "KVM_SET_CPUID2");
        if (r < 0)
                return r;
        if (s->xsave && (xcr0_supported & 3) == 3) {
                struct kvm_xcrs xcrs = { .nr_xcrs = 1 };
                xcrs.xcrs[0].xcr = 0;
                xcrs.xcrs[0].value = xcr0_supported & XCR0_X87_SSE_AVX;
                r = must(s, s->vcpu, KVM_SET_XCRS, &xcrs, "xcrs", "KVM_SET_XCRS");
                if (r < 0)
                        return r;
        } else
                s->xsave = false;
        return 0;
}

/* Read the n feature MSRs into msrs (list and msrs sized for n) and write them to the vCPU. */
static int copy_feature_msrs(struct smoke *s, unsigned n, struct kvm_msr_list *list,
                             struct kvm_msrs *msrs) {
        int r;

        list->nmsrs = n;
        r = must(s, s->kvm, KVM_GET_MSR_FEATURE_INDEX_LIST, list, "msr-features",
                 "KVM_GET_MSR_FEATURE_INDEX_LIST");
        if (r < 0)
                return r;
        n = list->nmsrs < n ? list->nmsrs : n;
        msrs->nmsrs = n;
        for (unsigned i = 0; i < n; i++)
                msrs->entries[i].index = list->indices[i];
        r = must(s, s->kvm, KVM_GET_MSRS, msrs, "msr-features", "KVM_GET_MSRS on /dev/kvm");
        if (r < 0)
                return r;
        /* KVM_GET_MSRS stops at the first MSR it cannot read: write back what it read. */
        msrs->nmsrs = (unsigned) r < n ? (unsigned) r : n;
        r = must(s, s->vcpu, KVM_SET_MSRS, msrs, "set-msrs", "KVM_SET_MSRS");
        if (r < 0)
                return r;
        if ((unsigned) r < msrs->nmsrs)
                return fail(s, "set-msrs",
                            "KVM_SET_MSRS wrote %d of %u MSRs (first refused: %#x) of the "
                            "feature MSRs QEMU -cpu max writes (value %#llx)",
                            r, msrs->nmsrs, msrs->entries[r].index,
                            (unsigned long long) msrs->entries[r].data);
        return 0;
}

/* The feature MSRs QEMU writes for -cpu max/host (kvm_arch_put_registers → kvm_put_msrs):
 * read the list and the values KVM offers on /dev/kvm, write them back on the vCPU. On kvm_pvm
 * this is where QEMU aborts ("failed to set MSR 0x10a to 0x69"). */
static int setup_msrs(struct smoke *s) {
        struct kvm_msr_list probe = { .nmsrs = 0 };
        struct kvm_msr_list *list;
        struct kvm_msrs *msrs;
        unsigned n;
        int r;

        r = s->ops->ioctl(s->ud, s->kvm, KVM_GET_MSR_FEATURE_INDEX_LIST, &probe);
        if (r == -EINVAL || r == -ENOTTY)
                return 0; /* no feature MSRs (before Linux 4.17): QEMU writes none either */
        if (r < 0 && r != -E2BIG) {
                s->res->error = r;
                return fail(s, "msr-features", "KVM_GET_MSR_FEATURE_INDEX_LIST: %s", strerror(-r));
        }
        n = probe.nmsrs;
        if (n == 0)
                return 0;
        if (n > 4096)
                return fail(s, "msr-features", "KVM_GET_MSR_FEATURE_INDEX_LIST: %u MSRs", n);
        list = calloc(1, sizeof(*list) + n * sizeof(list->indices[0]));
        msrs = calloc(1, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
        r = list && msrs ? copy_feature_msrs(s, n, list, msrs) : -ENOMEM;
        free(list);
        free(msrs);
        return r;
}

static void put_u64(uint8_t *mem, uint64_t gpa, uint64_t v) {
        memcpy(mem + gpa, &v, sizeof(v));
}

static void append(struct smoke *s, const uint8_t *code, size_t len, const uint8_t *steps,
                   unsigned n_steps) {
        assert(s->code_len + len <= sizeof(s->code) && s->n_seq + n_steps <= sizeof(s->seq));
        memcpy(s->code + s->code_len, code, len);
        s->code_len += len;
        memcpy(s->seq + s->n_seq, steps, n_steps);
        s->n_seq += n_steps;
}

#define APPEND(s, code, ...)                                                                       \
        append(s, code, sizeof(code), (const uint8_t[]){ __VA_ARGS__ },                            \
               sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* A flat, present, DPL 0 segment of the GDT below: code with L set (64-bit), or data with
 * D/B set. */
static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64) {
        return (struct kvm_segment){ .base = 0,
                                     .limit = 0xffffffff,
                                     .selector = selector,
                                     .type = type,
                                     .present = 1,
                                     .dpl = 0,
                                     .db = !code64,
                                     .s = 1,
                                     .l = code64,
                                     .g = 1 };
}

/* Long mode from the start, as a 64-bit boot protocol (or a VMM's direct kernel boot) enters
 * Linux: page tables identity-mapping the first 2 MiB, a flat GDT, CR0/CR4/EFER set. */
static int setup_long_mode(struct smoke *s) {
        static const uint64_t gdt[] = {
                0,                     /* null */
                0x00af9a000000ffffULL, /* 0x08: code, 64-bit (L), present, DPL 0 */
                0x00cf92000000ffffULL, /* 0x10: data, 4 GiB, writable */
        };
        struct kvm_segment code = flat_segment(0x08, 11, true); /* execute/read, 64-bit */
        struct kvm_segment data = flat_segment(0x10, 3, false); /* read/write */
        struct kvm_sregs sregs;
        struct kvm_regs regs = { 0 };
        int r;

        put_u64(s->mem, PML4_GPA, PDPT_GPA | PTE_P | PTE_RW);
        put_u64(s->mem, PDPT_GPA, PD_GPA | PTE_P | PTE_RW);
        put_u64(s->mem, PD_GPA, 0 | PTE_P | PTE_RW | PTE_PS);
        memcpy(s->mem + GDT_GPA, gdt, sizeof(gdt));

        APPEND(s, code_long_mode, KVM_SMOKE_STEP_LONG_MODE);
        APPEND(s, code_cpuid, KVM_SMOKE_STEP_CPUID);
        APPEND(s, code_rdtsc, KVM_SMOKE_STEP_RDTSC);
        if (s->cx16)
                APPEND(s, code_cmpxchg16b, KVM_SMOKE_STEP_CMPXCHG16B);
        if (s->xsave)
                APPEND(s, code_xsave, KVM_SMOKE_STEP_XSAVE);
        for (unsigned i = 0; i < LOOP_RUNS; i++)
                APPEND(s, code_loop, KVM_SMOKE_STEP_LOOP_BEGIN, KVM_SMOKE_STEP_LOOP_END);
        APPEND(s, code_pages, KVM_SMOKE_STEP_PAGES);
        APPEND(s, code_hlt, 0);
        s->n_seq--; /* hlt reports nothing */
        memcpy(s->mem + CODE_GPA, s->code, s->code_len);

        r = must(s, s->vcpu, KVM_GET_SREGS, &sregs, "sregs", "KVM_GET_SREGS");
        if (r < 0)
                return r;
        sregs.cs = code;
        sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
        sregs.gdt.base = GDT_GPA;
        sregs.gdt.limit = sizeof(gdt) - 1;
        sregs.cr3 = PML4_GPA;
        sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | (s->xsave ? CR4_OSXSAVE : 0);
        sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        sregs.efer = EFER_LME | EFER_LMA;
        r = must(s, s->vcpu, KVM_SET_SREGS, &sregs, "sregs", "KVM_SET_SREGS");
        if (r < 0)
                return r;
        regs.rip = CODE_GPA;
        regs.rsp = STACK_GPA;
        regs.rflags = 0x2; /* bit 1 is reserved, always set */
        return must(s, s->vcpu, KVM_SET_REGS, &regs, "regs", "KVM_SET_REGS");
}

static const char *internal_error_name(uint32_t suberror) {
        switch (suberror) {
        case KVM_INTERNAL_ERROR_EMULATION:
                return "emulation failure";
        case KVM_INTERNAL_ERROR_SIMUL_EX:
                return "simultaneous exceptions";
        case KVM_INTERNAL_ERROR_DELIVERY_EV:
                return "exception during event delivery";
        case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
                return "unexpected exit reason";
        default:
                return "unknown suberror";
        }
}

/* The bytes of the instruction KVM could not emulate, when the kernel says them
 * (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES, Linux 5.16+), as " (f0 48 0f c7 0e)";
 * "" otherwise. */
static const char *emulation_insn(const struct kvm_run *run, char *buf, size_t size) {
        unsigned len;

        buf[0] = 0;
        /* ndata counts 64-bit words after suberror/ndata: flags, then the 16 instruction bytes. */
        if (run->emulation_failure.suberror != KVM_INTERNAL_ERROR_EMULATION ||
            run->emulation_failure.ndata < 3 ||
            !(run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
                return buf;
        len = run->emulation_failure.insn_size;
        if (len == 0 || len > sizeof(run->emulation_failure.insn_bytes))
                return buf;
        /* The kernel hands over its fetch buffer (up to 15 bytes, the instructions after the
         * failing one included): the first 8 say which instruction it was. */
        bufprintf_trunc(buf, size, " (instruction bytes");
        for (unsigned i = 0; i < len && i < 8; i++)
                bufappendf_trunc(buf, size, " %02x", run->emulation_failure.insn_bytes[i]);
        bufappendf_trunc(buf, size, "%s)", len > 8 ? " ..." : "");
        return buf;
}

/* The name of the guest step the guest was in when it stopped: the one after the last it
 * reported, or hlt. */
static const char *current_step(const struct smoke *s, unsigned idx) {
        return idx < s->n_seq ? kvm_smoke_step_to_string(s->seq[idx]) : "hlt";
}

/* Run the guest to hlt, following its reports; time the loops. */
static int run_guest(struct smoke *s, uint64_t *ret_guest_loop_ns) {
        uint64_t start = s->ops->now_ns(s->ud), loop_start = 0, best = UINT64_MAX;
        unsigned idx = 0;
        int r;

        r = s->ops->arm_timeout(s->ud, s->run, KVM_SMOKE_TIMEOUT_USEC);
        if (r < 0)
                return fail(s, "run", "cannot arm the guest's time limit: %s", strerror(-r));
        for (;;) {
                const char *step = current_step(s, idx);
                uint64_t now;

                r = s->ops->ioctl(s->ud, s->vcpu, KVM_RUN, NULL);
                now = s->ops->now_ns(s->ud);
                if (r == -EINTR && (s->run->immediate_exit ||
                                    now - start >= (uint64_t) KVM_SMOKE_TIMEOUT_USEC * 1000)) {
                        r = fail(s, step,
                                 "the guest did not reach hlt within %u ms (stuck at step %s: "
                                 "a guest that crawls is emulated)",
                                 KVM_SMOKE_TIMEOUT_USEC / 1000, step);
                        break;
                }
                if (r == -EINTR || r == -EAGAIN)
                        continue; /* some other signal: go on */
                if (r < 0) {
                        s->res->error = r;
                        r = fail(s, step, "KVM_RUN at guest step %s: %s", step, strerror(-r));
                        break;
                }
                if (s->run->exit_reason == KVM_EXIT_IO && s->run->io.direction == KVM_EXIT_IO_OUT &&
                    s->run->io.port == KVM_SMOKE_PORT && s->run->io.size == 1 &&
                    s->run->io.count == 1 && s->run->io.data_offset < s->run_size) {
                        uint8_t got = ((const uint8_t *) s->run)[s->run->io.data_offset];
                        if (idx >= s->n_seq || got != s->seq[idx]) {
                                r = fail(s, step, "the guest reported step %u (%s), expected %s",
                                         got, kvm_smoke_step_to_string(got), step);
                                break;
                        }
                        s->res->steps |= 1ULL << got;
                        if (got == KVM_SMOKE_STEP_LOOP_BEGIN)
                                loop_start = now;
                        else if (got == KVM_SMOKE_STEP_LOOP_END && now - loop_start < best)
                                best = now - loop_start;
                        idx++;
                        continue;
                }
                switch (s->run->exit_reason) {
                case KVM_EXIT_HLT:
                        if (idx == s->n_seq) {
                                *ret_guest_loop_ns = best;
                                r = 0;
                        } else
                                r = fail(s, step, "the guest halted before step %s", step);
                        break;
                case KVM_EXIT_INTERNAL_ERROR: {
                        char insn[64];
                        r = fail(s, step,
                                 "KVM internal error at guest step %s: suberror %u (%s)%s%s", step,
                                 s->run->internal.suberror,
                                 internal_error_name(s->run->internal.suberror),
                                 s->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                                         ? ": KVM could not emulate an instruction"
                                         : "",
                                 emulation_insn(s->run, insn, sizeof(insn)));
                        break;
                }
                case KVM_EXIT_FAIL_ENTRY:
                        r = fail(s, step, "VM entry failed at guest step %s: hardware reason %#llx",
                                 step,
                                 (unsigned long long)
                                         s->run->fail_entry.hardware_entry_failure_reason);
                        break;
                case KVM_EXIT_SHUTDOWN:
                        r = fail(s, step, "the guest shut down (triple fault) at step %s", step);
                        break;
                case KVM_EXIT_IO:
                        r = fail(s, step, "unexpected port I/O (port %#x) at guest step %s",
                                 s->run->io.port, step);
                        break;
                default:
                        r = fail(s, step, "unexpected exit %u at guest step %s",
                                 s->run->exit_reason, step);
                }
                break;
        }
        (void) s->ops->arm_timeout(s->ud, s->run, 0);
        return r;
}

/* What the guest wrote must be in its memory: the cmpxchg16b target and the four pages. */
static int verify_memory(struct smoke *s) {
        uint64_t lo, hi, first, last;

        if (s->cx16) {
                memcpy(&lo, s->mem + KVM_SMOKE_CX16_GPA, 8);
                memcpy(&hi, s->mem + KVM_SMOKE_CX16_GPA + 8, 8);
                if (lo != 1 || hi != 2)
                        return fail(s, "verify",
                                    "after cmpxchg16b the guest's memory holds %#llx:%#llx, "
                                    "not 2:1",
                                    (unsigned long long) hi, (unsigned long long) lo);
        }
        memcpy(&first, s->mem + KVM_SMOKE_PAGES_GPA, 8);
        memcpy(&last, s->mem + KVM_SMOKE_PAGES_GPA + (KVM_SMOKE_PAGES_QWORDS - 1) * 8, 8);
        if (first != KVM_SMOKE_PAGES_QWORDS || last != 1)
                return fail(s, "verify",
                            "the guest's page loop left %llu and %llu in memory, not %u and 1",
                            (unsigned long long) first, (unsigned long long) last,
                            KVM_SMOKE_PAGES_QWORDS);
        return 0;
}

static uint64_t native_loop_ns(struct smoke *s) {
        uint64_t best = UINT64_MAX;

        for (unsigned i = 0; i < LOOP_RUNS; i++) {
                uint64_t t0 = s->ops->now_ns(s->ud), t1;
                native_loop();
                t1 = s->ops->now_ns(s->ud);
                if (t1 - t0 < best)
                        best = t1 - t0;
        }
        return best ? best : 1;
}

static void smoke_done(struct smoke *s) {
        if (s->run)
                s->ops->unmap_run(s->ud, s->run, s->run_size);
        if (s->mem)
                munmap(s->mem, KVM_SMOKE_MEM_SIZE);
        if (s->vcpu >= 0)
                s->ops->close_fd(s->ud, s->vcpu);
        if (s->vm >= 0)
                s->ops->close_fd(s->ud, s->vm);
        if (s->kvm >= 0)
                s->ops->close_fd(s->ud, s->kvm);
}

int kvm_smoke_run(const struct kvm_smoke_ops *ops, void *userdata, struct kvm_smoke_result *ret) {
        struct smoke s = {
                .ops = ops, .ud = userdata, .kvm = -1, .vm = -1, .vcpu = -1, .res = ret
        };
        uint64_t t0 = ops->now_ns(userdata), guest_ns = 0, native_ns;
        int r;

        ret->tried = true;
        ret->ran = false;
        ret->step[0] = ret->reason[0] = 0;
        ret->error = 0;
        ret->ratio = 0;
        ret->steps = 0;
        r = setup_vm(&s);
        if (r == 0)
                r = setup_cpuid(&s);
        if (r == 0)
                r = setup_msrs(&s);
        if (r == 0)
                r = setup_long_mode(&s);
        if (r == 0)
                r = run_guest(&s, &guest_ns);
        if (r == 0)
                r = verify_memory(&s);
        if (r == 0) {
                native_ns = native_loop_ns(&s);
                ret->ratio = (double) guest_ns / (double) native_ns;
                if (ret->ratio > KVM_SMOKE_RATIO_MAX)
                        r = fail(&s, "ratio",
                                 "the guest ran a CPU-bound loop %.1fx slower than natively "
                                 "(%.2f ms vs %.2f ms; bound %.0fx): instructions are emulated",
                                 ret->ratio, (double) guest_ns / 1e6, (double) native_ns / 1e6,
                                 KVM_SMOKE_RATIO_MAX);
        }
        smoke_done(&s);
        ret->usec = (ops->now_ns(userdata) - t0) / 1000;
        if (r == -ENOMEM)
                return r;
        if (r == 0) {
                ret->ran = true;
                bufprintf_trunc(ret->reason, sizeof(ret->reason),
                                "smoke guest reached hlt in %llu us (long mode, cpuid, rdtsc%s%s, "
                                "loop %.2fx native)",
                                (unsigned long long) ret->usec, s.cx16 ? ", cmpxchg16b" : "",
                                s.xsave ? ", xsave/xrstor" : "", ret->ratio);
        }
        return 0;
}

/* ---- the real kernel ---- */

static int real_open(void *ud) {
        int fd;

        (void) ud;
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int real_ioctl(void *ud, int fd, unsigned long req, void *arg) {
        int r;

        (void) ud;
        r = ioctl(fd, req, arg);
        return r < 0 ? -errno : r;
}

static struct kvm_run *real_map_run(void *ud, int vcpu_fd, size_t size) {
        void *p;

        (void) ud;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
        return p == MAP_FAILED ? NULL : p;
}

static void real_unmap_run(void *ud, struct kvm_run *run, size_t size) {
        (void) ud;
        munmap(run, size);
}

static void real_close(void *ud, int fd) {
        (void) ud;
        close(fd);
}

static uint64_t real_now_ns(void *ud) {
        struct timespec ts;

        (void) ud;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* The time limit: a one-shot POSIX timer aimed at this thread (the agent has other threads)
 * whose SIGALRM handler sets immediate_exit, so KVM_RUN returns -EINTR at once whether the
 * signal lands inside KVM_RUN or just before it (Documentation/virt/kvm/api.rst,
 * "immediate_exit"). The timer state is per process: one smoke guest at a time (only the
 * main thread of hosttuned probes KVM; the lease worker probes btrfs alone). */
static struct kvm_run *volatile timeout_run;
static timer_t timeout_timer;
static struct sigaction timeout_old_action;
static sigset_t timeout_old_mask;

static void on_timeout(int sig) {
        struct kvm_run *run = timeout_run;

        (void) sig;
        if (run)
                run->immediate_exit = 1;
}

static int real_arm_timeout(void *ud, struct kvm_run *run, uint64_t usec) {
        struct sigaction sa = { .sa_handler = on_timeout };
        struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
        struct itimerspec its = { .it_value = { .tv_sec = (time_t) (usec / 1000000),
                                                .tv_nsec = (long) (usec % 1000000) * 1000 } };
        sigset_t alrm;

        (void) ud;
        sigemptyset(&alrm);
        sigaddset(&alrm, SIGALRM);
        if (usec == 0) {
                timer_delete(timeout_timer);
                /* A signal already queued goes to the handler, which sees no run. */
                pthread_sigmask(SIG_SETMASK, &timeout_old_mask, NULL);
                timeout_run = NULL;
                sigaction(SIGALRM, &timeout_old_action, NULL);
                return 0;
        }
        timeout_run = run;
        if (sigaction(SIGALRM, &sa, &timeout_old_action) < 0)
                return -errno;
        sev._sigev_un._tid = gettid(); /* sigev_notify_thread_id: glibc 2.41+ */
        if (timer_create(CLOCK_MONOTONIC, &sev, &timeout_timer) < 0) {
                int e = -errno;
                sigaction(SIGALRM, &timeout_old_action, NULL);
                return e;
        }
        pthread_sigmask(SIG_UNBLOCK, &alrm, &timeout_old_mask);
        if (timer_settime(timeout_timer, 0, &its, NULL) < 0) {
                int e = -errno;
                (void) real_arm_timeout(ud, run, 0);
                return e;
        }
        return 0;
}

const struct kvm_smoke_ops kvm_smoke_ops_real = {
        .open_dev = real_open,
        .ioctl = real_ioctl,
        .map_run = real_map_run,
        .unmap_run = real_unmap_run,
        .close_fd = real_close,
        .now_ns = real_now_ns,
        .arm_timeout = real_arm_timeout,
};

int kvm_smoke_run_as(const char *user, uint32_t uid, uint32_t gid, struct kvm_smoke_result *ret) {
        struct kvm_smoke_result res = { 0 };
        int pipefd[2], status = 0;
        size_t got = 0;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int e = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return e;
        }
        if (pid == 0) {
                close(pipefd[0]);
                if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
                        res.tried = true;
                        strscpy(res.step, sizeof(res.step), "drop-privileges");
                        bufprintf_trunc(res.reason, sizeof(res.reason),
                                        "cannot become uid %u gid %u: %s", uid, gid,
                                        strerror(errno));
                } else if (kvm_smoke_run(&kvm_smoke_ops_real, NULL, &res) < 0) {
                        res.tried = true;
                        strscpy(res.step, sizeof(res.step), "run");
                        strscpy(res.reason, sizeof(res.reason), "out of memory");
                }
                _exit(write(pipefd[1], &res, sizeof(res)) == (ssize_t) sizeof(res) ? 0 : 1);
        }
        close(pipefd[1]);
        while (got < sizeof(res)) {
                ssize_t n = read(pipefd[0], (char *) &res + got, sizeof(res) - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (got != sizeof(res))
                return -EPROTO;
        res.reason[sizeof(res.reason) - 1] = 0;
        res.step[sizeof(res.step) - 1] = 0;
        strscpy(res.user, sizeof(res.user), user);
        res.uid = uid;
        *ret = res;
        return 0;
}

int kvm_smoke_format(const struct kvm_smoke_result *r, char *buf, size_t size) {
        char reason[sizeof(r->reason)];

        strscpy(reason, sizeof(reason), r->reason);
        for (char *p = reason; *p; p++)
                if (*p == '\n' || *p == '\t' || *p == '\r')
                        *p = ' ';
        if (bufprintf(buf, size, "%s %s %d %s %u %llu %.3f %s", r->ran ? "ran" : "fail",
                      isempty(r->step) ? "-" : r->step, -r->error, isempty(r->user) ? "-" : r->user,
                      r->uid, (unsigned long long) r->usec, r->ratio, reason) < 0)
                return -ENOBUFS;
        return 0;
}

int kvm_smoke_parse(const char *text, struct kvm_smoke_result *ret) {
        struct kvm_smoke_result r = { .tried = true };
        char verdict[8], step[sizeof(r.step)], user[sizeof(r.user)];
        unsigned long long usec;
        unsigned uid;
        double ratio;
        int off = 0, error;

        if (sscanf(text, "%7s %23s %d %31s %u %llu %lf %n", verdict, step, &error, user, &uid,
                   &usec, &ratio, &off) != 7 ||
            off == 0 || !(streq(verdict, "ran") || streq(verdict, "fail")) || ratio < 0 ||
            ratio != ratio || error < 0 || error > 4095)
                return -EBADMSG;
        r.error = -error;
        r.ran = streq(verdict, "ran");
        if (r.ran != streq(step, "-"))
                return -EBADMSG;
        if (!r.ran)
                strscpy(r.step, sizeof(r.step), step);
        if (!streq(user, "-"))
                strscpy(r.user, sizeof(r.user), user);
        r.uid = uid;
        r.usec = usec;
        r.ratio = ratio;
        strscpy(r.reason, sizeof(r.reason), text + off);
        strstrip_trailing(r.reason);
        *ret = r;
        return 0;
}

int kvm_smoke_identity(int root_fd, const char *vendor_module, char *buf, size_t size) {
        struct stat st, mod = { 0 };
        char path[64];

        if (fstatat(root_fd, "dev/kvm", &st, 0) < 0)
                return -errno;
        if (!isempty(vendor_module)) {
                if (bufprintf(path, sizeof(path), "sys/module/%s", vendor_module) >= 0)
                        (void) fstatat(root_fd, path, &mod, 0);
        }
        if (bufprintf(buf, size, "%llx:%llx:%o:%lld.%09ld:%llx", (unsigned long long) st.st_dev,
                      (unsigned long long) st.st_ino, (unsigned) st.st_mode,
                      (long long) st.st_ctim.tv_sec, st.st_ctim.tv_nsec,
                      (unsigned long long) mod.st_ino) < 0)
                return -ENOBUFS;
        return 0;
}
