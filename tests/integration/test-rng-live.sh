#!/bin/bash
# SPDX-License-Identifier: MIT
# The rng probe against cat of the hw_random files, stat of /dev/hwrng and getrandom(2).
. "$(dirname "$0")/lib.sh"
need_cmd python3 stat
hw=/sys/class/misc/hw_random
[ -d $hw ] || skip "no hw_random class (kernel without CONFIG_HW_RANDOM)"

json=$("$HOSTTUNE" probe --json)
f() { echo "$json" | jq_py "next(x for x in d['probes'] if x['id']=='rng')$1"; }
assert_eq "current (cat rng_current)" "$(cat $hw/rng_current)" "$(f "['facts']['current']")"
assert_eq "available (cat rng_available)" "$(cat $hw/rng_available | xargs)" "$(f "['facts']['available']" | python3 -c 'import ast,sys; print(" ".join(ast.literal_eval(sys.stdin.read())))')"
if [ -c /dev/hwrng ]; then
	assert_eq "hwrng minor (stat)" "$((16#$(stat -c %T /dev/hwrng)))" "$(f "['facts']['hwrng']['minor']")"
	assert_eq "hwrng mode (stat)" "$(stat -c %04a /dev/hwrng)" "$(f "['facts']['hwrng']['mode']")"
else
	assert_eq "hwrng exists" False "$(f "['facts']['hwrng']['exists']")"
fi
# getrandom(GRND_NONBLOCK) answers once the crng is ready.
want=$(python3 -c 'import os
try:
    os.getrandom(1, os.GRND_NONBLOCK); print(True)
except BlockingIOError:
    print(False)')
assert_eq "crng ready (getrandom GRND_NONBLOCK)" "$want" "$(f "['facts']['crng_ready']")"
cur=$(cat $hw/rng_current)
if [ "$cur" != none ] && [ -c /dev/hwrng ]; then
	assert_eq "status with an active source" ok "$(f "['status']")"
	# The source really produces data.
	if [ "$(id -u)" = 0 ]; then
		n=$(head -c 16 /dev/hwrng | wc -c)
		assert_eq "16 bytes from /dev/hwrng" 16 "$n"
	fi
fi
