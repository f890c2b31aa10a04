/* SPDX-License-Identifier: MIT */
/* Small string helpers shared by every layer. */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>

int strscpy(char *dst, size_t size, const char *src) {
        size_t l;

        if (size == 0)
                return -ENAMETOOLONG;
        l = strnlen(src, size);
        if (l >= size) {
                memcpy(dst, src, size - 1);
                dst[size - 1] = 0;
                return -ENAMETOOLONG;
        }
        memcpy(dst, src, l + 1);
        return 0;
}

int vbufprintf(char *dst, size_t size, const char *fmt, va_list ap) {
        int n = vsnprintf(dst, size, fmt, ap);

        if (n < 0)
                return -EINVAL;
        if ((size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int bufprintf(char *dst, size_t size, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vbufprintf(dst, size, fmt, ap);
        va_end(ap);
        return r;
}

int bufappendf(char *dst, size_t size, const char *fmt, ...) {
        size_t l = strnlen(dst, size);
        va_list ap;
        int r;

        if (l >= size)
                return -ENAMETOOLONG;
        va_start(ap, fmt);
        r = vbufprintf(dst + l, size - l, fmt, ap);
        va_end(ap);
        return r;
}

char *vbufprintf_trunc(char *dst, size_t size, const char *fmt, va_list ap) {
        if (size == 0)
                return dst;
        /* An encoding error leaves the buffer's contents unspecified: make it empty. */
        if (vsnprintf(dst, size, fmt, ap) < 0)
                dst[0] = 0;
        return dst;
}

char *bufprintf_trunc(char *dst, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vbufprintf_trunc(dst, size, fmt, ap);
        va_end(ap);
        return dst;
}

char *bufappendf_trunc(char *dst, size_t size, const char *fmt, ...) {
        size_t l = strnlen(dst, size);
        va_list ap;

        if (l + 1 >= size)
                return dst;
        va_start(ap, fmt);
        vbufprintf_trunc(dst + l, size - l, fmt, ap);
        va_end(ap);
        return dst;
}

void xsprintf_overflow(const char *file, int line) {
        fprintf(stderr, "%s:%d: xsprintf: buffer too small (a programming error)\n", file, line);
        abort();
}

char *str_escape_control(const char *s, char *buf, size_t size) {
        size_t n = 0;

        if (size == 0)
                return buf;
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                bool ctl = c < 0x20 || c == 0x7f;

                if (n + (ctl ? 4 : 1) >= size)
                        break;
                if (ctl) {
                        /* Room for the four bytes was checked above. */
                        static const char hex[] = "0123456789abcdef";
                        buf[n++] = '\\';
                        buf[n++] = 'x';
                        buf[n++] = hex[c >> 4];
                        buf[n++] = hex[c & 0xf];
                } else
                        buf[n++] = (char) c;
        }
        buf[n] = 0;
        return buf;
}

char *strstrip_trailing(char *s) {
        size_t l = strlen(s);

        while (l > 0 && isspace((unsigned char) s[l - 1]))
                s[--l] = 0;
        return s;
}

/* Walk the words of a space separated list; calls back with pointer and length. Returns the
 * callback's first non-zero value. */
static int word_list_walk(const char *list, int (*cb)(const char *w, size_t l, void *u), void *u) {
        const char *p = list;

        for (;;) {
                size_t l;
                int r;

                p += strspn(p, " \t\n");
                if (!*p)
                        return 0;
                l = strcspn(p, " \t\n");
                r = cb(p, l, u);
                if (r != 0)
                        return r;
                p += l;
        }
}

struct contains_args {
        const char *word;
        bool brackets;
};

static int contains_cb(const char *w, size_t l, void *u) {
        const struct contains_args *a = u;

        if (a->brackets && l >= 2 && w[0] == '[' && w[l - 1] == ']') {
                w++;
                l -= 2;
        }
        return l == strlen(a->word) && memcmp(w, a->word, l) == 0;
}

bool word_list_contains(const char *list, const char *word, bool brackets) {
        struct contains_args a = { word, brackets };
        return word_list_walk(list, contains_cb, &a) > 0;
}

struct selected_args {
        char *buf;
        size_t size;
};

static int selected_cb(const char *w, size_t l, void *u) {
        struct selected_args *a = u;

        if (l < 2 || w[0] != '[' || w[l - 1] != ']')
                return 0;
        if (l - 2 >= a->size)
                return -ENAMETOOLONG;
        memcpy(a->buf, w + 1, l - 2);
        a->buf[l - 2] = 0;
        return 1;
}

int word_list_selected(const char *list, char *buf, size_t size) {
        struct selected_args a = { buf, size };
        int r = word_list_walk(list, selected_cb, &a);

        if (r < 0)
                return r;
        return r > 0 ? 0 : -ENOENT;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int prefault_write(void *p, size_t size) {
        long page = sysconf(_SC_PAGESIZE);
        uintptr_t start, end;

        if (page <= 0 || size == 0)
                return -EINVAL;
        /* madvise wants a page-aligned start; the first and last pages are the object's too. */
        start = (uintptr_t) p & ~((uintptr_t) page - 1);
        end = ((uintptr_t) p + size + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
        if (madvise((void *) start, end - start, MADV_POPULATE_WRITE) < 0)
                return negative_errno();
        return 0;
}

__attribute__((noinline)) int prefault_stack(size_t size) {
        /* This frame is below the caller's; what lies below it is what the caller's callees
         * will use. The kernel maps the stack at exec 128 KiB deeper than its arguments, so a
         * few dozen KiB are within the mapping already: no guard-gap growth is asked for. */
        char *here = __builtin_frame_address(0);

        return prefault_write(here - size, size);
}

int prefault_heap(size_t size) {
        void *p = malloc(size);
        int r;

        if (!p)
                return -ENOMEM;
        r = prefault_write(p, size);
        free(p);
        return r;
}
