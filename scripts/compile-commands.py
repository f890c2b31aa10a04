#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# compile_commands.json (for clangd, clang-tidy, editors) from the commands make would run:
# `make -n -B V=1 TARGETS` prints every compile and link without running one, and each line that
# compiles a .c file becomes an entry with that file and the line's compiler flags (linker
# inputs dropped where a test compiles and links in one command). What meson or
# bear would give, without rebuilding anything and from the Makefile's own flags.
# Usage: scripts/compile-commands.py [MAKE ARGS...] >compile_commands.json
import json
import os
import shlex
import subprocess
import sys

make = os.environ.get("MAKE", "make")
args = sys.argv[1:] or ["all", "unit-bins"]
out = subprocess.run([make, "--no-print-directory", "-n", "-B", "V=1", *args],
                     check=True, capture_output=True, text=True).stdout
cwd = os.getcwd()
entries, seen = [], set()
for line in out.replace("\\\n", " ").splitlines():  # recipes continued with backslashes
    line = line.strip()
    try:
        words = shlex.split(line)
    except ValueError:
        continue  # a shell fragment of a recipe, not a compiler call
    if not words or os.path.basename(words[0]) not in ("cc", "gcc", "clang") \
            and words[0] != os.environ.get("CC", "cc"):
        continue
    # Stop at the first shell operator: `cc ... 2>x.ld; rc=$?` is one command.
    for i, w in enumerate(words):
        if w in (";", "&&", "||", "|") or w.startswith("2>"):
            words = words[:i]
            break
    files = [w for i, w in enumerate(words) if w.endswith(".c") and words[i - 1] != "-o"]
    # Tests and helpers compile and link in one command: keep only what compiles the one file.
    flags, skip = [], False
    for w in words[1:]:
        if skip:
            skip = False
        elif w == "-o":
            skip = True
        elif not (w.endswith((".c", ".o", ".a")) or w.startswith(("-l", "-L", "-Wl,", "-static"))
                  or w == "-c"):
            flags.append(w)
    for f in files:
        if f in seen:
            continue
        seen.add(f)
        entries.append({"directory": cwd, "file": f, "arguments": [words[0], *flags, "-c", f]})
json.dump(entries, sys.stdout, indent=1)
sys.stdout.write("\n")
print(f"compile-commands: {len(entries)} files", file=sys.stderr)
