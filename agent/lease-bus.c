/* SPDX-License-Identifier: MIT */
/* The lease methods of org.hosttune.Agent1 (AcquireLease, ReleaseLease, ListLeases): the
 * request's keys and their checks, the caller's credentials, and the a{sv} of a grant. Keys,
 * errors and examples: docs/leases.md. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/lease-bus.h"
#include "agent/lease-sock.h"
#include "agent/lease.h"
#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/hugepages.h"

#define METHOD "AcquireLease"

static int check_hugepages(struct agent *a, const struct lease_request_values *v,
                           struct lease_request *req, sd_bus_error *error) {
        uint64_t ps = lease_request_given(v, LEASE_KEY_HUGEPAGE_SIZE)
                              ? v->hugepage_size
                              : a->in_force.policy->hugepages_size;
        uint64_t mem = a->verdict.as.report->memory.mem_total_kib * 1024;
        struct hugepages_counts c;
        char a1[32], a2[32];

        if (!lease_request_given(v, LEASE_KEY_HUGEPAGES)) {
                if (lease_request_given(v, LEASE_KEY_HUGEPAGE_SIZE))
                        return agent_bus_invalid_args(error, METHOD
                                                      ": 'hugepage-size' without 'hugepages'");
                return 0;
        }
        if (v->hugepages == 0)
                return agent_bus_invalid_args(error, METHOD ": 'hugepages' must be more than 0 "
                                                            "bytes (leave the key out for none)");
        if (ps < 4096 || (ps & (ps - 1)) != 0)
                return agent_bus_invalid_args(error,
                                              METHOD ": 'hugepage-size' %" PRIu64
                                                     " is not a page size (a power of two, at "
                                                     "least 4096)",
                                              ps);
        if (hugepages_counts_read(a->lease.mgr->root_fd, ps, &c) < 0)
                return agent_bus_invalid_args(error, METHOD ": this kernel has no %s hugepage pool",
                                              format_size(ps, a1, sizeof(a1)));
        /* Rounding up to whole pages must not wrap, and no pool outgrows the machine. */
        if (v->hugepages > UINT64_MAX - ps || (mem > 0 && v->hugepages > mem))
                return agent_bus_invalid_args(error,
                                              METHOD ": 'hugepages' %" PRIu64
                                                     " bytes is more than this machine's memory "
                                                     "(%s)",
                                              v->hugepages, format_size(mem, a2, sizeof(a2)));
        req->want.hugepage_size = ps;
        req->pages = v->hugepages / ps + (v->hugepages % ps != 0);
        return 0;
}

static int check_snapshot(struct agent *a, const struct lease_request_values *v,
                          struct lease_request *req, sd_bus_error *error) {
        const char *root = a->in_force.policy->snapshot_root;
        struct stat st;
        int r;

        if (!lease_request_given(v, LEASE_KEY_SNAPSHOT))
                return 0;
        if (v->snapshot[0] && !lease_template_name_valid(v->snapshot))
                return agent_bus_invalid_args(error,
                                              METHOD ": 'snapshot': '%.80s' is not a template name "
                                                     "(1 to 63 letters, digits, '.', '_', '-'; not "
                                                     "starting with '.', no '..')",
                                              v->snapshot);
        r = stat_in_root(a->lease.mgr->root_fd, root, &st);
        if (r < 0 || !S_ISDIR(st.st_mode))
                return sd_bus_error_setf(error, AGENT_ERROR_NOT_READY,
                                         "the snapshot root %s does not exist: set [snapshots] in "
                                         "the policy and apply it",
                                         root);
        if (v->snapshot[0]) {
                r = snapshot_template_lookup(a->lease.mgr->root_fd, root, v->snapshot);
                if (r < 0)
                        return agent_bus_invalid_args(error,
                                                      METHOD ": no template '%s' in %s/templates%s",
                                                      v->snapshot, root,
                                                      r == -ENOTDIR ? " (not a directory)"
                                                      : r == -ELOOP ? " (a symlink)"
                                                                    : "");
        }
        req->want.snapshot = true;
        strscpy(req->want.template_name, sizeof(req->want.template_name), v->snapshot);
        return 0;
}

int lease_check_request(struct agent *a, const struct lease_request_values *v,
                        struct lease_request *req, sd_bus_error *error) {
        int r;

        r = check_hugepages(a, v, req, error);
        if (r >= 0 && !lease_request_given(v, LEASE_KEY_HUGEPAGES) &&
            !lease_request_given(v, LEASE_KEY_SNAPSHOT) && !lease_request_given(v, LEASE_KEY_TAPS))
                r = agent_bus_invalid_args(error, METHOD ": the request asks for nothing (give "
                                                         "hugepages, snapshot or taps)");
        if (r >= 0)
                r = check_snapshot(a, v, req, error);
        if (r < 0)
                return r;
        if (lease_request_given(v, LEASE_KEY_TAPS)) {
                if (v->taps == 0)
                        return agent_bus_invalid_args(error, METHOD ": 'taps' must be at least 1 "
                                                                    "(leave the key out for none)");
                if (a->in_force.policy->taps == 0)
                        return agent_bus_invalid_args(error,
                                                      METHOD ": the policy has no tap pool ([net] "
                                                             "taps = 0)");
                if (v->taps > a->in_force.policy->taps || v->taps > LEASE_TAPS_MAX)
                        return agent_bus_invalid_args(
                                error, METHOD ": %" PRIu32 " taps requested; the pool has %u",
                                v->taps, a->in_force.policy->taps);
                req->taps = v->taps;
        }
        if (lease_request_given(v, LEASE_KEY_LABEL)) {
                if (!lease_label_valid(v->label))
                        return agent_bus_invalid_args(error,
                                                      METHOD ": 'label' must be at most %d bytes "
                                                             "without control characters",
                                                      LEASE_LABEL_MAX);
                strscpy(req->want.label, sizeof(req->want.label), v->label);
        }
        if (lease_request_given(v, LEASE_KEY_WAIT)) {
                if (v->wait > LEASE_WAIT_MAX_SEC)
                        return agent_bus_invalid_args(
                                error, METHOD ": 'wait' is at most %d seconds", LEASE_WAIT_MAX_SEC);
                req->wait_sec = v->wait;
        }
        req->want.persist = lease_request_given(v, LEASE_KEY_PERSIST) && v->persist;
        req->enforce = lease_request_given(v, LEASE_KEY_ENFORCE) && v->enforce;
        return 0;
}

/* The effective gid of pid from /proc/PID/status ("Gid: real effective saved fs"). */
static int read_egid(int root_fd, pid_t pid, gid_t *ret) {
        char path[64], buf[4096], *line;
        unsigned long real, eff;

        xsprintf(path, "/proc/%d/status", (int) pid);
        if (read_virtual_file_at(root_fd, path, buf, sizeof(buf)) < 0)
                return -ESRCH;
        line = strstr(buf, "\nGid:");
        if (!line || sscanf(line + 1, "Gid: %lu %lu", &real, &eff) != 2 || eff >= UINT32_MAX)
                return -EBADMSG;
        *ret = (gid_t) eff;
        return 0;
}

/* Who asks, from the bus daemon's word (pid when it says it); the group from /proc, which the
 * bus daemon does not say (sd-bus's AUGMENT would read all of it, a line at a time). */
static int read_sender(struct agent *a, sd_bus_message *m, sd_bus_creds *creds,
                       struct lease_record *want) {
        const char *sender = sd_bus_message_get_sender(m);
        uid_t uid;
        gid_t gid = 0;
        pid_t pid = 0;
        int r;

        if (!sender)
                return -ENXIO;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        (void) sd_bus_creds_get_pid(creds, &pid);
        if (sd_bus_creds_get_egid(creds, &gid) < 0 &&
            (pid <= 0 || read_egid(a->lease.mgr->root_fd, pid, &gid) < 0))
                gid = (gid_t) -1; /* the directory keeps its group */
        want->uid = uid;
        want->gid = gid;
        want->pid = pid > 0 ? (uint32_t) pid : 0;
        return strscpy(want->client, sizeof(want->client), sender);
}

/* The caller's credentials: those a watched client was seen with (a unique name's
 * credentials are fixed when it connects, so they are asked for once per connection: every
 * query is a round trip to the bus daemon), else asked now. ret gets a reference. */
static int sender_creds(struct agent *a, sd_bus_message *m, sd_bus_creds **ret) {
        struct lease_client *c =
                a->lease.mgr ? lease_client_find(a->lease.mgr, sd_bus_message_get_sender(m)) : NULL;

        if (c && c->creds) {
                *ret = sd_bus_creds_ref(c->creds);
                return 0;
        }
        return agent_bus_sender_creds(m, ret);
}

/* The caller may take and end leases: root or the lease group. < 0 when not (error set). */
static int privileged(struct agent *a, sd_bus_message *m, sd_bus_creds **ret, sd_bus_error *error) {
        int r = sender_creds(a, m, ret);

        if (r >= 0)
                r = agent_bus_check_privileged_creds(a, m, *ret, error);
        if (r < 0)
                return r;
        return r == 0 ? -EACCES : 0;
}

int agent_method_acquire_lease(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        struct agent *a = userdata;
        struct lease_request_values v = { 0 };
        struct lease_client *client = NULL;
        struct lease_request *req;
        int r;

        r = privileged(a, m, &creds, error);
        if (r < 0)
                return r;
        if (a->stopping || !a->lease.mgr)
                return sd_bus_error_set(error, AGENT_ERROR_NOT_READY, "hosttuned is stopping");
        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->arrived_ticks = lease_cgroups_now_ticks();
        req->arrived_usec = agent_now_usec(CLOCK_MONOTONIC);
        /* Everything is checked before anything is taken: a bad request changes nothing. */
        r = agent_bus_read_lease_request(m, &v, error);
        if (r >= 0)
                r = lease_check_request(a, &v, req, error);
        if (r >= 0) {
                r = read_sender(a, m, creds, &req->want);
                if (r < 0)
                        r = sd_bus_error_set_errnof(error, -r,
                                                    "cannot read the caller's credentials: %s",
                                                    strerror(-r));
        }
        if (r >= 0) {
                r = lease_manager_check_caps(a->lease.mgr, req->want.uid, error);
                if (r < 0)
                        lease_stats_answered(a->lease.mgr, req, AGENT_ERROR_LIMIT_EXCEEDED);
        }
        if (r >= 0)
                r = lease_client_get(a->lease.mgr, req->want.client, &client);
        if (r < 0) {
                lease_request_free(req);
                return r;
        }
        /* The credentials serve the client's next calls (they cannot change). */
        if (!client->creds)
                client->creds = sd_bus_creds_ref(creds);
        req->client = client;
        req->msg = sd_bus_message_ref(m);
        r = lease_manager_enqueue(a->lease.mgr, req);
        if (r < 0) {
                lease_request_free(req);
                return r;
        }
        return 1; /* answered with the grant (or an error) when it is decided */
}

int agent_method_release_lease(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        struct agent *a = userdata;
        const char *id;
        struct lease *l;
        uid_t uid;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r >= 0)
                r = privileged(a, m, &creds, error);
        if (r < 0)
                return r;
        if (!a->lease.mgr)
                return sd_bus_error_set(error, AGENT_ERROR_NOT_READY, "hosttuned is stopping");
        l = lease_id_valid(id) ? lease_manager_find(a->lease.mgr, id) : NULL;
        if (!l || l->rec.state != LEASE_ACTIVE)
                return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_LEASE, "no lease '%.40s'%s", id,
                                         l ? " (it is being released)" : "");
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        /* A lease is its holder's: another member of the lease group may not end it. */
        if (uid != 0 && uid != l->rec.uid)
                return sd_bus_error_setf(error, AGENT_ERROR_ACCESS_DENIED,
                                         "lease %s belongs to uid %u (caller uid %u)", id,
                                         (unsigned) l->rec.uid, (unsigned) uid);
        lease_release(a->lease.mgr, l,
                      uid == l->rec.uid ? "ReleaseLease by its holder" : "ReleaseLease by root");
        return sd_bus_reply_method_return(m, NULL);
}

int agent_method_list_leases(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct agent *a = userdata;
        struct lease_manager *mgr = a->lease.mgr;
        struct agent_viewer v;
        int r;

        (void) error;
        r = agent_viewer_get(a, m, &v);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssa{sv})");
        for (unsigned i = 0; r >= 0 && mgr && i < mgr->table.n_leases; i++) {
                const struct lease *l = mgr->table.leases[i];
                /* Root and the lease group see every lease, anyone else its own in full and
                 * the others' only as what they hold (docs/dbus-api.md, "Who sees what"). */
                bool full = v.privileged || l->rec.uid == v.id.uid;
                r = sd_bus_message_open_container(reply, 'r', "ssa{sv}");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ss", full ? l->rec.id : "",
                                                  full ? l->rec.label : "");
                if (r >= 0)
                        r = full ? lease_append_details(reply, l) : lease_append_sizes(reply, l);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int lease_append_sizes(sd_bus_message *reply, const struct lease *l) {
        const struct lease_record *r = &l->rec;

        return sd_bus_message_append(
                reply, "a{sv}", 7, "state", "s", lease_state_to_string(r->state), "hugepages", "t",
                r->hugepage_bytes, "hugepage-size", "t", r->hugepage_size, "hugepage-pages", "t",
                r->hugepage_size ? r->hugepage_bytes / r->hugepage_size : UINT64_C(0),
                "snapshot-count", "u", (uint32_t) (r->snapshot_path[0] ? 1 : 0), "taps-count", "u",
                (uint32_t) r->n_taps, "redacted", "b", 1);
}

int lease_append_details(sd_bus_message *reply, const struct lease *l) {
        const struct lease_record *r = &l->rec;
        int k;

        k = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (k >= 0)
                k = sd_bus_message_append(
                        reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "id", "s", r->id,
                        "label", "s", r->label, "state", "s", lease_state_to_string(r->state),
                        "uid", "u", (uint32_t) r->uid, "gid", "u", (uint32_t) r->gid, "pid", "u",
                        r->pid, "client", "s", r->client, "persist", "b", (int) r->persist,
                        "expires", "s", r->persist ? "release" : "client-exit", "created", "t",
                        r->created_realtime_usec);
        if (k >= 0)
                k = sd_bus_message_append(
                        reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "hugepages", "t", r->hugepage_bytes,
                        "hugepage-size", "t", r->hugepage_size, "hugepage-pages", "t",
                        r->hugepage_size ? r->hugepage_bytes / r->hugepage_size : UINT64_C(0),
                        "snapshot", "s", r->snapshot_path, "template", "s", r->template_name,
                        "snapshot-source", "s",
                        r->snapshot ? lease_snapshot_source_to_string(r->snapshot_source) : "",
                        "snapshot-subvolume", "b", (int) r->snapshot_subvolume);
        if (k >= 0)
                k = sd_bus_message_append(reply, "{sv}{sv}", "enforced", "b", (int) r->enforced,
                                          "cgroup", "s", r->enforced ? l->cgroup : "");
        if (k >= 0)
                k = sd_bus_message_open_container(reply, 'e', "sv");
        if (k >= 0)
                k = sd_bus_message_append(reply, "s", "taps");
        if (k >= 0)
                k = sd_bus_message_open_container(reply, 'v', "as");
        if (k >= 0)
                k = sd_bus_message_open_container(reply, 'a', "s");
        for (unsigned i = 0; k >= 0 && i < r->n_taps; i++)
                k = sd_bus_message_append(reply, "s", r->taps[i].name);
        for (int c = 0; k >= 0 && c < 4; c++) /* a, v, e, the outer a */
                k = sd_bus_message_close_container(reply);
        return k;
}
