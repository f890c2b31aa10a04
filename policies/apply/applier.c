/* SPDX-License-Identifier: MIT */
/* The helpers every applier shares (applier.h): results, progress, journaling. Apart from the
 * executor (apply.c), so that the appliers depend on these and the executor on the appliers,
 * never the other way round. */
#include "policies/apply/applier.h"

#include <stdarg.h>
#include <stdio.h>

#include "lib/util.h"

void step_set(struct step_result *res, enum step_outcome outcome, int error, const char *fmt, ...) {
        va_list ap;

        res->outcome = outcome;
        res->error = error;
        va_start(ap, fmt);
        vbufprintf_trunc(res->message, sizeof(res->message), fmt, ap);
        va_end(ap);
}

void revert_set(struct revert_result *res, enum revert_outcome outcome, int error, const char *fmt,
                ...) {
        va_list ap;

        *res = (struct revert_result){ .outcome = outcome, .error = error };
        va_start(ap, fmt);
        vbufprintf_trunc(res->message, sizeof(res->message), fmt, ap);
        va_end(ap);
}

void apply_progress(struct apply_ctx *c, const char *fmt, ...) {
        char buf[256];
        va_list ap;

        if (!c->o->progress)
                return;
        va_start(ap, fmt);
        vbufprintf_trunc(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        c->o->progress(c->index, c->step, buf, c->o->userdata);
}

int apply_record_changed(struct apply_ctx *c, enum journal_kind kind, const char *object,
                         const char *label, const char *original) {
        int r = journal_record_changed(c->j, kind, object, label, original);

        if (r < 0)
                c->journal_error = r;
        return r;
}

int apply_record_created(struct apply_ctx *c, enum journal_kind kind, const char *object,
                         const char *label) {
        int r = journal_record_created(c->j, kind, object, label);

        if (r < 0)
                c->journal_error = r;
        return r;
}

const char *root_relative(const char *path) {
        while (*path == '/')
                path++;
        return *path ? path : ".";
}

bool ifname_valid(const char *name) {
        size_t l = strlen(name);

        if (l == 0 || l >= 16 || streq(name, ".") || streq(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}
