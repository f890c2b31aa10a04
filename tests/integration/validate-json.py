#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Validate JSON documents (files, or stdin as "-") against hosttune's JSON Schema files
(docs/schema/*.json), chosen by each document's "schema" key. Uses Debian's python3-jsonschema.
Usage: validate-json.py SCHEMA_DIR FILE...   Exit 1 on the first invalid document."""
import json
import os
import sys

import jsonschema

schema_dir = sys.argv[1]
schemas = {}
for name in os.listdir(schema_dir):
    if name.endswith(".json"):
        with open(os.path.join(schema_dir, name)) as f:
            s = json.load(f)
        schemas[s["$id"]] = s
by_key = {s["properties"]["schema"]["const"]: s for s in schemas.values()}
resolver_store = dict(schemas)

for path in sys.argv[2:]:
    with (sys.stdin if path == "-" else open(path)) as f:
        doc = json.load(f)
    schema = by_key.get(doc.get("schema"))
    if schema is None:
        print("%s: unknown schema %r" % (path, doc.get("schema")))
        sys.exit(1)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    resolver = jsonschema.RefResolver.from_schema(schema, store=resolver_store)
    errors = sorted(cls(schema, resolver=resolver).iter_errors(doc), key=lambda e: list(e.path))
    for e in errors[:10]:
        print("%s: %s at /%s" % (path, e.message, "/".join(str(p) for p in e.absolute_path)))
    if errors:
        sys.exit(1)
    print("%s: valid %s" % (path, doc["schema"]))
