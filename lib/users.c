/* SPDX-License-Identifier: MIT */
/* User and group name checks and lookups without NSS (see users.h for why). */
#include "users.h"

#include <ctype.h>
#include <string.h>

#include "fileio.h"
#include "parse.h"
#include "util.h"

/* passwd and group files on real hosts are small; a cap keeps a broken one from costing. */
#define USER_DB_MAX (4U * 1024U * 1024U)

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return false;
        return true;
}

bool user_group_name_valid(const char *name) {
        uint64_t id;

        if (isempty(name))
                return false;
        if (all_digits(name))
                return parse_u64(name, &id) == 0 && id < UINT32_MAX;
        if (strlen(name) > 31 || !(isalpha((unsigned char) name[0]) || name[0] == '_'))
                return false;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_.-", *p))
                        return false;
        return true;
}

int user_db_find(const char *text, const char *name, uint32_t *ret_id) {
        size_t nl = strlen(name);

        for (const char *line = text; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);

                /* name:password:id:... */
                if (len > nl && strncmp(line, name, nl) == 0 && line[nl] == ':') {
                        const char *pw_end = memchr(line + nl + 1, ':', len - nl - 1);
                        const char *id = pw_end ? pw_end + 1 : NULL;
                        const char *id_end =
                                id ? memchr(id, ':', len - (size_t) (id - line)) : NULL;
                        char num[16];
                        uint64_t v;

                        if (!id_end || id_end == id || (size_t) (id_end - id) >= sizeof(num))
                                return -EBADMSG;
                        memcpy(num, id, (size_t) (id_end - id));
                        num[id_end - id] = 0;
                        if (parse_u64(num, &v) < 0 || v >= UINT32_MAX)
                                return -EBADMSG;
                        *ret_id = (uint32_t) v;
                        return 0;
                }
                line = end ? end + 1 : NULL;
        }
        return -ENOENT;
}

static int lookup_at(int root_fd, const char *db, const char *name, uint32_t *ret) {
        _cleanup_free_ char *text = NULL;
        uint64_t v;
        int r;

        if (!user_group_name_valid(name))
                return -EINVAL;
        if (all_digits(name)) {
                r = parse_u64(name, &v);
                if (r < 0)
                        return r;
                *ret = (uint32_t) v;
                return 0;
        }
        r = read_virtual_file_alloc_at(root_fd, db, USER_DB_MAX, &text, NULL);
        if (r < 0)
                return r;
        return user_db_find(text, name, ret);
}

int user_lookup_at(int root_fd, const char *name, uint32_t *ret_uid) {
        return lookup_at(root_fd, "etc/passwd", name, ret_uid);
}

int group_lookup_at(int root_fd, const char *name, uint32_t *ret_gid) {
        return lookup_at(root_fd, "etc/group", name, ret_gid);
}

int group_db_first_member(const char *text, const char *group, char *buf, size_t size,
                          uint32_t *ret_gid) {
        size_t gl = strlen(group);
        uint32_t gid;
        int r;

        r = user_db_find(text, group, &gid);
        if (r < 0)
                return r;
        for (const char *line = text; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);

                /* name:password:gid:member,member,... */
                if (len > gl && strncmp(line, group, gl) == 0 && line[gl] == ':') {
                        const char *members = line, *stop = line + len;
                        size_t ml;

                        for (int colons = 0; colons < 3 && members < stop; members++)
                                if (*members == ':')
                                        colons++;
                        ml = strcspn(members, ",\n");
                        if (members + ml > stop)
                                ml = (size_t) (stop - members);
                        if (ml == 0)
                                return -ENOENT;
                        if (ml >= size)
                                return -ENOBUFS;
                        memcpy(buf, members, ml);
                        buf[ml] = 0;
                        if (!user_group_name_valid(buf))
                                return -EBADMSG;
                        *ret_gid = gid;
                        return 0;
                }
                line = end ? end + 1 : NULL;
        }
        return -ENOENT;
}

int group_first_member_at(int root_fd, const char *group, char *buf, size_t size,
                          uint32_t *ret_gid) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_virtual_file_alloc_at(root_fd, "etc/group", USER_DB_MAX, &text, NULL);
        if (r < 0)
                return r;
        return group_db_first_member(text, group, buf, size, ret_gid);
}
