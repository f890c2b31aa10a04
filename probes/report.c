/* SPDX-License-Identifier: MIT */
/* Report model helpers: names of statuses and probes, the KVM capability table, result setters. */
#include "probes/report.h"

#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/util.h"

static const char *const probe_status_table[_PROBE_STATUS_MAX] = {
        [PROBE_OK] = "ok",
        [PROBE_WARN] = "warn",
        [PROBE_FAIL] = "fail",
        [PROBE_ABSENT] = "absent",
};

static const char *const probe_id_table[_PROBE_MAX] = {
        [PROBE_CPU] = "cpu",         [PROBE_KVM] = "kvm",   [PROBE_MEMORY] = "memory",
        [PROBE_HUGETLB] = "hugetlb", [PROBE_ZRAM] = "zram", [PROBE_BTRFS] = "btrfs",
        [PROBE_RNG] = "rng",         [PROBE_NET] = "net",   [PROBE_USERFAULTFD] = "userfaultfd",
        [PROBE_USERNS] = "userns",   [PROBE_NIX] = "nix",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(probe_status, enum probe_status, "unknown")

DEFINE_STRING_TABLE_LOOKUP(probe_id, enum probe_id, "unknown")

/* Who needs what: Firecracker's DEFAULT_CAPABILITIES (src/vmm/src/vstate/kvm.rs),
 * cloud-hypervisor's check_required_kvm_extensions (hypervisor/src/kvm/x86_64/mod.rs), and QEMU's
 * kvm_required_capabilites (accel/kvm/kvm-all.c: USER_MEMORY, DESTROY_MEMORY_REGION_WORKS,
 * JOIN_MEMORY_REGIONS_WORKS, INTERNAL_ERROR_DATA, IOEVENTFD, IOEVENTFD_ANY_LENGTH) plus, on x86,
 * kvm_arch_required_capabilities (target/i386/kvm/kvm.c: SET_TSS_ADDR, EXT_CPUID, MP_STATE,
 * SIGNAL_MSI, IRQ_ROUTING, DEBUGREGS, XSAVE, VCPU_EVENTS, X86_ROBUST_SINGLESTEP, MCE,
 * ADJUST_CLOCK, SET_IDENTITY_MAP_ADDR), as of QEMU 8.2 (Paolo Bonzini's 2023 series that made
 * capabilities from Linux <= 4.5 mandatory; QEMU 7.2 asks for a subset). QEMU checks them at
 * start-up and exits ("kvm: ... not supported by this host kernel") when one is missing. */
#define FC_X86 0x1
#define FC_ARM 0x2
#define CH_X86 0x4
#define QEMU_ALL 0x8 /* accel/kvm/kvm-all.c, every architecture */
#define QEMU_X86 0x10
static const struct {
        const char *name;
        unsigned number;
        unsigned needed;
} kvm_caps[_KVM_CAPI_MAX] = {
        [KVM_CAPI_IRQCHIP] = { "IRQCHIP", KVM_CAP_IRQCHIP, FC_X86 | CH_X86 },
        [KVM_CAPI_IOEVENTFD] = { "IOEVENTFD", KVM_CAP_IOEVENTFD,
                                 FC_X86 | FC_ARM | CH_X86 | QEMU_ALL },
        [KVM_CAPI_IRQFD] = { "IRQFD", KVM_CAP_IRQFD, FC_X86 | FC_ARM | CH_X86 },
        [KVM_CAPI_USER_MEMORY] = { "USER_MEMORY", KVM_CAP_USER_MEMORY,
                                   FC_X86 | FC_ARM | CH_X86 | QEMU_ALL },
        [KVM_CAPI_SET_TSS_ADDR] = { "SET_TSS_ADDR", KVM_CAP_SET_TSS_ADDR,
                                    FC_X86 | CH_X86 | QEMU_X86 },
        [KVM_CAPI_PIT2] = { "PIT2", KVM_CAP_PIT2, FC_X86 },
        [KVM_CAPI_PIT_STATE2] = { "PIT_STATE2", KVM_CAP_PIT_STATE2, FC_X86 },
        [KVM_CAPI_ADJUST_CLOCK] = { "ADJUST_CLOCK", KVM_CAP_ADJUST_CLOCK,
                                    FC_X86 | CH_X86 | QEMU_X86 },
        [KVM_CAPI_DEBUGREGS] = { "DEBUGREGS", KVM_CAP_DEBUGREGS, FC_X86 | QEMU_X86 },
        [KVM_CAPI_MP_STATE] = { "MP_STATE", KVM_CAP_MP_STATE, FC_X86 | FC_ARM | CH_X86 | QEMU_X86 },
        [KVM_CAPI_VCPU_EVENTS] = { "VCPU_EVENTS", KVM_CAP_VCPU_EVENTS, FC_X86 | CH_X86 | QEMU_X86 },
        [KVM_CAPI_XCRS] = { "XCRS", KVM_CAP_XCRS, FC_X86 | CH_X86 },
        [KVM_CAPI_XSAVE] = { "XSAVE", KVM_CAP_XSAVE, FC_X86 | CH_X86 | QEMU_X86 },
        [KVM_CAPI_EXT_CPUID] = { "EXT_CPUID", KVM_CAP_EXT_CPUID, FC_X86 | CH_X86 | QEMU_X86 },
        [KVM_CAPI_SIGNAL_MSI] = { "SIGNAL_MSI", KVM_CAP_SIGNAL_MSI, QEMU_X86 },
        [KVM_CAPI_TSC_DEADLINE_TIMER] = { "TSC_DEADLINE_TIMER", KVM_CAP_TSC_DEADLINE_TIMER,
                                          CH_X86 },
        [KVM_CAPI_SPLIT_IRQCHIP] = { "SPLIT_IRQCHIP", KVM_CAP_SPLIT_IRQCHIP, CH_X86 },
        [KVM_CAPI_SET_IDENTITY_MAP_ADDR] = { "SET_IDENTITY_MAP_ADDR", KVM_CAP_SET_IDENTITY_MAP_ADDR,
                                             CH_X86 | QEMU_X86 },
        [KVM_CAPI_IMMEDIATE_EXIT] = { "IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT, CH_X86 },
        [KVM_CAPI_GET_TSC_KHZ] = { "GET_TSC_KHZ", KVM_CAP_GET_TSC_KHZ, CH_X86 },
        [KVM_CAPI_IRQ_ROUTING] = { "IRQ_ROUTING", KVM_CAP_IRQ_ROUTING, CH_X86 | QEMU_X86 },
        [KVM_CAPI_USER_NMI] = { "USER_NMI", KVM_CAP_USER_NMI, CH_X86 },
        [KVM_CAPI_ARM_PSCI_0_2] = { "ARM_PSCI_0_2", KVM_CAP_ARM_PSCI_0_2, FC_ARM },
        [KVM_CAPI_DEVICE_CTRL] = { "DEVICE_CTRL", KVM_CAP_DEVICE_CTRL, FC_ARM },
        [KVM_CAPI_ONE_REG] = { "ONE_REG", KVM_CAP_ONE_REG, FC_ARM },
        [KVM_CAPI_NR_MEMSLOTS] = { "NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS, 0 },
        [KVM_CAPI_MCE] = { "MCE", KVM_CAP_MCE, QEMU_X86 },
        [KVM_CAPI_X86_ROBUST_SINGLESTEP] = { "X86_ROBUST_SINGLESTEP", KVM_CAP_X86_ROBUST_SINGLESTEP,
                                             QEMU_X86 },
        [KVM_CAPI_DESTROY_MEMORY_REGION_WORKS] = { "DESTROY_MEMORY_REGION_WORKS",
                                                   KVM_CAP_DESTROY_MEMORY_REGION_WORKS, QEMU_ALL },
        [KVM_CAPI_JOIN_MEMORY_REGIONS_WORKS] = { "JOIN_MEMORY_REGIONS_WORKS",
                                                 KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, QEMU_ALL },
        [KVM_CAPI_INTERNAL_ERROR_DATA] = { "INTERNAL_ERROR_DATA", KVM_CAP_INTERNAL_ERROR_DATA,
                                           QEMU_ALL },
        [KVM_CAPI_IOEVENTFD_ANY_LENGTH] = { "IOEVENTFD_ANY_LENGTH", KVM_CAP_IOEVENTFD_ANY_LENGTH,
                                            QEMU_ALL },
};

const char *kvm_cap_name(enum kvm_cap_index i) {
        return i < _KVM_CAPI_MAX ? kvm_caps[i].name : "UNKNOWN";
}

unsigned kvm_cap_number(enum kvm_cap_index i) {
        return i < _KVM_CAPI_MAX ? kvm_caps[i].number : 0;
}

bool kvm_cap_needed_by_firecracker(enum kvm_cap_index i) {
#if defined(__aarch64__)
        return i < _KVM_CAPI_MAX && (kvm_caps[i].needed & FC_ARM);
#else
        return i < _KVM_CAPI_MAX && (kvm_caps[i].needed & FC_X86);
#endif
}

bool kvm_cap_needed_by_cloud_hypervisor(enum kvm_cap_index i) {
#if defined(__aarch64__)
        return false; /* its aarch64 list is checked at VM creation, not by capability */
#else
        return i < _KVM_CAPI_MAX && (kvm_caps[i].needed & CH_X86);
#endif
}

bool kvm_cap_needed_by_qemu(enum kvm_cap_index i) {
#if defined(__x86_64__) || defined(__i386__)
        return i < _KVM_CAPI_MAX && (kvm_caps[i].needed & (QEMU_ALL | QEMU_X86));
#else
        return i < _KVM_CAPI_MAX && (kvm_caps[i].needed & QEMU_ALL);
#endif
}

const struct hugetlb_pool *hugetlb_find_pool(const struct hugetlb_facts *h, uint64_t page_size) {
        for (unsigned i = 0; i < h->n_sizes; i++)
                if (h->sizes[i].page_size == page_size)
                        return &h->sizes[i];
        return NULL;
}

void probe_set(struct probe_result *res, enum probe_status status, const char *fmt, ...) {
        va_list ap;

        res->status = status;
        va_start(ap, fmt);
        vbufprintf_trunc(res->reason, sizeof(res->reason), fmt, ap);
        va_end(ap);
}

void probe_set_remedy(struct probe_result *res, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vbufprintf_trunc(res->remedy, sizeof(res->remedy), fmt, ap);
        va_end(ap);
}

/* Garbage (as opposed to an unreadable file) by the errno a reader or parser gave. */
static bool is_content_error(int error) {
        return error == -EBADMSG || error == -EINVAL || error == -ERANGE || error == -EFBIG ||
               error == -ENAMETOOLONG || error == -E2BIG;
}

/* "unexpected content in PATH (why)" or "cannot read PATH: why". */
static void describe_error(char *buf, size_t size, int error, const char *path) {
        if (is_content_error(error))
                bufprintf_trunc(buf, size, "unexpected content in %s (%s)", path, strerror(-error));
        else
                bufprintf_trunc(buf, size, "cannot read %s: %s", path, file_strerror(error));
}

void probe_set_error(struct probe_result *res, enum probe_status status, int error,
                     const char *path) {
        res->error = error;
        res->status = status;
        describe_error(res->reason, sizeof(res->reason), error, path);
}

void probe_bad_note(struct probe_bad *b, int error, const char *path) {
        if (error >= 0 || error == -ENOENT || error == -ENOTDIR || error == -ENODEV || b->path[0])
                return;
        b->error = error;
        /* Quoted in a reason only: a long path may be cut short there. */
        bufprintf_trunc(b->path, sizeof(b->path), "%s%s", path[0] == '/' ? "" : "/", path);
}

void probe_bad_apply(const struct probe_bad *b, struct probe_result *res) {
        char what[REASON_MAX];

        if (!b->path[0])
                return;
        if (res->status == PROBE_OK) {
                probe_set_error(res, PROBE_WARN, b->error, b->path);
                probe_set_remedy(res, "%s",
                                 is_content_error(b->error)
                                         ? "check the kernel and the file; hosttune "
                                           "ignored the value it could not parse"
                                         : "run hosttune as root");
                return;
        }
        describe_error(what, sizeof(what), b->error, b->path);
        bufappendf_trunc(res->reason, sizeof(res->reason), "; also %s", what);
}
