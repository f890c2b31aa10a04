/* SPDX-License-Identifier: MIT */
/* Fuzz target: the revert journal's parser (policies/apply/journal.c), which reads a file that a
 * crash, another version or someone with access to the runtime directory may have left. Parsed
 * as this boot's and as another boot's journal (entries of other boots are dropped unless they
 * persist); what it must satisfy: every entry kept has a known kind, an action, a terminated
 * object, and sequence numbers the writer could have made. */
#include "lib/util.h"
#include "policies/apply/journal.h"
#include "tests/fuzz/fuzz-util.h"

static void check(const char *text, const char *boot_id) {
        struct journal *j = NULL;

        if (journal_parse(text, boot_id, &j) < 0)
                return;
        for (unsigned i = 0; i < journal_size(j); i++) {
                const struct journal_entry *e = journal_entry_at(j, i);

                if (!e || (unsigned) e->kind >= _JOURNAL_KIND_MAX ||
                    (e->action != JOURNAL_CHANGED && e->action != JOURNAL_CREATED) ||
                    !memchr(e->object, 0, sizeof(e->object)) ||
                    !memchr(e->original, 0, sizeof(e->original)) ||
                    !memchr(e->label, 0, sizeof(e->label)))
                        abort();
                /* Whatever was parsed is found again by its key. */
                if (!journal_find(j, e->kind, e->object))
                        abort();
        }
        /* A journal backed by no file is for reading only. */
        if (journal_record_created(j, JOURNAL_LINK, "fuzz0", "fuzz0") >= 0)
                abort();
        journal_close(j);
}

static void run(const char *text) {
        check(text, "0f6b5c2e-8a39-4c8e-9a0e-4c1d2b3a4f50");
        check(text, "unknown");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        return fuzz_run_text(data, size, run);
}
