#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Read hosttune's fleet outputs back the way their consumers do, independently of the C writer.

  fleet-formats.py nfd FILE        node-feature-discovery's local source (features.d)
  fleet-formats.py machines FILE   a Nix machines file (nix.conf builders = @FILE)

Prints what the consumer would see as JSON, or exits 1 naming the rule broken.

NFD rules, from kubernetes-sigs/node-feature-discovery source/local/local.go (getFileContent,
parseFeatureFile, parseDirectives) and pkg/apis/nfd/validate/validate.go (Label): files whose
name starts with "." are skipped; a file above 65536 bytes is ignored; lines are split on "\\n"
and trimmed; "#" lines are comments, "# +" lines directives (expiry-time=RFC3339, no-label,
no-feature; others are errors); a feature line is "name" (value "true") or "name=value"; lines
after an expiry-time in the past are dropped; a label key must be a Kubernetes qualified name
with a prefix, not in kubernetes.io unless in NFD's own namespaces, and its value a label value.

Nix rules, from NixOS/nix src/libstore/machines.cc (expandBuilderLines, parseBuilderLine):
machines are separated by newlines or ";", "#" starts a comment, fields are whitespace
separated; URI, systems (comma list), SSH key, max-jobs and speed factor (unsigned), supported
and mandatory features (comma lists), base64 public host key; "-" or a missing field is empty.
hosttune always writes all eight fields, so fewer or more is an error here.
"""
import base64
import binascii
import datetime
import json
import os
import re
import sys

NFD_MAX = 65536
NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def die(msg):
    print(f"fleet-formats: {msg}", file=sys.stderr)
    sys.exit(1)


def qualified_name_errors(key):
    """k8s.io/apimachinery validation.IsQualifiedName, plus NFD's namespace rules."""
    if "/" not in key:
        return "unprefixed (NFD's DisableAutoPrefix refuses it)"
    prefix, name = key.split("/", 1)
    if len(prefix) > 253 or not all(DNS_LABEL_RE.match(p) and len(p) <= 63 for p in prefix.split(".")):
        return f"prefix {prefix!r} is not a DNS-1123 subdomain"
    if len(name) > 63 or not NAME_RE.match(name):
        return f"name {name!r} is not a qualified name part"
    if prefix == "kubernetes.io" or prefix.endswith(".kubernetes.io"):
        own = ("feature.node.kubernetes.io", "profile.node.kubernetes.io")
        if not any(prefix == o or prefix.endswith("." + o) for o in own):
            return f"namespace {prefix!r} is denied by nfd-master"
    return None


def label_value_errors(value):
    if value == "":
        return None
    if len(value) > 63 or not NAME_RE.match(value):
        return f"value {value!r} is not a label value"
    return None


def parse_rfc3339(text):
    # Go's time.RFC3339 ("2006-01-02T15:04:05Z07:00"); Python 3.11 reads "Z" as well.
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", text):
        raise ValueError(text)
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def nfd(path):
    if os.path.basename(path).startswith("."):
        die(f"{path}: NFD skips hidden files")
    st = os.stat(path)
    if st.st_size > NFD_MAX:
        die(f"{path}: {st.st_size} bytes > {NFD_MAX}: NFD ignores the file")
    with open(path, "rb") as f:
        data = f.read()
    if not data.endswith(b"\n"):
        die(f"{path}: does not end with a newline (a partial write?)")
    now = datetime.datetime.now(datetime.timezone.utc)
    expiry = now  # NFD's parsingOpts starts with ExpiryTime = now
    expiries = []
    skip_label = skip_feature = False
    features, labels, dropped = {}, {}, []
    for raw in data.split(b"\n"):
        line = raw.decode("utf-8").strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# +"):
                key, _, value = line[3:].partition("=")
                if key == "expiry-time":
                    if not _:
                        die(f"{path}: expiry-time directive without a value")
                    try:
                        expiry = parse_rfc3339(value.strip())
                    except ValueError:
                        die(f"{path}: expiry-time {value!r} is not RFC 3339")
                    expiries.append(expiry)
                elif key == "no-label":
                    skip_label = True
                elif key == "no-feature":
                    skip_feature = True
                else:
                    die(f"{path}: unknown directive {key!r}")
            continue
        if expiry < now:
            dropped.append(line)
            continue
        key, eq, value = line.partition("=")
        if not eq:
            value = "true"
        err = qualified_name_errors(key) or label_value_errors(value)
        if err:
            die(f"{path}: {line!r}: {err}")
        if key in features or key in labels:
            die(f"{path}: {key} appears twice")
        if not skip_feature:
            features[key] = value
        if not skip_label:
            labels[key] = value
        skip_label = skip_feature = False
    print(json.dumps({
        "size": len(data),
        "expiry": [e.timestamp() for e in expiries],
        "now": now.timestamp(),
        "features": features,
        "labels": labels,
        "expired_lines": dropped,
    }, indent=1))


def expand_lines(text):
    out = []
    for line in re.split(r"[\n;]", text):
        line = line.strip().split("#", 1)[0]
        if line:
            out.append(line)
    return out


def machines(path):
    with open(path) as f:
        text = f.read()
    result = []
    for line in expand_lines(text):
        t = line.split()
        if len(t) != 8:
            die(f"{line!r}: {len(t)} fields, hosttune writes 8")

        def is_set(i):
            return t[i] not in ("", "-")

        if not is_set(0):
            die(f"{line!r}: no store URI in the first field")

        def unsigned(i):
            if not re.fullmatch(r"[0-9]+", t[i]) or int(t[i]) >= 2**32:
                die(f"{line!r}: field {i} {t[i]!r} is not an unsigned int")
            return int(t[i])

        def comma_list(i):
            if not is_set(i):
                return []
            items = [x for x in t[i].split(",") if x]
            if len(items) != len(t[i].split(",")):
                die(f"{line!r}: field {i} has an empty item")
            return items

        key = None
        if is_set(7):
            try:
                key = base64.b64decode(t[7], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as e:
                die(f"{line!r}: host key is not base64: {e}")
        result.append({
            "uri": t[0],
            "systems": comma_list(1),
            "ssh_key": t[2] if is_set(2) else None,
            "max_jobs": unsigned(3) if is_set(3) else 1,
            "speed_factor": max(1, unsigned(4)) if is_set(4) else 1,
            "supported_features": comma_list(5),
            "mandatory_features": comma_list(6),
            "host_key": key,
        })
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("nfd", "machines"):
        die("usage: fleet-formats.py nfd|machines FILE")
    {"nfd": nfd, "machines": machines}[sys.argv[1]](sys.argv[2])
