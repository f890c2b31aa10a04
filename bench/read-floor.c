/* SPDX-License-Identifier: MIT */
/* Benchmark helper for bench/check-kvm.sh: the floor under `hosttune check`'s probing. Opens,
 * reads to EOF and closes each file named on the command line (the files `check` reads, taken
 * from strace), and nothing else: no parsing, no
 * policy, no output. Linked statically like `hosttune`, so `read-floor FILES...` next to
 * `hosttune --version` and `hosttune check` splits check's time into start-up, the kernel's
 * work for the files (opening sysfs/procfs files, formatting /proc/cpuinfo and mountinfo) and
 * everything hosttune adds. Not part of hosttune; built by the bench script. */
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
        static char buf[16384];

        for (int i = 1; i < argc; i++) {
                int fd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0)
                        continue;
                while (read(fd, buf, sizeof(buf)) > 0)
                        ;
                close(fd);
        }
        return 0;
}
