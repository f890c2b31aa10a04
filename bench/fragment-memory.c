/* SPDX-License-Identifier: MIT */
/* Benchmark helper: make this host's memory look like a long-running build host's. Allocates
 * ANON_MIB of anonymous memory, frees all but one 4 KiB page of every 2 MiB of it, so free
 * memory comes back in holes with a (movable) page pinned in each 2 MiB block, then fills the
 * dentry cache with DENTRIES negative dentries (stat of names that do not exist): their slab
 * pages, which compaction cannot move, land in those holes, spread over all that memory. Prints
 * "ready" and holds the pinned pages until its standard input closes.
 * Usage: fragment-memory ANON_MIB DENTRIES DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024UL * 1024UL)
#define HUGE (2 * MIB)

int main(int argc, char **argv) {
        unsigned long anon_mib, dentries;
        long page = sysconf(_SC_PAGESIZE);
        char name[4096], c;
        struct stat st;
        char *mem;

        if (argc != 4 || page <= 0) {
                fprintf(stderr, "usage: fragment-memory ANON_MIB DENTRIES DIR\n");
                return 2;
        }
        anon_mib = strtoul(argv[1], NULL, 10);
        dentries = strtoul(argv[2], NULL, 10);
        mem = mmap(NULL, anon_mib * MIB + HUGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (mem == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        /* Small pages only: a transparent hugepage would keep whole 2 MiB blocks. */
        (void) madvise(mem, anon_mib * MIB + HUGE, MADV_NOHUGEPAGE);
        mem = (char *) (((unsigned long) mem + HUGE - 1) & ~(HUGE - 1));
        for (unsigned long off = 0; off < anon_mib * MIB; off += (unsigned long) page)
                mem[off] = 1;
        for (unsigned long off = 0; off < anon_mib * MIB; off += HUGE)
                if (madvise(mem + off + page, HUGE - (unsigned long) page, MADV_DONTNEED) < 0) {
                        perror("madvise");
                        return 1;
                }
        for (unsigned long i = 0; i < dentries; i++) {
                int n = snprintf(name, sizeof(name), "%s/absent-%lu", argv[3], i);
                if (n < 0 || (size_t) n >= sizeof(name)) {
                        fprintf(stderr, "fragment-memory: %s is too long a directory\n", argv[3]);
                        return 1;
                }
                (void) stat(name, &st);
        }
        printf("ready\n");
        fflush(stdout);
        while (read(0, &c, 1) > 0)
                ;
        return 0;
}
