#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark (not a test: no thresholds): a guest's time to init with and without hugepage-backed
# memory, side by side. The guest is tests/integration/vm.sh's: Debian's cloud kernel, a busybox
# initramfs whose init prints a marker and powers off; KVM where a KVM guest reaches init here
# (vm_accel), else TCG. Guest memory, per method:
#   ram                 -m MEM (QEMU's anonymous memory, 4K pages or THP)
#   hugepages           memory-backend-memfd,hugetlb=on (the 2M pool; cloud-hypervisor's
#                       hugepages=on, a hugepage lease's use), pages taken as the guest touches them
#   hugepages-prealloc  the same with prealloc=on (every page taken before the guest starts)
# The methods alternate run by run (ram, hugepages, hugepages-prealloc, ram, ...) so drifting load
# on a shared machine falls on all alike. Per run: the host's time from starting QEMU to the
# marker on the serial console, the whole run to QEMU's exit, and the guest's own uptime when init
# started. Writes docs/bench/vm-boot.md (tables, ratios against ram) and docs/bench/vm-boot.png.
# Usage: bench/vm-boot.sh [BUILD_DIR]   (as root; RUNS= runs per method, default 10; MEM= MiB, 256)
set -euo pipefail
. "$(dirname "$0")/lib/vm-env.sh"
need_cmd qemu-system-x86_64
# Debian's python3 by its path: matplotlib is Debian's python3-matplotlib (a python3 earlier in
# PATH, pyenv's say, would not have it).
py=/usr/bin/python3
$py -c 'import matplotlib' 2>/dev/null || { echo "needs python3-matplotlib (scripts/deps.sh bench)" >&2; exit 1; }
runs=${RUNS:-10}
mem=${MEM:-256}
out_md=$src/docs/bench/vm-boot.md
out_png=$src/docs/bench/vm-boot.png
vm_kernel

# The pool is global state the tests change too: hold their lock while it is ours.
exec 9>/run/lock/hosttune-tests.lock
flock 9
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
b_nr=$(cat $hp)
trap 'echo "$b_nr" >$hp; rm -rf "$T_TMP"' EXIT
pages=$((mem / 2))
echo $((b_nr + pages)) >$hp
[ "$(cat $hp)" = $((b_nr + pages)) ] || { echo "the pool did not grow by $pages pages" >&2; exit 1; }

vm_accel
accel=$VM_BEST_ACCEL
printf 'true\n' >"$T_TMP/case.sh"
vm_initrd "$T_TMP/case.sh"

# argv METHOD: the QEMU command line of that method, one argument a line, the console on stdout.
argv() {
	local backend=""
	case $1 in
	ram) VM_QEMU_ARGS=() ;;
	hugepages) backend=memory-backend-memfd,id=m,hugetlb=on,hugetlbsize=2M,size=${mem}M ;;
	hugepages-prealloc) backend=memory-backend-memfd,id=m,hugetlb=on,hugetlbsize=2M,size=${mem}M,prealloc=on ;;
	esac
	if [ -n "$backend" ]; then
		VM_QEMU_ARGS=(-object "$backend")
		VM_ACCEL=$accel VM_MACHINE=memory-backend=m vm_argv "$mem"
	else
		VM_ACCEL=$accel vm_argv "$mem"
	fi
	printf '%s\n' "${VM_ARGV[@]}" | sed "s|^file:$T_TMP/vm.console\$|stdio|"
}
methods="ram hugepages hugepages-prealloc"
for m in $methods; do argv "$m" >"$T_TMP/argv.$m"; done

# One run: QEMU started, its serial console read as it comes; times in ms.
cat >"$T_TMP/run.py" <<'EOF'
import re, subprocess, sys, time
argv = open(sys.argv[1]).read().splitlines()
t0 = time.monotonic()
p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
buf, t_init = b"", None
while True:
    chunk = p.stdout.read1(4096)
    if not chunk:
        break
    buf += chunk
    if t_init is None and b"vm-begin" in buf:
        t_init = time.monotonic()
rc = p.wait()
t_exit = time.monotonic()
m = re.search(rb"vm-uptime ([0-9.]+)", buf)
if rc != 0 or t_init is None or m is None or b"vm-exit 0" not in buf:
    sys.exit("the guest did not boot to init and power off (exit %d): %r" % (rc, buf[-400:]))
print("%.1f %.1f %.0f" % ((t_init - t0) * 1000, (t_exit - t0) * 1000, float(m.group(1)) * 1000))
EOF
: >"$T_TMP/samples"
for r in $(seq "$runs"); do
	for m in $methods; do
		echo "$m $($py "$T_TMP/run.py" "$T_TMP/argv.$m")" >>"$T_TMP/samples"
	done
done

$py - "$T_TMP/samples" "$out_md" "$out_png" "$accel" "$mem" "$runs" "$(nproc)" "$(uname -r)" \
	"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(basename "$(dirname "$VM_KERNEL")")" \
	"$(qemu-system-x86_64 --version | head -n1)" <<'EOF'
import statistics, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

samples, md, png, accel, mem, runs, cpus, host_kernel, cpu, guest_kernel, qemu = sys.argv[1:]
methods = ["ram", "hugepages", "hugepages-prealloc"]
data = {m: {"init": [], "exit": [], "uptime": []} for m in methods}
for line in open(samples):
    m, t_init, t_exit, uptime = line.split()
    data[m]["init"].append(float(t_init))
    data[m]["exit"].append(float(t_exit))
    data[m]["uptime"].append(float(uptime))
med = {m: {k: statistics.median(v) for k, v in d.items()} for m, d in data.items()}
what = [("init", "QEMU start to init (host clock)"), ("uptime", "guest uptime at init (guest clock)"),
        ("exit", "QEMU start to exit (whole run)")]
with open(md, "w") as f:
    f.write("# Benchmark: a guest's time to init with and without hugepage-backed memory\n\n")
    f.write("Written by `bench/vm-boot.sh` (a benchmark: it asserts nothing). The guest is the VM tests'\n"
            "(tests/integration/vm.sh): Debian's cloud kernel %s, a busybox initramfs whose init prints\n"
            "a marker and powers off, %s MiB, one vCPU, `-cpu max`, accelerator **%s** (KVM only where a\n"
            "KVM guest reaches init on this host: `vm_accel`). Guest memory per method:\n\n" % (guest_kernel, mem, accel))
    f.write("| method | QEMU options |\n|---|---|\n"
            "| ram | `-m %sM` (anonymous memory) |\n"
            "| hugepages | `-object memory-backend-memfd,id=m,hugetlb=on,hugetlbsize=2M,size=%sM -machine memory-backend=m` |\n"
            "| hugepages-prealloc | the same with `prealloc=on` |\n\n" % (mem, mem))
    f.write("%s runs per method, the methods alternating run by run; medians in ms, the ratio against\n"
            "ram's median, and the range (min-max) over the runs:\n\n" % runs)
    f.write("| method | " + " | ".join("%s, median (ratio) [range]" % w for _, w in what) + " |\n")
    f.write("|---|" + "---:|" * len(what) + "\n")
    for m in methods:
        cells = []
        for k, _ in what:
            cells.append("%.0f (%.2fx) [%.0f-%.0f]" % (med[m][k], med[m][k] / med["ram"][k],
                                                     min(data[m][k]), max(data[m][k])))
        f.write("| %s | %s |\n" % (m, " | ".join(cells)))
    spread = max((max(data[m]["init"]) - min(data[m]["init"])) / med[m]["init"] for m in methods)
    gap = max(abs(med[m]["init"] / med["ram"]["init"] - 1) for m in methods)
    f.write("\nReading: the medians of QEMU start to init differ from ram's by at most %.0f%%, while one\n"
            "method's runs spread over up to %.0f%% of its median:\n%s\n"
            % (gap * 100, spread * 100,
               "on this shared machine the difference is within the run-to-run spread; resolving it\n"
               "would take more runs (RUNS=) on a quiet machine. What a hugepage lease surely gives a\n"
               "guest is the accounting: no SIGBUS at run time." if gap * 2 < spread else
               "the difference is more than half the spread."))
    f.write("\n![time to init per run](vm-boot.png)\n\n")
    f.write("Host: %s CPUs (%s), Linux %s,\n%s. The machine is shared with other sessions' builds\n"
            "and tests; the alternation spreads their load over the methods alike.\n" % (cpus, cpu, host_kernel, qemu))

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, (k, title) in zip(axes, what[:2]):
    for i, m in enumerate(methods):
        ys = data[m][k]
        ax.scatter([i + (j - (len(ys) - 1) / 2) * 0.04 for j in range(len(ys))], ys, s=14, alpha=0.6)
        ax.hlines(med[m][k], i - 0.3, i + 0.3, colors="black")
        ax.annotate("%.0f ms\n%.2fx" % (med[m][k], med[m][k] / med["ram"][k]), (i + 0.32, med[m][k]),
                    fontsize=8, va="center")
    ax.set_xticks(range(len(methods)), methods)
    ax.set_xlim(-0.6, len(methods) - 0.2)
    ax.set_ylabel("ms")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(bottom=0)
fig.suptitle("Guest time to init, %s MiB, %s, %s runs each (line: median)" % (mem, accel.upper(), runs), fontsize=11)
fig.tight_layout()
fig.savefig(png, dpi=100)
EOF
cat "$out_md"
