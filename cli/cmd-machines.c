/* SPDX-License-Identifier: MIT */
/* `hosttune machines-line`: this host as one line of a Nix machines file (/etc/nix/machines,
 * nix.conf `builders = @FILE`, Hydra's machines files), naming only the system features hosttune
 * verified here, as the agent publishes them in nix.conf. docs/fleet.md. */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "assess/assess.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "runtime/agent-state.h"
#include "runtime/dir.h"
#include "policies/fleet.h"
#include "policies/policy.h"
#include "policies/readiness.h"
#include "probes/probes.h"

#define DEFAULT_HOST_KEY "/etc/ssh/ssh_host_ed25519_key.pub"
#define HOST_KEY_MAX 16384

struct machines_options {
        const char *uri;
        const char *systems;
        const char *ssh_key;
        unsigned max_jobs;
        unsigned speed_factor;
        const char *extra_features;
        const char *mandatory_features;
        const char *host_key_file; /* NULL: DEFAULT_HOST_KEY when present */
        bool no_host_key;
        const char *policy;
        bool offline;
};

static void help(void) {
        printf("Usage: hosttune machines-line [OPTIONS]\n"
               "Print this host's line for a Nix machines file, with the system features\n"
               "hosttune verified here (kvm, nixos-test, hugepages) and no others it decides.\n\n"
               "  --uri URI                  store URI (default ssh-ng://FQDN of this host)\n"
               "  --systems LIST             platforms, comma separated (default: this one)\n"
               "  --ssh-key FILE             identity file the scheduler uses (default none)\n"
               "  --max-jobs N               parallel builds (default: online CPUs)\n"
               "  --speed-factor N           relative speed (default 1)\n"
               "  --extra-features LIST      features hosttune does not verify (big-parallel,...)\n"
               "  --mandatory-features LIST  features a build must require to come here\n"
               "  --host-key-file FILE       public host key (default " DEFAULT_HOST_KEY
               " if present)\n"
               "  --no-host-key              leave the host key field empty\n"
               "  --policy FILE|NAME         judge hugepages by this policy, not the agent's\n"
               "  --offline                  ignore a running agent\n"
               "Exit status: 0 printed, 1 a mandatory feature is not verified here, 2 usage,\n"
               "3 could not probe or read the host key.\n");
}

static int parse_count(const char *opt, const char *v, unsigned *ret) {
        unsigned n;

        if (parse_uint(v, &n) < 0 || n == 0)
                return cli_error_errno(
                        -EINVAL, "hosttune machines-line: %s: '%s' is not a number of 1 or more",
                        opt, v);
        *ret = n;
        return 0;
}

static int parse_options(int argc, char **argv, struct machines_options *o) {
        enum {
                OPT_URI = 0x100,
                OPT_SYSTEMS,
                OPT_SSH_KEY,
                OPT_MAX_JOBS,
                OPT_SPEED,
                OPT_EXTRA,
                OPT_MANDATORY,
                OPT_HOST_KEY_FILE,
                OPT_NO_HOST_KEY,
                OPT_OFFLINE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "uri", required_argument, NULL, OPT_URI },
                { "systems", required_argument, NULL, OPT_SYSTEMS },
                { "ssh-key", required_argument, NULL, OPT_SSH_KEY },
                { "max-jobs", required_argument, NULL, OPT_MAX_JOBS },
                { "speed-factor", required_argument, NULL, OPT_SPEED },
                { "extra-features", required_argument, NULL, OPT_EXTRA },
                { "mandatory-features", required_argument, NULL, OPT_MANDATORY },
                { "host-key-file", required_argument, NULL, OPT_HOST_KEY_FILE },
                { "no-host-key", no_argument, NULL, OPT_NO_HOST_KEY },
                { "policy", required_argument, NULL, 'p' },
                { "offline", no_argument, NULL, OPT_OFFLINE },
                {},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "hp:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case OPT_URI:
                        o->uri = optarg;
                        break;
                case OPT_SYSTEMS:
                        o->systems = optarg;
                        break;
                case OPT_SSH_KEY:
                        o->ssh_key = optarg;
                        break;
                case OPT_MAX_JOBS:
                        if (parse_count("--max-jobs", optarg, &o->max_jobs) < 0)
                                return -EINVAL;
                        break;
                case OPT_SPEED:
                        if (parse_count("--speed-factor", optarg, &o->speed_factor) < 0)
                                return -EINVAL;
                        break;
                case OPT_EXTRA:
                        o->extra_features = optarg;
                        break;
                case OPT_MANDATORY:
                        o->mandatory_features = optarg;
                        break;
                case OPT_HOST_KEY_FILE:
                        o->host_key_file = optarg;
                        break;
                case OPT_NO_HOST_KEY:
                        o->no_host_key = true;
                        break;
                case 'p':
                        o->policy = optarg;
                        break;
                case OPT_OFFLINE:
                        o->offline = true;
                        break;
                default:
                        return cli_error_errno(-EINVAL, "Try 'hosttune machines-line --help'.");
                }
        if (optind < argc)
                return cli_error_errno(-EINVAL, "hosttune: unexpected argument '%s'", argv[optind]);
        if (o->no_host_key && o->host_key_file)
                return cli_error_errno(-EINVAL,
                                       "hosttune machines-line: --host-key-file and --no-host-key "
                                       "exclude each other");
        return 0;
}

/* The fully qualified name, as `hostname -f` finds it: the canonical name the resolver gives
 * for the host name, else the host name itself. */
static int default_uri(char *buf, size_t size) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME };
        struct addrinfo *ai = NULL;
        char host[256];
        int r;

        if (gethostname(host, sizeof(host) - 1) < 0)
                return negative_errno();
        host[sizeof(host) - 1] = 0;
        if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai && !isempty(ai->ai_canonname))
                r = bufprintf(buf, size, "ssh-ng://%s", ai->ai_canonname);
        else
                r = bufprintf(buf, size, "ssh-ng://%s", host);
        if (ai)
                freeaddrinfo(ai);
        return r;
}

/* The Nix system of this machine: the kernel's machine name and "-linux", as Nix names it
 * (x86_64-linux, aarch64-linux). */
static int default_system(char *buf, size_t size) {
        struct utsname u;

        if (uname(&u) < 0)
                return negative_errno();
        return bufprintf(buf, size, "%s-linux", u.machine);
}

/* The public host key file's content in base64, as nix.buildMachines.*.publicHostKey
 * documents it (`base64 -w0 /etc/ssh/ssh_host_ed25519_key.pub`). */
static int read_host_key(const char *path, char *buf, size_t size) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = read_regular_file_alloc(path, HOST_KEY_MAX, &text, &len);
        if (r < 0)
                return r;
        if (len == 0)
                return -EBADMSG;
        r = base64_encode(text, len, buf, size);
        return r < 0 ? r : 0;
}

int cmd_machines_line(int argc, char **argv) {
        struct machines_options o = { .speed_factor = 1 };
        static struct host_report report;
        static struct policy policy;
        static struct agent_state agent;
        static char host_key[HOST_KEY_MAX * 4 / 3 + 8];
        struct requirement_result res[REQUIREMENTS_MAX];
        struct assessment as;
        struct fleet_machine m;
        struct fleet_view v;
        char uri[300], system[80], features[128], line[HOST_KEY_MAX * 2], err[256];
        const char *key_path;
        bool from_agent;
        long cpus;
        int r;

        r = parse_options(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : EXIT_USAGE;

        /* The features as the agent publishes them: its policy (whose hugepage requirements
         * decide "hugepages") and what its leases hold, judged on a probe of the host now;
         * without an agent, the configured policy. */
        from_agent = !o.offline && agent_state_read_live(runtime_dir_resolve(NULL), &agent) >= 0;
        r = cli_load_policy(o.policy, from_agent ? &agent : NULL, &policy, NULL, 0);
        if (r != 0)
                return r;
        r = assess(&(struct assess_input){ .policy = &policy,
                                           .require = &policy.require,
                                           .leases = from_agent ? &agent.leases : NULL,
                                           .probes = PROBE_MASK_ALL,
                                           .detail = true },
                   &report, res, &as, NULL);
        if (r < 0) {
                fprintf(stderr, "hosttune machines-line: probing failed: %s\n", strerror(-r));
                return EXIT_PROBE_FAILED;
        }
        assessment_done(&as);
        /* Ready as the requirements say: the features are what the host gives now, whatever
         * the policy would still change. */
        fleet_view_build(&report, res, as.n_results, as.ready, from_agent ? &agent.leases : NULL,
                         &v);
        if (fleet_nix_features(&v, features, sizeof(features)) < 0)
                return EXIT_PROBE_FAILED;

        m = (struct fleet_machine){
                .uri = o.uri,
                .systems = o.systems,
                .ssh_key = o.ssh_key,
                .max_jobs = o.max_jobs,
                .speed_factor = o.speed_factor,
                .extra_features = o.extra_features,
                .mandatory_features = o.mandatory_features,
        };
        if (!m.uri) {
                if (default_uri(uri, sizeof(uri)) < 0) {
                        fprintf(stderr, "hosttune machines-line: cannot tell the host name; "
                                        "give --uri\n");
                        return EXIT_USAGE;
                }
                m.uri = uri;
        }
        if (!m.systems) {
                if (default_system(system, sizeof(system)) < 0) {
                        fprintf(stderr, "hosttune machines-line: cannot tell the system; give "
                                        "--systems\n");
                        return EXIT_USAGE;
                }
                m.systems = system;
        }
        if (m.max_jobs == 0) {
                /* Nix's max-jobs = auto: one build per online CPU. */
                cpus = sysconf(_SC_NPROCESSORS_ONLN);
                m.max_jobs = cpus > 0 ? (unsigned) cpus : 1;
        }
        key_path = o.no_host_key ? NULL : o.host_key_file ? o.host_key_file : DEFAULT_HOST_KEY;
        if (key_path) {
                r = read_host_key(key_path, host_key, sizeof(host_key));
                if (r >= 0)
                        m.host_key_base64 = host_key;
                else if (o.host_key_file || r != -ENOENT) {
                        fprintf(stderr,
                                "hosttune machines-line: cannot use the host key %s: %s%s\n",
                                key_path, r == -EBADMSG ? "the file is empty" : "",
                                r == -EBADMSG ? "" : strerror(-r));
                        return EXIT_PROBE_FAILED;
                }
        }

        r = fleet_machines_line(&m, features, line, sizeof(line), err, sizeof(err));
        if (r == -ENXIO) {
                fprintf(stderr, "hosttune machines-line: %s\n", err);
                return EXIT_NOT_READY;
        }
        if (r < 0) {
                fprintf(stderr, "hosttune machines-line: %s\n", r == -EINVAL ? err : strerror(-r));
                return r == -EINVAL ? EXIT_USAGE : EXIT_PROBE_FAILED;
        }
        printf("%s\n", line);
        return fflush(stdout) == 0 ? 0 : EXIT_PROBE_FAILED;
}
