# SPDX-License-Identifier: MIT
# Helpers for the lease tests (sourced after lib.sh and agent-lib.sh): a btrfs on a loop file,
# the lease verbs against the private bus, and readings that do not come from hosttune.

HELPERS=$HOSTTUNE_BUILD/tests/helpers
# The policies here name the group "users" as [agent] lease-group; bctl_nobody (nobody, nogroup,
# no supplementary groups) is not in it.
LEASE_GROUP=users
LEASE_GROUP_GID=$(getent group "$LEASE_GROUP" | cut -d: -f3)
[ -n "$LEASE_GROUP_GID" ] || skip "no group $LEASE_GROUP to make the lease group"

# lease_file [FILE]: the live records of the lease file (default $AGENT_RUN/leases.json) as
# {"leases": [...]} on stdout, replayed here without hosttune's parser (docs/leases.md, "The
# lease file"): a log of JSON lines, or the whole-document form of agents before it. A last line
# without its newline (an append under way, or cut short) is left out, as the agent leaves it.
lease_file() {
	python3 - "${1:-$AGENT_RUN/leases.json}" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
lines.pop()  # what follows the last newline: "" or a torn append
if lines and json.loads(lines[0]) == {"schema": "hosttune.leases/2"}:
    live = {}
    for line in lines[1:]:
        entry = json.loads(line)
        assert len(entry) == 1, line
        if "set" in entry:
            live[entry["set"]["id"]] = entry["set"]
        else:
            live.pop(entry["remove"], None)
    leases = list(live.values())
else:
    doc = json.loads(open(sys.argv[1]).read())
    assert doc["schema"] == "hosttune.leases/1", doc["schema"]
    leases = doc["leases"]
print(json.dumps({"leases": leases}))
PY
}

# lease_file_valid [FILE]: every whole line of the lease file valid against
# docs/schema/hosttune.leases-2.json (python3-jsonschema), the first one the schema line. Returns
# 2 when the validator is not installed.
lease_file_valid() {
	/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || return 2
	/usr/bin/python3 - "$HOSTTUNE_SRC/docs/schema/hosttune.leases-2.json" \
		"${1:-$AGENT_RUN/leases.json}" <<'PY'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.validators.validator_for(schema)(schema)
lines = open(sys.argv[2]).read().split("\n")[:-1]
assert json.loads(lines[0]) == {"schema": "hosttune.leases/2"}, lines[0]
for n, line in enumerate(lines, 1):
    errors = list(validator.iter_errors(json.loads(line)))
    for e in errors[:3]:
        print("line %d: %s at /%s" % (n, e.message, "/".join(str(p) for p in e.absolute_path)))
    if errors:
        sys.exit(1)
PY
}

# need_pool_2m: skips unless the default hugepage size is 2 MiB and its pool can be set; hp is
# that pool's nr_hugepages file.
need_pool_2m() {
	hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	[ -w $hp ] || skip "no 2 MiB hugepage pool on this kernel"
	[ "$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)" = 2048 ] ||
		skip "the default hugepage size is not 2 MiB (HugePages_* in /proc/meminfo count other pages)"
}

# make_btrfs SIZE: a fresh btrfs on a loop file, mounted at $BTRFS (unmounted at the end).
make_btrfs() {
	need_cmd mkfs.btrfs btrfs mount umount losetup
	grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || true
	grep -qw btrfs /proc/filesystems || skip "kernel without btrfs"
	BTRFS=$T_TMP/btrfs
	truncate -s "$1" "$T_TMP/btrfs.img"
	mkfs.btrfs -q "$T_TMP/btrfs.img" >/dev/null
	mkdir -p "$BTRFS"
	mount -o loop "$T_TMP/btrfs.img" "$BTRFS"
	defer "umount $BTRFS"
}

# Subvolume paths under $BTRFS as `btrfs subvolume list` has them, sorted, one line.
subvols() { btrfs subvolume list "$BTRFS" | awk '{print $NF}' | sort | xargs; }

# The lease verbs on the private bus (BUS_ADDR from start_bus).
ht_lease() {
	local verb=$1
	shift
	"$HOSTTUNE" lease "$verb" --bus "$BUS_ADDR" "$@"
}
ht_run() { "$HOSTTUNE" run --bus "$BUS_ADDR" "$@"; }

# Leases as ListLeases has them (busctl's JSON of the reply), as "id label" lines.
list_ids() {
	bctl --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 \
		ListLeases | python3 -c '
import json, sys
for l in json.load(sys.stdin)["data"][0]:
    print(l[0], l[1])'
}
lease_count() { list_ids | wc -l; }
# lease_field ID KEY: a field of a lease from ListLeases ("" when no such lease).
lease_field() {
	bctl --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 \
		ListLeases | python3 -c '
import json, sys
for l in json.load(sys.stdin)["data"][0]:
    if l[0] == sys.argv[1]:
        v = l[2][sys.argv[2]]["data"]
        print(" ".join(v) if isinstance(v, list) else v)' "$1" "$2"
}

# acquire_json ARGS...: `hosttune lease acquire --json` (with --persist, so it returns), the
# grant's id on stdout.
acquire_id() { ht_lease acquire --persist --json "$@" | jq_py 'd["id"]'; }

# As a member of the lease group (supplementary), uid daemon. An array, not a function: a
# function run with & is a subshell, and $! would be that shell's pid, not the command's.
AS_MEMBER=(setpriv --reuid=daemon --regid=daemon --groups="$LEASE_GROUP_GID")
as_member() { "${AS_MEMBER[@]}" "$@"; }
# Another member of it.
as_other_member() { setpriv --reuid=nobody --regid=nogroup --groups="$LEASE_GROUP_GID" "$@"; }

# gdbus shows D-Bus error names (busctl shows only the message): gacq DICT calls AcquireLease
# with a GVariant text dictionary, "{'snapshot': <'base'>}".
gcall() {
	gdbus call --address "$BUS_ADDR" --dest org.hosttune.Agent1 \
		--object-path /org/hosttune/Agent1 --method "org.hosttune.Agent1.$1" "${@:2}"
}
gacq() { gcall AcquireLease "$@"; }

# The cgroup2 mount point, read from mountinfo (pure v2 or hybrid), "" when none.
cgroup2_mount() { awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo; }
# cgroup_kill_remove DIR...: kill what is left in each cgroup (only a test's own holders are in
# the cgroups a test made or had the agent make), wait for it to empty, remove it.
cgroup_kill_remove() {
	local d i
	for d in "$@"; do
		[ -d "$d" ] || continue
		echo 1 >"$d/cgroup.kill"
		for i in $(seq 50); do grep -q "populated 0" "$d/cgroup.events" && break; sleep 0.1; done
		rmdir "$d"
	done
}

# need_root_cgroup_hugetlb: skips unless cgroup v2 with the hugetlb controller is mounted and the
# test runs in its root cgroup (the agent started from here then puts leases under
# <cgroup2>/hosttune.leases); CG is the cgroup2 mount, read independently of the agent.
need_root_cgroup_hugetlb() {
	CG=$(cgroup2_mount)
	[ -n "$CG" ] || skip "no cgroup v2 hierarchy mounted"
	grep -qw hugetlb "$CG/cgroup.controllers" || skip "cgroup v2 has no hugetlb controller here"
	[ "$(sed -n 's/^0:://p' /proc/self/cgroup)" = / ] ||
		skip "not in the root cgroup of $CG (the delegated case is the systemd container's)"
}

# lease_cgroup_dir RUNDIR: the name of the directory under the cgroup2 root that an agent in
# the root cgroup with runtime directory RUNDIR makes its lease cgroups in, by the rule of
# docs/leases.md ("Where the cgroups are"), computed here and not asked of hosttune:
# hosttune.leases for /run/hosttune, else hosttune.leases.<8 hex digits>, the 64-bit FNV-1a of
# the path (trailing slashes left out) folded to 32 bits.
lease_cgroup_dir() {
	python3 - "$1" <<'EOF'
import sys
p = sys.argv[1].rstrip("/") or "/"
if p == "/run/hosttune":
    print("hosttune.leases")
else:
    h = 14695981039346656037
    for b in p.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    print("hosttune.leases.%08x" % ((h ^ (h >> 32)) & 0xffffffff))
EOF
}

# guard_lease_cgroups (after kernel_lock and need_pool_2m): BASE is where the agent (runtime
# directory AGENT_RUN) makes the lease cgroups, which must not exist yet. At the end the 2 MiB
# pool, and the hierarchy, are put back as they were: no lease cgroups (what is left in them
# killed), hugetlb off again at the root if it was.
guard_lease_cgroups() {
	BASE=$CG/$(lease_cgroup_dir "$AGENT_RUN")
	[ -e "$BASE" ] && fail "$BASE exists before the test"
	defer "echo $(cat $hp) > $hp"
	grep -qw hugetlb "$CG/cgroup.subtree_control" && had_hugetlb=1 || had_hugetlb=0
	defer restore_lease_cgroups
}
restore_lease_cgroups() {
	cgroup_kill_remove "$BASE"/*/ "$BASE"
	[ $had_hugetlb = 1 ] || echo -hugetlb >"$CG/cgroup.subtree_control"
}

# prom_metric SAMPLE: a sample's value in the agent's metrics file, read with the Prometheus
# client's parser (prom.py; labels sorted by name), "" when absent.
prom_metric() {
	/usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/prom.py" "$AGENT_RUN/metrics.prom" |
		awk -v k="$1" '$1 == k {print $2}'
}
