/* SPDX-License-Identifier: MIT */
/* Unit tests for runtime/agent-state.c: the state file's text form and the lock that says
 * whether the agent that wrote it is alive. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"
#include "runtime/agent-state.h"
#include "runtime/dir.h"
#include "lib/fsutil.h"

static struct agent_state sample(void) {
        struct agent_state s = {
                .pid = 4242,
                .generation = 7,
                .ready = true,
                .policy_name = "microvm-ci",
                .policy_path = "/etc/hosttune/policy.ini",
                .require = "kvm,rng,hugepages=2G",
                .snapshot_root = "/var/lib/hosttune/snapshots",
                .tap_prefix = "htap",
                .bridge = "htbr0",
                .nix_conf = "/etc/nix/nix.conf",
                .leases = { .n_sizes = 2, .taps = 3, .snapshots = 1 },
        };
        s.leases.hugepages[0].page_size = 2U << 20;
        s.leases.hugepages[0].bytes = 1U << 30;
        s.leases.hugepages[1].page_size = 1U << 30;
        s.leases.hugepages[1].bytes = 0;
        return s;
}

static void test_round_trip(void **state) {
        struct agent_state s = sample(), p;
        char buf[AGENT_STATE_TEXT_MAX];
        (void) state;

        assert_int_equal(agent_state_format(&s, buf, sizeof(buf)), 0);
        assert_int_equal(agent_state_parse(buf, &p), 0);
        assert_int_equal(p.pid, 4242);
        assert_true(p.generation == 7);
        assert_true(p.ready);
        assert_string_equal(p.policy_name, "microvm-ci");
        assert_string_equal(p.require, "kvm,rng,hugepages=2G");
        assert_string_equal(p.bridge, "htbr0");
        assert_int_equal(p.leases.n_sizes, 2);
        assert_true(p.leases.hugepages[0].page_size == 2U << 20);
        assert_true(p.leases.hugepages[0].bytes == 1U << 30);
        assert_true(p.leases.hugepages[1].page_size == 1U << 30);
        assert_int_equal(p.leases.taps, 3);
        assert_int_equal(p.leases.snapshots, 1);
        /* No smoke verdict given, none written, none read. */
        assert_null(strstr(buf, "kvm-smoke"));
        assert_false(p.kvm_smoke.root.tried);
}

/* The agent's KVM smoke verdicts travel to `check` with the identity they are about. */
static void test_kvm_smoke(void **state) {
        struct agent_state s = sample(), p;
        char buf[AGENT_STATE_TEXT_MAX];
        (void) state;

        s.kvm_smoke.root = (struct kvm_smoke_result){ .tried = true,
                                                      .step = "set-msrs",
                                                      .reason = "KVM_SET_MSRS wrote 1 of 4",
                                                      .user = "root",
                                                      .usec = 1700 };
        s.kvm_smoke.build = (struct kvm_smoke_result){ .tried = true,
                                                       .ran = true,
                                                       .user = "nixbld1",
                                                       .uid = 30001,
                                                       .usec = 3000,
                                                       .ratio = 1.25,
                                                       .reason = "reached hlt" };
        strscpy(s.kvm_smoke.identity, sizeof(s.kvm_smoke.identity), "6:52:20600:17.5:2358");
        assert_int_equal(agent_state_format(&s, buf, sizeof(buf)), 0);
        assert_non_null(strstr(buf,
                               "\nkvm-smoke-identity=6:52:20600:17.5:2358\n"
                               "kvm-smoke-root=fail set-msrs 0 root 0 1700 0.000 KVM_SET_MSRS "
                               "wrote 1 of 4\n"
                               "kvm-smoke-build=ran - 0 nixbld1 30001 3000 1.250 reached hlt\n"));
        assert_int_equal(agent_state_parse(buf, &p), 0);
        assert_string_equal(p.kvm_smoke.identity, "6:52:20600:17.5:2358");
        assert_true(p.kvm_smoke.root.tried && !p.kvm_smoke.root.ran);
        assert_string_equal(p.kvm_smoke.root.step, "set-msrs");
        assert_string_equal(p.kvm_smoke.root.reason, "KVM_SET_MSRS wrote 1 of 4");
        assert_true(p.kvm_smoke.build.ran);
        assert_int_equal(p.kvm_smoke.build.uid, 30001);
        assert_true(p.kvm_smoke.build.ratio == 1.25);

        /* Garbage in a verdict is a malformed state, like any known key's. */
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\npid=3\n"
                                           "kvm-smoke-root=perhaps\n",
                                           &p),
                         -EBADMSG);
        /* An identity with a space could not be compared: refused when writing. */
        strscpy(s.kvm_smoke.identity, sizeof(s.kvm_smoke.identity), "a b");
        assert_int_equal(agent_state_format(&s, buf, sizeof(buf)), -EINVAL);
}

static void test_rejects(void **state) {
        struct agent_state s = sample(), p;
        char buf[AGENT_STATE_TEXT_MAX];
        (void) state;

        /* A newline in a value could forge a line ("\nleased-taps=0"). */
        strscpy(s.policy_name, sizeof(s.policy_name), "x\nleased-taps=0");
        assert_int_equal(agent_state_format(&s, buf, sizeof(buf)), -EINVAL);
        s = sample();
        assert_int_equal(agent_state_format(&s, buf, 64), -ENOBUFS);

        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/2\npid=1\n", &p), -EBADMSG);
        assert_int_equal(agent_state_parse("pid=1\n", &p), -EBADMSG);
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\n", &p), -EBADMSG);
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\npid=-3\n", &p),
                         -EBADMSG);
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\npid=3\nnoequals\n", &p),
                         -EBADMSG);
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\npid=3\n"
                                           "leased-hugepages=2097152\n",
                                           &p),
                         -EBADMSG);
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\npid=3\n"
                                           "leased-taps=many\n",
                                           &p),
                         -EBADMSG);
        /* Keys a newer agent may add are ignored. */
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\npid=3\n"
                                           "future-key=1\n",
                                           &p),
                         0);
        assert_int_equal(p.pid, 3);
}

/* The lock protocol with a real file: alive while an OFD write lock is held on the file the
 * name points to, dead once it is released. */
static void test_live(void **state) {
        char dir[] = "/tmp/hosttune-test-agent-state.XXXXXX", path[128], buf[AGENT_STATE_TEXT_MAX];
        struct agent_state s = sample(), p = { 0 };
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        int fd;
        (void) state;

        assert_non_null(mkdtemp(dir));
        xsprintf(path, "%s/%s", dir, AGENT_STATE_FILE);
        assert_int_equal(agent_state_read_live(dir, &p), -ENOENT);

        assert_int_equal(agent_state_format(&s, buf, sizeof(buf)), 0);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t) strlen(buf));
        assert_int_equal(agent_state_read_live(dir, &p), -ESRCH);

        assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
        assert_int_equal(agent_state_read_live(dir, &p), 0);
        assert_string_equal(p.policy_name, "microvm-ci");

        close(fd);
        assert_int_equal(agent_state_read_live(dir, &p), -ESRCH);
        unlink(path);
        rmdir(dir);
}

static void test_runtime_dir(void **state) {
        (void) state;
        assert_string_equal(runtime_dir_resolve("/x"), "/x");
        setenv("HOSTTUNE_RUNTIME_DIR", "/y", 1);
        assert_string_equal(runtime_dir_resolve(NULL), "/y");
        setenv("HOSTTUNE_RUNTIME_DIR", "", 1);
        assert_string_equal(runtime_dir_resolve(NULL), RUNTIME_DIR_DEFAULT);
        unsetenv("HOSTTUNE_RUNTIME_DIR");
        assert_string_equal(runtime_dir_resolve(""), RUNTIME_DIR_DEFAULT);
}

static void test_policy_source(void **state) {
        struct agent_state s = sample();
        char buf[256];
        (void) state;

        assert_int_equal(agent_state_policy_source(&s, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/etc/hosttune/policy.ini");
        strscpy(s.policy_path, sizeof(s.policy_path), "<builtin:default>");
        assert_int_equal(agent_state_policy_source(&s, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "default");
        s.policy_path[0] = 0;
        assert_int_equal(agent_state_policy_source(&s, buf, sizeof(buf)), -ENOENT);
}

/* The files of the policy in force and a refusal travel through the state file, and
 * agent_state_policy_changed() notices a file that changed (issue 12, point 10). */
static void test_policy_files(void **state) {
        struct agent_state s = sample(), p;
        char buf[AGENT_STATE_TEXT_MAX], dir[] = "/tmp/test-agent-state.XXXXXX", path[64];
        struct policy_file_stamp st;
        FILE *f;
        (void) state;

        assert_non_null(mkdtemp(dir));
        xsprintf(path, "%s/p:1.ini", dir); /* a colon in the path */
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("[policy]\n", f);
        fclose(f);
        assert_int_equal(policy_file_stamp_read(path, &st), 0);
        assert_int_equal(agent_state_add_policy_file(&s, &st), 0);
        strscpy(s.policy_refused, sizeof(s.policy_refused), "p.ini:3: mount: '/etc' is not");
        assert_int_equal(agent_state_format(&s, buf, sizeof(buf)), 0);
        assert_int_equal(agent_state_parse(buf, &p), 0);
        assert_string_equal(p.policy_files, s.policy_files);
        assert_non_null(strstr(p.policy_files, path));
        assert_string_equal(p.policy_refused, "p.ini:3: mount: '/etc' is not");
        assert_false(agent_state_policy_changed(&p));

        f = fopen(path, "a");
        assert_non_null(f);
        fputs("# changed\n", f);
        fclose(f);
        assert_true(agent_state_policy_changed(&p));
        assert_int_equal(unlink(path), 0);
        assert_true(agent_state_policy_changed(&p));
        assert_int_equal(rmdir(dir), 0);

        /* A malformed line is refused; a newline in the refusal cannot forge a line. */
        assert_int_equal(agent_state_parse("schema=hosttune.agent-state/1\npid=1\n"
                                           "policy-file=1:2:/x\n",
                                           &p),
                         -EBADMSG);
        strscpy(s.policy_refused, sizeof(s.policy_refused), "a\npid=1");
        assert_int_equal(agent_state_format(&s, buf, sizeof(buf)), -EINVAL);
}

/* Reachability by permission bits for an unprivileged uid (docs/dbus-api.md, "Who sees
 * what"). */
static void test_reachable(void **state) {
        struct access_identity nobody = { .uid = 65534, .n_gids = 1, .gids = { 65534 } },
                               root = { .uid = 0 };
        char dir[] = "/tmp/test-reachable.XXXXXX", path[96];
        (void) state;

        /* The test gives files to root (chown) and judges them as uid 65534, a stranger. */
        if (geteuid() != 0) {
                print_message("SKIP: test_reachable needs root (chown to root, a caller other "
                              "than uid 65534)\n");
                skip();
        }

        assert_non_null(mkdtemp(dir)); /* 0700 */
        xsprintf(path, "%s/file", dir);
        assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0644)), 0);
        assert_false(path_reachable_as(path, &nobody, false));
        assert_true(path_reachable_as(path, &root, true));
        assert_int_equal(chmod(dir, 0711), 0);
        assert_true(path_reachable_as(path, &nobody, true));
        assert_int_equal(chmod(path, 0600), 0);
        assert_true(path_reachable_as(path, &nobody, false));
        assert_false(path_reachable_as(path, &nobody, true));
        /* The group class applies to a member. */
        assert_int_equal(chown(path, 0, 65534), 0);
        assert_int_equal(chmod(path, 0640), 0);
        assert_true(path_reachable_as(path, &nobody, true));
        xsprintf(path, "%s/missing/deeper", dir);
        assert_true(path_reachable_as(path, &nobody, true));
        xsprintf(path, "%s/file", dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_rejects),
                cmocka_unit_test(test_live),          cmocka_unit_test(test_runtime_dir),
                cmocka_unit_test(test_policy_source), cmocka_unit_test(test_policy_files),
                cmocka_unit_test(test_reachable),     cmocka_unit_test(test_kvm_smoke),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
