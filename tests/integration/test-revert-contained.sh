#!/bin/bash
# SPDX-License-Identifier: MIT
# Revert removes only what apply created inside a snapshot root (issue 12, point 5), and says
# precisely what is wrong with a damaged journal (point 11). Crafted journal entries name a
# tree outside any root, a slot reached through a planted symlink, and a root outside the
# allow-list: revert refuses each and the directories are still there (compared with the file
# system, not with hosttune's output). A real apply of a plain-directory snapshot root is then
# reverted completely. Everything happens under this test's own directory: no kernel state.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3

export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
mkdir -p "$HOSTTUNE_RUNTIME_DIR"
journal=$HOSTTUNE_RUNTIME_DIR/journal.json
boot=$(cat /proc/sys/kernel/random/boot_id)

# write_journal KIND OBJECT...: a journal with one "created" entry per object.
write_journal() {
	local kind=$1
	shift
	python3 - "$journal" "$kind" "$boot" "$@" <<'EOF'
import json, sys
path, kind, boot, objects = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
entries = [{"seq": i + 1, "kind": kind, "action": "created", "object": o, "label": o,
            "boot_id": boot} for i, o in enumerate(objects)]
json.dump({"schema": "hosttune.journal/1", "entries": entries}, open(path, "w"))
EOF
}
revert() { "$HOSTTUNE" revert 2>&1; }

# 1. An entry naming an arbitrary tree.
victim=$T_TMP/victim
mkdir -p "$victim/sub" && echo precious >"$victim/sub/file"
write_journal snapshot "$victim"
out=$(revert) && fail "revert of a crafted entry succeeded: $out"
grep -q "refused to remove $victim: it is not <snapshot root>/slots/slot-N" <<<"$out" ||
	fail "no refusal for $victim: $out"
[ -f "$victim/sub/file" ] || fail "$victim was deleted"
ok "an entry naming $victim is refused, the tree is still there"
grep -q "\"$victim\"" "$journal" || fail "the refused entry left the journal"
ok "the refused entry stays in the journal"

# 2. A slot of the right shape, reached through a symlink planted inside the root.
root=$T_TMP/snapshots
other=$T_TMP/other
mkdir -p "$root" "$other/slot-0" && echo precious >"$other/slot-0/file"
ln -s "$other" "$root/slots"
write_journal snapshot "$root/slots/slot-0"
out=$(revert) && fail "revert through a symlink succeeded: $out"
grep -q "refused to remove $root/slots/slot-0: it has a symlink" <<<"$out" ||
	fail "no refusal for the symlinked slot: $out"
[ -f "$other/slot-0/file" ] || fail "the symlink's target was deleted"
ok "a slot reached through a symlink is refused, its target is still there"
rm "$root/slots"

# 3. A slot below a root outside the allow-list, and a "subvolume" entry for /etc.
write_journal snapshot "/etc/slots/slot-0"
out=$(revert) && fail "revert of /etc/slots/slot-0 succeeded: $out"
grep -q "is not inside a snapshot root hosttune may use" <<<"$out" || fail "$out"
ok "a slot below /etc is refused"
write_journal subvolume "/etc"
out=$(revert) && fail "revert of a subvolume entry for /etc succeeded: $out"
grep -q "refused to remove /etc: it is not inside a snapshot root" <<<"$out" || fail "$out"
[ -f /etc/hostname ] || [ -f /etc/passwd ] || fail "/etc is damaged"
ok "a subvolume entry for /etc is refused"

# 4. A slot that is a mount point (not a directory apply created on the root's file system).
mkdir -p "$root/slots/slot-0"
if mount -t tmpfs hosttune-test "$root/slots/slot-0" 2>/dev/null; then
	defer "umount $root/slots/slot-0 2>/dev/null || true"
	echo precious >"$root/slots/slot-0/file"
	write_journal snapshot "$root/slots/slot-0"
	out=$(revert) && fail "revert of a mount point succeeded: $out"
	grep -q "it is a mount point" <<<"$out" || fail "$out"
	[ -f "$root/slots/slot-0/file" ] || fail "the mount's content was deleted"
	ok "a slot that is a mount point is refused"
	umount "$root/slots/slot-0"
fi
rm -rf "$root" "$journal"

# 5. What apply really created is still removed.
cat >"$T_TMP/p.ini" <<EOF
[readiness]
require =
[snapshots]
root = $root
slots = 2
EOF
"$HOSTTUNE" apply --policy "$T_TMP/p.ini" >"$T_TMP/apply.out" 2>&1 || {
	cat "$T_TMP/apply.out"
	fail "apply failed"
}
[ -d "$root/slots/slot-1" ] || fail "apply made no slot-1: $(ls -R "$root")"
ok "apply made $root/slots/slot-0 and slot-1"
out=$(revert) || fail "revert failed: $out"
[ ! -e "$root" ] || fail "revert left $root: $(ls -R "$root")"
ok "revert removed the root it created"

# 6. Each kind of damage has its own message.
check_damage() {
	local what=$1 text=$2 want=$3 out
	printf '%s' "$text" >"$journal"
	out=$(revert) && fail "revert of a journal that $what succeeded"
	grep -qF -- "$want" <<<"$out" || fail "$what: expected '$want' in: $out"
	ok "$what: $(echo "$out" | head -n1 | cut -c1-150)"
}
check_damage "is not JSON" 'garbage' "journal.json: not JSON ("
check_damage "is an array" '[1]' "journal.json: a JSON array, not an object: not a hosttune journal"
check_damage "has no schema" '{"entries":[]}' 'journal.json: no "schema": not a hosttune journal'
check_damage "is of a newer schema" '{"schema":"hosttune.journal/2","entries":[]}' \
	"journal.json: written by a newer hosttune (schema 2 > 1); use that version to revert"
check_damage "has no entries" '{"schema":"hosttune.journal/1"}' 'journal.json: no "entries"'
check_damage "lacks a field" '{"schema":"hosttune.journal/1","entries":[{"seq":1,"kind":"dir"}]}' \
	'entry 0 has no "action"'
check_damage "has a field of the wrong type" \
	'{"schema":"hosttune.journal/1","entries":[{"seq":"x"}]}' 'entry 0: "seq" is string, not int'
rm -f "$journal"
mkdir "$journal"
out=$(revert) && fail "revert of a directory journal succeeded"
grep -q "journal.json: cannot be read: Is a directory" <<<"$out" || fail "$out"
ok "unreadable: $(echo "$out" | head -n1 | cut -c1-150)"
rmdir "$journal"
