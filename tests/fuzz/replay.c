/* SPDX-License-Identifier: MIT */
/* A main() for a fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput once over every file
 * named (a directory: every file in it), so the seed corpora replay as ordinary tests in every
 * build, the sanitizer build included (tests/run-tests.sh, "fuzz-replay/"). A target that finds
 * its input wrong aborts, as under libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "tests/fuzz/fuzz-util.h"

/* The fuzzers run with -max_len=65536 (tests/fuzz/run.sh); a seed is never longer. */
#define REPLAY_MAX 65536

/* Run the target over the file name in dir_fd. Returns 0, or a negative errno when the file
 * cannot be read. */
static int replay_file(int dir_fd, const char *name, const char *shown) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        static uint8_t buf[REPLAY_MAX];
        size_t n = 0;

        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k = read(fd, buf + n, sizeof(buf) - n);
                if (k < 0)
                        return -errno;
                if (k == 0 || (n += (size_t) k) == sizeof(buf))
                        break;
        }
        printf("replay %s (%zu bytes)\n", shown, n);
        fflush(stdout); /* the name is in the log even when the target aborts */
        (void) LLVMFuzzerTestOneInput(buf, n);
        return 0;
}

/* Every regular file of directory path, in readdir order; the count goes to *count. */
static int replay_dir(const char *path, unsigned *count) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        (void) TAKE_FD(fd); /* the DIR owns it now */
        while (r == 0 && (de = readdir(d))) {
                char shown[PATH_MAX];
                if (de->d_name[0] == '.')
                        continue;
                if (bufprintf(shown, sizeof(shown), "%s/%s", path, de->d_name) < 0)
                        (void) strscpy(shown, sizeof(shown), de->d_name); /* d_name fits */
                r = replay_file(dirfd(d), de->d_name, shown);
                if (r == 0)
                        (*count)++;
        }
        closedir(d);
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0)
                        r = -errno;
                else if (S_ISDIR(st.st_mode))
                        r = replay_dir(argv[i], &count);
                else if ((r = replay_file(AT_FDCWD, argv[i], argv[i])) == 0)
                        count++;
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
                        return 1;
                }
        }
        printf("%u inputs replayed\n", count);
        return 0;
}
