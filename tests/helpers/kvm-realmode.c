/* SPDX-License-Identifier: MIT */
/* kvm-realmode: the smallest guest the KVM API can run, for the KVM tests to read apart from
 * hosttune's own smoke guest: one page of real-mode code (`mov al, 'K'; out 0x10, al; hlt`) in a
 * VM with one vCPU. It says whether /dev/kvm runs a guest at all for the calling user; it does
 * not say a VMM's guest would run (kvm_pvm hosts run this and abort QEMU's `-cpu max`), which is
 * what hosttune's smoke guest and the QEMU judge are for.
 *
 *   kvm-realmode [DEVICE]       (default /dev/kvm)
 *
 * Prints "ran in N us" and exits 0 when the guest wrote 'K' to port 0x10 and halted; prints the
 * step that failed and exits 1 otherwise; 2 for bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

static const uint8_t code[] = {
        0xb0, 'K',  /* mov al, 'K' */
        0xe6, 0x10, /* out 0x10, al */
        0xf4,       /* hlt */
};

static int failed(const char *step) {
        printf("%s: %s\n", step, strerror(errno));
        return 1;
}

int main(int argc, char **argv) {
        const char *dev = argc > 1 ? argv[1] : "/dev/kvm";
        _cleanup_close_ int kvm = -1, vm = -1, vcpu = -1;
        struct timespec t0, t1;
        struct kvm_sregs sregs;
        struct kvm_run *run;
        uint8_t *mem;
        int run_size;
        bool wrote = false;

        if (argc > 2) {
                fprintf(stderr, "usage: kvm-realmode [DEVICE]\n");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        kvm = open(dev, O_RDWR | O_CLOEXEC);
        if (kvm < 0)
                return failed("open");
        vm = ioctl(kvm, KVM_CREATE_VM, 0);
        if (vm < 0)
                return failed("KVM_CREATE_VM");
        mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
                return failed("mmap");
        memcpy(mem, code, sizeof(code));
        struct kvm_userspace_memory_region region = { .slot = 0,
                                                      .guest_phys_addr = 0x1000,
                                                      .memory_size = 0x1000,
                                                      .userspace_addr = (uintptr_t) mem };
        if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
                return failed("KVM_SET_USER_MEMORY_REGION");
        vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
        if (vcpu < 0)
                return failed("KVM_CREATE_VCPU");
        run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (run_size < 0)
                return failed("KVM_GET_VCPU_MMAP_SIZE");
        run = mmap(NULL, (size_t) run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
        if (run == MAP_FAILED)
                return failed("mmap vcpu");
        if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
                return failed("KVM_GET_SREGS");
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
                return failed("KVM_SET_SREGS");
        struct kvm_regs regs = { .rip = 0x1000, .rflags = 0x2 };
        if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
                return failed("KVM_SET_REGS");
        for (int i = 0; i < 16; i++) {
                if (ioctl(vcpu, KVM_RUN, 0) < 0)
                        return failed("KVM_RUN");
                if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
                    run->io.port == 0x10 && run->io.size == 1) {
                        wrote = *((uint8_t *) run + run->io.data_offset) == 'K';
                        continue;
                }
                if (run->exit_reason == KVM_EXIT_HLT && wrote) {
                        clock_gettime(CLOCK_MONOTONIC, &t1);
                        printf("ran in %lld us\n", (long long) (t1.tv_sec - t0.tv_sec) * 1000000LL +
                                                           (t1.tv_nsec - t0.tv_nsec) / 1000);
                        return 0;
                }
                printf("KVM_RUN: exit reason %u\n", run->exit_reason);
                return 1;
        }
        printf("KVM_RUN: no hlt after 16 exits\n");
        return 1;
}
