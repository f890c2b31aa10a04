#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Read a Prometheus text-format file with the Prometheus client's own parser (not hosttune's
code) and print one line per sample, `NAME{k="v",...} VALUE`, labels sorted by name. Exit 1 when
the parser rejects the file or the file breaks the naming conventions hosttune follows: every
family has a TYPE, counters end in _total, summaries come as _sum and _count, durations are in
seconds and sizes in bytes (no _milliseconds, _kb, ...)."""
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
problems = []
lines = []
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:  # the parser raises ValueError and others on malformed input
    print(f"{sys.argv[1]}: not Prometheus text format: {e}", file=sys.stderr)
    sys.exit(1)
for f in families:
    if f.type in ("unknown", "untyped"):
        problems.append(f"{f.name}: no TYPE")
    if re.search(r"_(milli|micro|nano)?seconds_(milli|micro)|_(ms|usec|msec|kb|kib|mb|mib)(_|$)",
                 f.name):
        problems.append(f"{f.name}: not in base units")
    for s in f.samples:
        if f.type == "counter" and not s.name.endswith(("_total", "_created")):
            problems.append(f"{s.name}: a counter sample without _total")
        if f.type == "summary" and not s.name.endswith(("_sum", "_count", "_created")) and \
                "quantile" not in s.labels:
            problems.append(f"{s.name}: a summary sample other than _sum/_count")
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        value = int(s.value) if float(s.value).is_integer() else s.value
        lines.append(f"{s.name}{{{labels}}} {value}" if labels else f"{s.name} {value}")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print("\n".join(lines))
