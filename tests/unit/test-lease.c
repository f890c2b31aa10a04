/* SPDX-License-Identifier: MIT */
/* Unit tests for policies/lease-rules.c and runtime/lease-{record,file}.c: names a request may
 * give, the hugepage admission arithmetic, the lease file's form, what a lease keeps out of a plan,
 * and what leases count as used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"
#include "runtime/lease-file.h"

static void test_template_names(void **state) {
        static const char *const good[] = { "base", "nixos-24.05", "a_b", "A1", "x.y-z_0" };
        static const char *const bad[] = { "",        ".",    "..",  "../etc", "a/b", "/etc",
                                           ".hidden", "a..b", "a b", "a\nb",   "ä",   "x;y" };
        char longest[LEASE_TEMPLATE_NAME_MAX + 2];
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                assert_true(lease_template_name_valid(good[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (lease_template_name_valid(bad[i]))
                        fail_msg("'%s' was taken as a template name", bad[i]);
        }
        /* 63 characters are allowed (what a policy's templates key takes), 64 are not. */
        memset(longest, 'a', sizeof(longest) - 1);
        longest[LEASE_TEMPLATE_NAME_MAX] = 0;
        assert_true(lease_template_name_valid(longest));
        longest[LEASE_TEMPLATE_NAME_MAX] = 'a';
        longest[LEASE_TEMPLATE_NAME_MAX + 1] = 0;
        assert_false(lease_template_name_valid(longest));
}

static void test_labels_and_ids(void **state) {
        char id[LEASE_ID_LEN + 1], id2[LEASE_ID_LEN + 1], long_label[LEASE_LABEL_MAX + 2];
        (void) state;

        assert_true(lease_label_valid(""));
        assert_true(lease_label_valid("ci job 42 / nixos-test: boot"));
        assert_false(lease_label_valid("two\nlines"));
        assert_false(lease_label_valid("tab\there"));
        memset(long_label, 'x', sizeof(long_label) - 1);
        long_label[sizeof(long_label) - 1] = 0;
        assert_false(lease_label_valid(long_label));
        long_label[LEASE_LABEL_MAX] = 0;
        assert_true(lease_label_valid(long_label));

        assert_int_equal(lease_id_new(id, sizeof(id)), 0);
        assert_int_equal(lease_id_new(id2, sizeof(id2)), 0);
        assert_true(lease_id_valid(id));
        assert_string_not_equal(id, id2);
        assert_int_equal(lease_id_new(id, LEASE_ID_LEN), -ENOBUFS);
        assert_false(lease_id_valid("0123456789ABCDEF"));
        assert_false(lease_id_valid("0123456789abcde"));
        assert_false(lease_id_valid("../23456789abcde"));
}

static void test_hugepages_fit(void **state) {
        uint64_t target = 0;
        (void) state;

        /* An idle pool of 16 free pages, max 32. */
        struct lease_pool p = { .nr = 16, .free = 16, .max = 32 };
        assert_int_equal(lease_hugepages_available(&p), 16);
        assert_int_equal(lease_hugepages_fit(&p, 16, &target), LEASE_FIT_NOW);
        assert_int_equal(lease_hugepages_fit(&p, 20, &target), LEASE_FIT_GROW);
        assert_int_equal(target, 20);
        assert_int_equal(lease_hugepages_fit(&p, 33, &target), LEASE_FIT_NEVER);

        /* 8 pages promised but not touched yet (still free): only 8 more are leasable. */
        p = (struct lease_pool){ .nr = 16, .free = 16, .leased = 8, .max = 16 };
        assert_int_equal(lease_hugepages_available(&p), 8);
        assert_int_equal(lease_hugepages_fit(&p, 9, &target), LEASE_FIT_WAIT);

        /* The same 8 pages in use: free drops, the promise stays; still 8. */
        p = (struct lease_pool){ .nr = 16, .free = 8, .leased = 8, .max = 16 };
        assert_int_equal(lease_hugepages_available(&p), 8);

        /* Someone outside leases took 10 pages and reserved 2 more: those are not leasable. */
        p = (struct lease_pool){ .nr = 16, .free = 6, .resv = 2, .max = 32 };
        assert_int_equal(lease_hugepages_available(&p), 4);
        assert_int_equal(lease_hugepages_fit(&p, 4, &target), LEASE_FIT_NOW);
        /* Growing makes the missing pages free: 6 more pages serve a request of 10. */
        assert_int_equal(lease_hugepages_fit(&p, 10, &target), LEASE_FIT_GROW);
        assert_int_equal(target, 22);
        /* 20 fit exactly at max; 21 would need a pool of 33: wait for the outsider. */
        assert_int_equal(lease_hugepages_fit(&p, 20, &target), LEASE_FIT_GROW);
        assert_int_equal(target, 32);
        assert_int_equal(lease_hugepages_fit(&p, 21, &target), LEASE_FIT_WAIT);

        /* Leases hold the whole pool at max: wait; a bigger request than max: never. */
        p = (struct lease_pool){ .nr = 32, .free = 0, .leased = 32, .max = 32 };
        assert_int_equal(lease_hugepages_fit(&p, 1, &target), LEASE_FIT_WAIT);
        assert_int_equal(lease_hugepages_fit(&p, 33, &target), LEASE_FIT_NEVER);

        /* A pool someone made larger than max is used as it is. */
        p = (struct lease_pool){ .nr = 64, .free = 64, .max = 8 };
        assert_int_equal(lease_hugepages_fit(&p, 40, &target), LEASE_FIT_NOW);

        /* No policy pool (max 0): what is there, no growth. */
        p = (struct lease_pool){ .nr = 4, .free = 4 };
        assert_int_equal(lease_hugepages_fit(&p, 5, &target), LEASE_FIT_NEVER);
        p = (struct lease_pool){ .nr = 4, .free = 4, .leased = 4 };
        assert_int_equal(lease_hugepages_fit(&p, 1, &target), LEASE_FIT_WAIT);

        /* More reserved than free (a mapping reserved pages someone then shrank away). */
        p = (struct lease_pool){ .nr = 4, .free = 1, .resv = 3, .max = 4 };
        assert_int_equal(lease_hugepages_available(&p), 0);
}

static void test_shrink_target(void **state) {
        (void) state;

        /* Idle and unleased: back to the floor. */
        struct lease_pool p = { .nr = 32, .free = 32 };
        assert_int_equal(lease_hugepages_shrink_target(&p, 8), 8);
        /* Leases hold 10 (untouched): not below them. */
        p = (struct lease_pool){ .nr = 32, .free = 32, .leased = 10 };
        assert_int_equal(lease_hugepages_shrink_target(&p, 8), 10);
        /* Pages in use by someone: never below the pages in use (they would turn surplus). */
        p = (struct lease_pool){ .nr = 32, .free = 20, .resv = 2 };
        assert_int_equal(lease_hugepages_shrink_target(&p, 8), 14);
        /* Nothing to shrink. */
        p = (struct lease_pool){ .nr = 8, .free = 8 };
        assert_int_equal(lease_hugepages_shrink_target(&p, 8), 8);
        p = (struct lease_pool){ .nr = 6, .free = 6 };
        assert_int_equal(lease_hugepages_shrink_target(&p, 8), 6);
}

static struct lease_record sample(const char *id) {
        struct lease_record r = {
                .state = LEASE_ACTIVE,
                .uid = 1000,
                .gid = 100,
                .pid = 4242,
                .client = ":1.42",
                .persist = false,
                .created_realtime_usec = UINT64_C(1795354164002812),
                .hugepage_size = UINT64_C(2) << 20,
                .hugepage_bytes = UINT64_C(1) << 30,
                .snapshot = true,
                .template_name = "base",
                .snapshot_subvolume = true,
                .snapshot_source = LEASE_SNAPSHOT_PREPARED,
                .n_taps = 2,
                .taps = { { "htap0", 1001 }, { "htap3", -1 } },
        };
        strscpy(r.id, sizeof(r.id), id);
        strscpy(r.label, sizeof(r.label), "nixos test \"boot\"");
        xsprintf(r.snapshot_path, "/var/lib/hosttune/snapshots/leases/%s", id);
        return r;
}

/* Every field, compared through its JSON form (strings end at their NUL). */
static void assert_record_equal(const struct lease_record *x, const struct lease_record *y) {
        json_object *a = lease_record_to_json(x), *b = lease_record_to_json(y);

        assert_string_equal(json_object_to_json_string(a), json_object_to_json_string(b));
        json_object_put(a);
        json_object_put(b);
}

static void test_file_round_trip(void **state) {
        struct lease_record a = sample("0123456789abcdef"), b = sample("fedcba9876543210");
        const struct lease_record *recs[] = { &a, &b };
        _cleanup_free_ struct lease_record *back = NULL;
        _cleanup_free_ char *text = NULL;
        unsigned n = 0;
        (void) state;

        b.state = LEASE_RELEASING;
        b.persist = true;
        b.enforced = true;
        b.snapshot = false;
        b.template_name[0] = 0;
        b.snapshot_path[0] = 0;
        b.n_taps = 0;
        b.hugepage_size = UINT64_C(1) << 30;
        b.hugepage_bytes = UINT64_C(4) << 30;
        text = lease_file_format(recs, 2);
        assert_non_null(text);
        assert_int_equal(lease_file_parse(text, &back, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_record_equal(&back[0], &a);
        assert_record_equal(&back[1], &b);

        free(text);
        text = lease_file_format(NULL, 0);
        free(back);
        back = NULL;
        assert_int_equal(lease_file_parse(text, &back, &n, NULL), 0);
        assert_int_equal(n, 0);
        assert_null(back);
}

static void test_file_rejects(void **state) {
        struct lease_record a = sample("0123456789abcdef");
        const struct lease_record *recs[] = { &a, &a };
        struct lease_record *back = NULL;
        _cleanup_free_ char *text = NULL;
        unsigned n = 0;
        char buf[4096];
        (void) state;

        /* One id twice in the whole-document form (a log sets a lease as often as it
         * changes: test_log_replay). */
        {
                json_object *doc = json_object_new_object(), *arr = json_object_new_array();
                json_object_object_add(doc, "schema",
                                       json_object_new_string(LEASES_SCHEMA_DOCUMENT));
                json_object_array_add(arr, lease_record_to_json(&a));
                json_object_array_add(arr, lease_record_to_json(&a));
                json_object_object_add(doc, "leases", arr);
                assert_int_equal(lease_file_parse(json_object_to_json_string(doc), &back, &n, NULL),
                                 -EBADMSG);
                json_object_array_del_idx(arr, 1, 1);
                assert_int_equal(lease_file_parse(json_object_to_json_string(doc), &back, &n, NULL),
                                 0);
                assert_int_equal(n, 1);
                assert_record_equal(&back[0], &a);
                free(back);
                back = NULL;
                json_object_put(doc);
        }

        static const char *const bad[] = {
                "",
                "not json",
                "{\"schema\": \"hosttune.leases/2\", \"leases\": []}",
                "{\"schema\": \"hosttune.leases/1\"}",
                "{\"schema\": \"hosttune.leases/1\", \"leases\": [ 3 ]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(lease_file_parse(bad[i], &back, &n, NULL), -EBADMSG);

        /* A record that lies about itself: each of these breaks one rule. */
        static const struct {
                const char *from, *to;
        } edits[] = {
                { "\"uid\": 1000", "\"uid\": -1" },
                { "\"uid\": 1000", "\"uid\": \"1000\"" },
                { "\"hugepage_bytes\": 1073741824", "\"hugepage_bytes\": 1073741825" },
                { "\"hugepage_size\": 2097152", "\"hugepage_size\": 3000000" },
                { "\"template\": \"base\"", "\"template\": \"../etc\"" },
                { "leases/0123456789abcdef\"", "leases/0123456789abcdee\"" },
                { "\"state\": \"active\"", "\"state\": \"gone\"" },
                { "\"name\": \"htap0\"", "\"name\": \"../x\"" },
                { "\"original_owner\": 1001", "\"original_owner\": -2" },
                { "\"id\": \"0123456789abcdef\"", "\"id\": \"0123456789ABCDEF\"" },
                { "\"persist\": false", "\"persist\": 0" },
                { "\"enforced\": false", "\"enforced\": 0" },
        };
        free(text);
        text = lease_file_format(recs, 1);
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                const char *at = strstr(text, edits[i].from);
                if (!at)
                        fail_msg("'%s' not in: %s", edits[i].from, text);
                assert_int_equal(bufprintf(buf, sizeof(buf), "%.*s%s%s", (int) (at - text), text,
                                           edits[i].to, at + strlen(edits[i].from)),
                                 0);
                if (lease_file_parse(buf, &back, &n, NULL) != -EBADMSG)
                        fail_msg("accepted with %s", edits[i].to);
        }
        /* A file of an agent that predates enforcement: no "enforced", read as false. */
        {
                const char *at = strstr(text, "\"enforced\": false,"), *next;
                assert_non_null(at);
                next = strchr(at + strlen("\"enforced\": false,"), '"');
                assert_non_null(next);
                assert_int_equal(
                        bufprintf(buf, sizeof(buf), "%.*s%s", (int) (at - text), text, next), 0);
                assert_int_equal(lease_file_parse(buf, &back, &n, NULL), 0);
                assert_int_equal(n, 1);
                assert_false(back[0].enforced);
                free(back);
                back = NULL;
        }
}

/* ---- the log, read back independently: lines split here, each parsed by json-c alone ---- */

struct log_dir {
        char path[64];
        int fd;
};

static void log_dir_open(struct log_dir *d) {
        strscpy(d->path, sizeof(d->path), "/tmp/hosttune-test-lease-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(d->fd >= 0);
}

static void log_dir_close(struct log_dir *d) {
        (void) unlinkat(d->fd, LEASES_FILE, 0);
        close(d->fd);
        assert_int_equal(rmdir(d->path), 0);
}

/* The file's text as stdio reads it. */
static char *file_text(const struct log_dir *d) {
        char path[128], *buf = NULL;
        size_t len = 0;
        FILE *f, *out = open_memstream(&buf, &len);
        int c;

        assert_int_equal(bufprintf(path, sizeof(path), "%s/%s", d->path, LEASES_FILE), 0);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_non_null(out);
        while ((c = fgetc(f)) != EOF)
                fputc(c, out);
        fclose(f);
        fclose(out);
        return buf;
}

/* Line i (from 0) of the file as a JSON object (the caller puts it), and the number of lines
 * that end in a newline. */
static json_object *file_line(const struct log_dir *d, unsigned i, unsigned *ret_lines) {
        _cleanup_free_ char *text = file_text(d);
        json_object *o = NULL;
        unsigned n = 0;

        for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1, n++) {
                *nl = 0;
                if (n == i)
                        o = json_tokener_parse(line);
        }
        if (ret_lines)
                *ret_lines = n;
        return o;
}

/* The member key of line i: for "set", the record's id; for "remove", the id; for "schema",
 * the schema. */
static void assert_line(const struct log_dir *d, unsigned i, const char *key, const char *value) {
        json_object *o = file_line(d, i, NULL), *v, *id;

        assert_non_null(o);
        assert_int_equal(json_object_object_length(o), 1);
        assert_true(json_object_object_get_ex(o, key, &v));
        if (streq(key, "set")) {
                assert_true(json_object_object_get_ex(v, "id", &id));
                v = id;
        }
        assert_string_equal(json_object_get_string(v), value);
        json_object_put(o);
}

static unsigned file_lines(const struct log_dir *d) {
        unsigned n;

        json_object_put(file_line(d, 0, &n));
        return n;
}

static ino_t file_inode(const struct log_dir *d) {
        struct stat st;

        assert_int_equal(fstatat(d->fd, LEASES_FILE, &st, 0), 0);
        return st.st_ino;
}

static void test_log_replay(void **state) {
        struct lease_record a = sample("0123456789abcdef"), b = sample("fedcba9876543210"),
                            c = sample("00000000000000c0");
        const struct lease_record *ra[] = { &a }, *rb[] = { &b }, *rc[] = { &c };
        const char removed_a[][LEASE_ID_LEN + 1] = { "0123456789abcdef" };
        struct lease_file_info info;
        struct lease_record *back = NULL;
        struct lease_log log;
        struct log_dir d;
        struct stat st;
        unsigned n = 0;
        ino_t ino;
        (void) state;

        log_dir_open(&d);
        lease_log_init(&log, d.fd);
        /* The first write compacts: nothing is appended to a file not written by this log. */
        assert_true(lease_log_wants_compaction(&log, 1, 1));
        assert_int_equal(lease_log_append(&log, ra, 1, NULL, 0), -EBADF);
        assert_int_equal(lease_log_compact(&log, ra, 1), 0);
        assert_int_equal(file_lines(&d), 2);
        assert_line(&d, 0, "schema", "hosttune.leases/2");
        assert_line(&d, 1, "set", a.id);
        ino = file_inode(&d);

        /* A grant appends one line, to the same file. */
        assert_false(lease_log_wants_compaction(&log, 1, 2));
        assert_int_equal(lease_log_append(&log, rb, 1, NULL, 0), 0);
        assert_int_equal(file_lines(&d), 3);
        assert_line(&d, 2, "set", b.id);
        assert_true(file_inode(&d) == ino);
        assert_int_equal(fstatat(d.fd, LEASES_FILE, &st, 0), 0);
        assert_int_equal((uint64_t) st.st_size, log.size);

        /* A release appends a removal; a change appends the whole record again. */
        b.state = LEASE_RELEASING;
        b.n_taps = 1;
        assert_int_equal(lease_log_append(&log, rb, 1, removed_a, 1), 0);
        assert_int_equal(file_lines(&d), 5);
        assert_line(&d, 3, "set", b.id);
        assert_line(&d, 4, "remove", a.id);
        {
                _cleanup_free_ char *text = file_text(&d);
                assert_int_equal(lease_file_parse(text, &back, &n, &info), 0);
        }
        assert_int_equal(n, 1);
        assert_int_equal(info.entries, 4);
        assert_int_equal(info.torn_bytes, 0);
        assert_false(info.document_form);
        assert_record_equal(&back[0], &b);
        free(back);
        back = NULL;

        /* 4 lines, 1 live: the dead ones outnumber it, so the next write compacts, atomically
         * (a new file in its place) and with the live record only. */
        assert_true(lease_log_wants_compaction(&log, 1, 2));
        assert_int_equal(lease_log_compact(&log, rb, 1), 0);
        assert_false(file_inode(&d) == ino);
        assert_int_equal(file_lines(&d), 2);
        assert_line(&d, 1, "set", b.id);
        assert_int_equal(log.entries, 1);
        /* ... and appends go to the new file. */
        assert_int_equal(lease_log_append(&log, rc, 1, NULL, 0), 0);
        assert_int_equal(file_lines(&d), 3);
        assert_line(&d, 2, "set", c.id);

        /* A file past the size bound compacts at its first dead line, not before. */
        log.size = LEASE_LOG_SIZE_MAX + 1;
        assert_false(lease_log_wants_compaction(&log, 1, 3));
        assert_true(lease_log_wants_compaction(&log, 1, 2));

        /* The file removed under the writer: no append into a file nobody reads. */
        assert_int_equal(unlinkat(d.fd, LEASES_FILE, 0), 0);
        assert_int_equal(lease_log_append(&log, rc, 1, NULL, 0), -EBADF);
        assert_true(lease_log_wants_compaction(&log, 0, 0));
        assert_int_equal(lease_log_compact(&log, rc, 1), 0);
        assert_line(&d, 1, "set", c.id);
        lease_log_close(&log);
        log_dir_close(&d);
}

static void test_log_torn(void **state) {
        struct lease_record a = sample("0123456789abcdef"), b = sample("fedcba9876543210");
        const struct lease_record *recs[] = { &a, &b };
        _cleanup_free_ char *text = lease_file_format(recs, 2);
        struct lease_record *back = NULL;
        struct lease_file_info info;
        char buf[8192];
        const char *second;
        unsigned n = 0;
        (void) state;

        /* The last line cut anywhere short of its newline: the lease it sets is not read. */
        assert_non_null(text);
        second = strchr(strchr(text, '\n') + 1, '\n') + 1;
        for (size_t cut = 1; cut < strlen(second); cut += 37) {
                assert_int_equal(
                        bufprintf(buf, sizeof(buf), "%.*s", (int) (second - text + cut), text), 0);
                assert_int_equal(lease_file_parse(buf, &back, &n, &info), 0);
                assert_int_equal(n, 1);
                assert_int_equal(info.torn_bytes, cut);
                assert_record_equal(&back[0], &a);
                free(back);
                back = NULL;
        }
        /* A cut line with a whole line after it is no crash's doing: refused. */
        assert_int_equal(
                bufprintf(buf, sizeof(buf), "%.*s\n%s", (int) (second - text + 20), text, second),
                0);
        assert_int_equal(lease_file_parse(buf, &back, &n, NULL), -EBADMSG);
        /* Nor are lines that are not one "set" or "remove": */
        static const char *const bad[] = {
                "\n",
                "{ \"set\": 1 }\n",
                "{ \"remove\": \"xyz\" }\n",
                "{ \"remove\": \"0123456789abcdef\", \"set\": {} }\n",
                "{ \"drop\": \"0123456789abcdef\" }\n",
                "{ \"remove\": \"0123456789abcdef\" } x\n",
                "{ \"schema\": \"hosttune.leases/2\" }\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(bufprintf(buf, sizeof(buf), "%s%s", text, bad[i]), 0);
                if (lease_file_parse(buf, &back, &n, NULL) != -EBADMSG)
                        fail_msg("accepted: %s", bad[i]);
        }
        /* A removal of a lease not on record is none of those. */
        assert_int_equal(
                bufprintf(buf, sizeof(buf), "%s{ \"remove\": \"00000000000000aa\" }\n", text), 0);
        assert_int_equal(lease_file_parse(buf, &back, &n, NULL), 0);
        assert_int_equal(n, 2);
        free(back);
}

static struct plan_step tap_step(const char *name, const char *current) {
        struct plan_step s = { .kind = PLAN_TAP };
        strscpy(s.u.tap.name, sizeof(s.u.tap.name), name);
        strscpy(s.current, sizeof(s.current), current);
        return s;
}

static struct plan_step pool_step(uint64_t cur, uint64_t pages) {
        struct plan_step s = { .kind = PLAN_HUGEPAGES };
        xsprintf(s.current, "%" PRIu64 " pages", cur);
        s.u.hugepages.current = cur;
        s.u.hugepages.page_size = UINT64_C(2) << 20;
        s.u.hugepages.pages = pages;
        s.u.hugepages.node = -1;
        return s;
}

static void test_plan_filter(void **state) {
        struct lease_usage u = { .n_sizes = 1, .taps = 1 };
        struct plan_step steps[6];
        struct plan plan = { .n = 6, .steps = steps };
        (void) state;

        u.hugepages[0].page_size = UINT64_C(2) << 20;
        u.hugepages[0].bytes = UINT64_C(20) << 21; /* 20 pages */
        strscpy(u.tap_names[0], sizeof(u.tap_names[0]), "htap1");
        steps[0] = tap_step("htap0", "tap owner 1000 vnet_hdr"); /* not leased: stays */
        steps[1] = tap_step("htap1", "tap owner 1000 vnet_hdr"); /* leased: its owner stays */
        steps[2] = tap_step("htap1", "");                        /* missing: created */
        steps[3] = pool_step(32, 8);                             /* shrink: clamped to 20 */
        steps[4] = pool_step(4, 8);                              /* grow: stays */
        steps[5] = pool_step(20, 8);                             /* shrink to 20 from 20: none */

        lease_plan_filter(&plan, &u);
        assert_int_equal(plan.n, 4);
        assert_string_equal(steps[0].u.tap.name, "htap0");
        assert_int_equal(steps[1].kind, PLAN_TAP);
        assert_string_equal(steps[1].current, "");
        assert_int_equal(steps[2].kind, PLAN_HUGEPAGES);
        assert_int_equal(steps[2].u.hugepages.pages, 20);
        assert_non_null(strstr(steps[2].wanted, "20 pages"));
        assert_int_equal(steps[3].u.hugepages.pages, 8);

        /* No agent: nothing changes. */
        lease_plan_filter(&plan, NULL);
        assert_int_equal(plan.n, 4);
}

static void test_usage(void **state) {
        struct lease_record a = sample("0123456789abcdef"), b = sample("fedcba9876543210"),
                            c = sample("00000000000000aa");
        const struct lease_record *recs[] = { &a, &b, &c };
        struct lease_usage u;
        (void) state;

        b.state = LEASE_RELEASING; /* its pages count no more, its taps do until they are back */
        b.n_taps = 1;
        strscpy(b.taps[0].name, sizeof(b.taps[0].name), "htap5");
        c.state = LEASE_PROVISIONING;
        c.hugepage_size = UINT64_C(1) << 30;
        c.hugepage_bytes = UINT64_C(2) << 30;
        c.n_taps = 0;
        c.snapshot = false;
        lease_usage_compute(recs, 3, &u);
        assert_int_equal(u.n_sizes, 2);
        assert_true(u.hugepages[0].page_size == UINT64_C(2) << 20);
        assert_true(u.hugepages[0].bytes == UINT64_C(1) << 30);
        assert_true(u.hugepages[1].page_size == UINT64_C(1) << 30);
        assert_true(u.hugepages[1].bytes == UINT64_C(2) << 30);
        assert_int_equal(u.taps, 3);
        assert_string_equal(u.tap_names[0], "htap0");
        assert_string_equal(u.tap_names[1], "htap3");
        assert_string_equal(u.tap_names[2], "htap5");
        assert_int_equal(u.snapshots, 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_template_names),  cmocka_unit_test(test_labels_and_ids),
                cmocka_unit_test(test_hugepages_fit),   cmocka_unit_test(test_shrink_target),
                cmocka_unit_test(test_file_round_trip), cmocka_unit_test(test_file_rejects),
                cmocka_unit_test(test_plan_filter),     cmocka_unit_test(test_usage),
                cmocka_unit_test(test_log_replay),      cmocka_unit_test(test_log_torn),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
