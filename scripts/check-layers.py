#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The layering of the C tree (docs/internals.md): lib < probes < policies < policies/apply <
# runtime < assess < agent, cli < cli/bus. A file may include headers of its own directory and of lower
# ones only; no two files include each other's headers round a circle. With --objects DIR (the
# build's object tree, build/obj), the same for calls: a file that calls a function of another is
# above it, and the files of lib/, probes/, policies/ and runtime/ form no circle of calls
# (agent/ is left out: its files call each other through the work queue's callbacks).
#
#   scripts/check-layers.py [--objects build/obj]      exit 1 and a line per finding
import argparse
import collections
import os
import re
import subprocess
import sys

RANK = {"lib": 0, "probes": 1, "policies": 2, "policies/apply": 3, "runtime": 4, "assess": 5,
        "agent": 6, "cli": 6, "cli/bus": 7, "generated": 1}
CYCLE_FREE = ("lib", "probes", "policies", "policies/apply", "runtime", "assess")


def sccs(graph):
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]
    for root in list(graph):
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = n[0]
        n[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n[0]
                    n[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(graph.get(w, ()))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def includes(root):
    graph = collections.defaultdict(set)
    for top in ("lib", "probes", "policies", "runtime", "assess", "agent", "cli"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, f), root)
                with open(os.path.join(root, path), encoding="utf-8") as fh:
                    for line in fh:
                        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                        if m:
                            target = m.group(1)
                            if "/" not in target:
                                target = os.path.join(os.path.dirname(path), target)
                            graph[path].add(os.path.normpath(target))
    return graph


def calls(objects):
    defined, used = {}, collections.defaultdict(set)
    for dirpath, _, files in os.walk(objects):
        for f in files:
            if not f.endswith(".o"):
                continue
            obj = os.path.join(dirpath, f)
            src = os.path.relpath(obj, objects)[:-2] + ".c"
            nm = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
            for line in nm.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in "TDBR":
                    defined[parts[2]] = src
                elif len(parts) == 2 and parts[0] == "U":
                    used[src].add(parts[1])
    graph = collections.defaultdict(set)
    for src, symbols in used.items():
        for s in symbols:
            if s in defined and defined[s] != src:
                graph[src].add(defined[s])
    return graph


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--objects", help="the build's object tree (build/obj): check calls too")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    findings = []
    for what, graph in [("includes", includes(args.root))] + (
            [("calls", calls(args.objects))] if args.objects else []):
        for a, targets in sorted(graph.items()):
            da = os.path.dirname(a)
            for b in sorted(targets):
                db = os.path.dirname(b)
                if da == db or da not in RANK or db not in RANK:
                    continue
                if RANK[db] >= RANK[da]:
                    findings.append(f"{what}: {a} -> {b}: {db}/ is not below {da}/")
        for comp in sccs(graph):
            if what == "includes" or all(os.path.dirname(f) in CYCLE_FREE for f in comp):
                findings.append(f"{what}: a circle: {' '.join(comp)}")
    for f in findings:
        print(f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
