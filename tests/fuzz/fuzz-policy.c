/* SPDX-License-Identifier: MIT */
/* Fuzz target: the policy loader from a string, and what a loaded policy must satisfy: its INI
 * form loads again to the same policy, its JSON form is produced, and the planner runs on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policies/plan.h"
#include "policies/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The text after the first line (which names the files read). */
static const char *body(const char *ini) {
        const char *nl = strchr(ini, '\n');
        return nl ? nl : ini;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct policy p, again;
        static struct host_report report;
        struct policy_error err;
        struct plan plan;
        const uint8_t *nul = memchr(data, 0, size);
        size_t l = nul ? (size_t) (nul - data) : size;
        char *text, *ini, *ini2, *json, buf[1024];

        /* Includes with a '/' could name any file of this machine (reading /proc/kmsg consumes
         * the kernel log): leave them out. Names of embedded profiles, and plain file names in
         * the source tree the fuzzer runs in, stay in. */
        if (memchr(data, '/', l))
                return 0;
        text = malloc(l + 1); /* on the heap, so ASan sees reads past the end */
        if (!text)
                return 0;
        memcpy(text, data, l);
        text[l] = 0;
        if (policy_load_string("fuzz.ini", text, &p, &err) < 0) {
                (void) policy_error_format(&err, buf, sizeof(buf));
                free(text);
                return 0;
        }
        ini = policy_to_ini(&p);
        json = policy_to_json(&p);
        if (!ini || !json)
                abort();
        /* What `policy show` prints must validate and mean the same policy. */
        if (policy_load_string("again.ini", ini, &again, &err) < 0)
                abort();
        ini2 = policy_to_ini(&again);
        if (!ini2 || strcmp(body(ini), body(ini2)) != 0)
                abort();
        report.memory.mem_total_kib = 1U << 24;
        if (plan_build(&report, &p, &plan) == 0)
                plan_free(&plan);
        free(ini2);
        free(json);
        free(ini);
        free(text);
        return 0;
}
