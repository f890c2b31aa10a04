/* SPDX-License-Identifier: MIT */
/* The policy written back: INI that reads back as the same policy (`hosttune policy show`), and
 * JSON, both driven by the key table (keys.c). */
#include <inttypes.h>
#include <stdio.h>

#include <json-c/json.h>

#include "lib/json-util.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/policy-internal.h"

/* ---- INI ---------------------------------------------------------------------------------- */

/* "key = value"; a list too long for one line continues on indented lines (which the loader
 * joins back); any other value too long for the spaces goes without them. */
static void ini_line(FILE *f, const char *key, const char *value, bool list) {
        size_t kl = strlen(key), vl = strlen(value);
        const char *s = value;
        size_t width;

        if (vl == 0) {
                fprintf(f, "%s =\n", key);
                return;
        }
        if (kl + 3 + vl <= INI_LINE_MAX || !list) {
                fprintf(f, kl + 3 + vl <= INI_LINE_MAX ? "%s = %s\n" : "%s=%s\n", key, value);
                return;
        }
        fprintf(f, "%s =", key);
        width = kl + 2;
        while (*s) {
                size_t l = strcspn(s, ", ");
                size_t sep = strspn(s + l, ", ");

                if (width + 1 + l > INI_LINE_MAX) {
                        fprintf(f, "\n   ");
                        width = 3;
                }
                fprintf(f, " %.*s", (int) l, s);
                width += 1 + l;
                s += l + sep;
        }
        fputc('\n', f);
}

static void ini_section(FILE *f, const struct policy *p, const char *section) {
        /* Large enough for every value a policy can hold (16 templates of 63 characters, a list
         * with its separators, is the longest): the text read back must be the same policy. */
        char value[2048];

        fprintf(f, "\n[%s]\n", section);
        for (unsigned i = 0; i < policy_n_key_defs; i++) {
                const struct policy_key_def *d = &policy_key_defs[i];

                if (!streq(d->section, section) || d->key < 0 || d->key == POLICY_KEY_INCLUDE)
                        continue;
                if (d->type == KT_CUSTOM && (!d->format || !d->format(p, value, sizeof(value))))
                        continue;
                if (d->type != KT_CUSTOM)
                        policy_key_format(p, d, value, sizeof(value));
                ini_line(f, d->name, value, d->list);
        }
}

char *policy_to_ini(const struct policy *p) {
        char *buf = NULL, v[2048];
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fprintf(f, "# The effective policy '%s' as hosttune reads it, from:", p->name);
        for (unsigned i = 0; i < p->n_files; i++)
                fprintf(f, "%s %s", i ? "," : "", p->files[i]);
        fprintf(f, "\n# [kvm] require and [rng] require are folded into [readiness] require.\n");
        for (unsigned s = 0; s < policy_n_sections; s++) {
                const char *sec = policy_sections[s];

                if (streq(sec, "hugepages-SIZE")) {
                        for (unsigned i = 0; i < p->n_pools; i++) {
                                const struct policy_hugepool *h = &p->pools[i];
                                char sz[32];

                                if (h->main)
                                        continue;
                                fprintf(f, "\n[hugepages-%s]\n",
                                        format_size(h->page_size, sz, sizeof(sz)));
                                ini_line(f, "pool", policy_size_format(&h->pool, v, sizeof(v)),
                                         false);
                                ini_line(f, "max", policy_size_format(&h->max, v, sizeof(v)),
                                         false);
                                ini_line(f, "per-node", policy_per_node_format(h, v, sizeof(v)),
                                         true);
                        }
                } else if (streq(sec, "sysctl")) {
                        fprintf(f, "\n[sysctl]\n");
                        for (unsigned i = 0; i < p->n_sysctl; i++)
                                ini_line(f, p->sysctl[i].key, p->sysctl[i].value, false);
                } else if (!streq(sec, "rng"))
                        ini_section(f, p, sec);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static json_object *size_json(const struct policy_size *s) {
        json_object *o;

        if (!s->set)
                return NULL;
        o = json_object_new_object();
        if (s->percent)
                json_object_object_add(o, "percent",
                                       json_object_new_double(s->percent_millis / 1000.0));
        else
                json_object_object_add(o, "bytes", json_object_new_uint64(s->bytes));
        return o;
}

static json_object *string_list_json(const char *list) {
        json_object *a = json_object_new_array();

        for (const char *s = list; *s;) {
                size_t l;
                s += strspn(s, ", ");
                l = strcspn(s, ", ");
                if (l == 0)
                        break;
                json_object_array_add(a, json_object_new_string_len(s, (int) l));
                s += l;
        }
        return a;
}

static json_object *pool_json(const struct policy_hugepool *h) {
        json_object *o = json_object_new_object(), *nodes;
        char v[1024];

        json_object_object_add(o, "page_size", json_object_new_uint64(h->page_size));
        json_object_object_add(o, "main", json_object_new_boolean(h->main));
        json_object_object_add(o, "pool", size_json(&h->pool));
        json_object_object_add(o, "max", size_json(&h->max));
        if (h->per_node != PER_NODE_EXPLICIT)
                json_object_object_add(
                        o, "per_node",
                        json_object_new_string(policy_per_node_format(h, v, sizeof(v))));
        else {
                nodes = json_object_new_object();
                for (unsigned i = 0; i < NUMA_NODES_MAX; i++)
                        if (h->node_pool[i].set) {
                                char k[16];
                                xsprintf(k, "%u", i);
                                json_object_object_add(
                                        nodes, k, json_object_new_uint64(h->node_pool[i].bytes));
                        }
                json_object_object_add(o, "per_node", nodes);
        }
        return o;
}

/* The value of a plain key as JSON: strings, booleans, numbers; "keep" as null. */
static json_object *key_json(const struct policy *p, const struct policy_key_def *d) {
        const char *field = (const char *) p + d->offset;
        char v[1024];

        switch (d->type) {
        case KT_STRING:
                return json_object_new_string(field);
        case KT_BOOL:
                return json_object_new_boolean(*(const bool *) field);
        case KT_UINT:
                return json_object_new_uint64(*(const unsigned *) field);
        case KT_INT:
                return d->keep && *(const int *) field < 0
                               ? NULL
                               : json_object_new_int(*(const int *) field);
        case KT_MODE:
                xsprintf(v, "0%03o", (unsigned) *(const mode_t *) field);
                return json_object_new_string(v);
        case KT_DURATION:
                return json_object_new_uint64(*(const uint64_t *) field);
        case KT_CHOICE:
                return d->keep && !*field ? NULL : json_object_new_string(field);
        case KT_CUSTOM:
                break;
        }
        switch (d->key) {
        case POLICY_KEY_REQUIRE: {
                json_object *a = json_object_new_array();
                for (unsigned i = 0; i < p->require.n; i++)
                        json_object_array_add(a, json_object_new_string(requirement_to_string(
                                                         &p->require.items[i], v, sizeof(v))));
                return a;
        }
        case POLICY_KEY_HUGEPAGES_SIZE:
                return json_object_new_uint64(p->hugepages_size);
        case POLICY_KEY_HUGEPAGES_RECLAIM:
                d->format(p, v, sizeof(v));
                return json_object_new_string(v);
        case POLICY_KEY_MEMORY_KSM:
                return p->ksm < 0 ? NULL : json_object_new_boolean(p->ksm);
        case POLICY_KEY_KVM_MODE:
                if (p->kvm_mode < 0)
                        return NULL;
                xsprintf(v, "0%03o", (unsigned) p->kvm_mode);
                return json_object_new_string(v);
        case POLICY_KEY_ZRAM_SIZE:
                return size_json(&p->zram_size);
        case POLICY_KEY_BTRFS_REQUIRE_OPTIONS:
                return string_list_json(p->require_options);
        case POLICY_KEY_SNAPSHOTS_TEMPLATES: {
                json_object *a = json_object_new_array();
                for (unsigned i = 0; i < p->n_templates; i++)
                        json_object_array_add(a, json_object_new_string(p->templates[i]));
                return a;
        }
        default:
                break;
        }
        return NULL;
}

/* JSON names: the INI key with '-' as '_', durations suffixed with _usec. */
static void json_key_name(const struct policy_key_def *d, char *buf, size_t size) {
        size_t i;

        for (i = 0; d->name[i] && i + 1 < size; i++)
                buf[i] = d->name[i] == '-' ? '_' : d->name[i];
        buf[i] = 0;
        if (d->type == KT_DURATION)
                strncat(buf, "_usec", size - strlen(buf) - 1);
}

char *policy_to_json(const struct policy *p) {
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object();
        json_object *files, *origins;

        if (!doc)
                return NULL;
        files = json_object_new_array();
        if (!files)
                return NULL;
        json_object_object_add(doc, "schema", json_object_new_string("hosttune.policy/1"));
        json_object_object_add(doc, "name", json_object_new_string(p->name));
        json_object_object_add(doc, "description", json_object_new_string(p->description));
        for (unsigned i = 0; i < p->n_files; i++)
                json_object_array_add(files, json_object_new_string(p->files[i]));
        json_object_object_add(doc, "files", files);
        for (unsigned s = 0; s < policy_n_sections; s++) {
                const char *sec = policy_sections[s];
                json_object *o;

                if (streq(sec, "policy") || streq(sec, "hugepages-SIZE") || streq(sec, "rng"))
                        continue;
                o = json_object_new_object();
                if (streq(sec, "sysctl")) {
                        for (unsigned i = 0; i < p->n_sysctl; i++)
                                json_object_object_add(o, p->sysctl[i].key,
                                                       json_object_new_string(p->sysctl[i].value));
                        json_object_object_add(doc, sec, o);
                        continue;
                }
                for (unsigned i = 0; i < policy_n_key_defs; i++) {
                        const struct policy_key_def *d = &policy_key_defs[i];
                        char k[64];

                        if (!streq(d->section, sec) || d->key < 0 || d->key == POLICY_KEY_INCLUDE ||
                            d->key == POLICY_KEY_KVM_REQUIRE ||
                            d->key == POLICY_KEY_HUGEPAGES_POOL ||
                            d->key == POLICY_KEY_HUGEPAGES_MAX ||
                            d->key == POLICY_KEY_HUGEPAGES_PER_NODE)
                                continue;
                        json_key_name(d, k, sizeof(k));
                        json_object_object_add(o, k, key_json(p, d));
                }
                if (streq(sec, "hugepages")) {
                        json_object *pools = json_object_new_array();
                        for (unsigned i = 0; i < p->n_pools; i++)
                                json_object_array_add(pools, pool_json(&p->pools[i]));
                        json_object_object_add(o, "pools", pools);
                }
                if (streq(sec, "snapshots"))
                        json_object_object_add(o, "managed",
                                               json_object_new_boolean(p->snapshots_managed));
                json_object_object_add(doc, sec, o);
        }
        /* Where each value came from, for the keys a file set. */
        origins = json_object_new_object();
        for (unsigned k = 0; k < _POLICY_KEY_MAX; k++)
                if (p->origins[k].line) {
                        char where[POLICY_PATH_MAX + 16];
                        json_object_object_add(origins, policy_key_to_string(k),
                                               json_object_new_string(policy_origin_format(
                                                       p, p->origins[k], where, sizeof(where))));
                }
        json_object_object_add(doc, "origins", origins);
        return strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
}
