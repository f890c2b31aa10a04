# SPDX-License-Identifier: MIT
# hosttune — see README.md. `make run` and `make check` do the whole set-up on Debian.

VERSION := 0.1.0
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

CC ?= cc
PKG_CONFIG ?= pkg-config
BUILD ?= build
O := $(BUILD)/obj

# `hosttune check` runs before every test run and must cost about what /bin/true does
# (docs/bench/check.md). On the machines measured, the dynamic loader alone costs more than all
# the probing, so `hosttune` is linked statically when libc.a and the light libraries' .a files
# exist (Debian ships them). Verbs that talk to the agent over D-Bus live in `hosttune-bus`, a
# dynamic helper linked with libsystemd that `hosttune` execs; the agent links everything
# dynamically.
#
# STATIC_CLI=yes (default when possible): a static, non-PIE `hosttune`. A static-pie binary
# relocates ~2300 pointers (glibc's, libnl's and our tables) at every start, a dozen
# copy-on-write page faults that measured 1.31x /bin/true against 1.15x for non-PIE. The cost
# is address-space randomisation of the CLI's own image; the CLI is not setuid, reads only
# kernel files and root-owned configuration, and talks to no network peer, while the
# long-running, bus-facing hosttuned and hosttune-bus stay PIE. STATIC_CLI=pie keeps ASLR at
# that start-up cost; STATIC_CLI=no links `hosttune` dynamically.
LIGHT_PC := json-c inih libbtrfsutil libnl-3.0 libnl-route-3.0
STATIC_LIGHT ?= $(shell for l in json-c inih btrfsutil nl-3 nl-route-3; do \
	p=$$($(CC) -print-file-name=lib$$l.a); [ -f "$$p" ] || { echo no; exit; }; done; echo yes)

STATIC_CLI ?= $(if $(filter yes,$(STATIC_LIGHT)),$(shell p=$$($(CC) -print-file-name=libc.a); \
	[ -f "$$p" ] && echo yes || echo no),no)

PC_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(LIGHT_PC) libsystemd 2>/dev/null)
ifeq ($(STATIC_LIGHT),yes)
LIGHT_LIBS = $(shell $(PKG_CONFIG) --libs-only-L $(LIGHT_PC) 2>/dev/null) -Wl,-Bstatic \
	$(shell $(PKG_CONFIG) --libs-only-l $(LIGHT_PC) 2>/dev/null) -Wl,-Bdynamic -lpthread -lm
else
LIGHT_LIBS = $(shell $(PKG_CONFIG) --libs $(LIGHT_PC) 2>/dev/null)
endif
ifneq ($(filter yes pie,$(STATIC_CLI)),)
CLI_LINK = $(if $(filter pie,$(STATIC_CLI)),-static-pie,-static) $(shell $(PKG_CONFIG) --libs-only-L $(LIGHT_PC) 2>/dev/null) \
	$(shell $(PKG_CONFIG) --libs-only-l $(LIGHT_PC) 2>/dev/null) -lpthread -lm
else
CLI_LINK = $(LIGHT_LIBS)
endif
SYSTEMD_LIBS = $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

# Truncation warnings are on: every snprintf says whether a text that does not fit is an error
# (bufprintf), cut short on purpose (bufprintf_trunc) or impossible (xsprintf), lib/util.h. gcc's
# level 2 also checks the calls whose result is used, which proves xsprintf's buffers big enough
# at build time; clang has no such level, and gets -Wall's.
FORMAT_TRUNCATION := $(shell $(CC) -Werror -Wformat-truncation=2 -E -x c /dev/null >/dev/null 2>&1 \
	&& echo -Wformat-truncation=2)
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-format-nonliteral $(FORMAT_TRUNCATION) -Wvla -Wimplicit-fallthrough
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARNINGS) -D_GNU_SOURCE -DHOSTTUNE_VERSION='"$(VERSION)"' \
	-DHOSTTUNE_DATADIR='"$(DATADIR)/hosttune"' -DHOSTTUNE_SYSCONFDIR='"$(SYSCONFDIR)/hosttune"' \
	-DHOSTTUNE_LIBEXECDIR='"$(LIBEXECDIR)/hosttune"' \
	-I. $(PC_CFLAGS) $(CFLAGS) -MMD -MP
LDFLAGS ?=

LIB_SRC := $(sort $(wildcard lib/*.c probes/*.c policies/*.c policies/apply/*.c runtime/*.c \
	assess/*.c))
CLI_SRC := $(sort $(wildcard cli/*.c))
BUS_SRC := $(sort $(wildcard cli/bus/*.c))
AGENT_SRC := $(sort $(wildcard agent/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test-*.c))
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz-*.c))
GEN_SRC := $(O)/generated/profiles.c

LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o) $(O)/generated/profiles.o
CLI_OBJ := $(CLI_SRC:%.c=$(O)/%.o)
BUS_OBJ := $(BUS_SRC:%.c=$(O)/%.o) $(O)/cli/output.o $(O)/cli/run-child.o $(O)/cli/lease-args.o
AGENT_OBJ := $(AGENT_SRC:%.c=$(O)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz-replay/%)

LIBHOSTTUNE := $(BUILD)/libhosttune.a
HOSTTUNE := $(BUILD)/hosttune
HOSTTUNED := $(BUILD)/hosttuned
HOSTTUNE_BUS := $(BUILD)/hosttune-bus
PROGRAMS := $(HOSTTUNE) $(if $(AGENT_SRC),$(HOSTTUNED)) $(if $(BUS_SRC),$(HOSTTUNE_BUS))

.PHONY: all deps deps-check run check unit integration sanitize fuzz lint format format-check \
	install uninstall bench clean

all: $(PROGRAMS)

# The policy key table for the NixOS module's evaluation-time checks, exported by the binary from
# policies/keys.c and checked in (a cross build of the system must not need to run hosttune);
# tests/integration/test-nixos-module.sh fails when it is stale.
nixos-module/policy-keys.json: $(HOSTTUNE)
	$(HOSTTUNE) policy keys --json >$@.tmp && mv $@.tmp $@

# --- set-up -----------------------------------------------------------------------------------
deps:
	@scripts/deps.sh build
deps-check:
	@scripts/deps.sh check

# --- build ------------------------------------------------------------------------------------
V ?= 0
Q = $(if $(filter 1,$(V)),,@)
$(O)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# Shipped profiles are embedded so the default policy works with nothing installed.
$(GEN_SRC): $(sort $(wildcard policies/profiles/*.ini)) scripts/embed-profiles.sh
	@mkdir -p $(@D)
	$(Q)scripts/embed-profiles.sh $(sort $(wildcard policies/profiles/*.ini)) > $@.tmp && mv $@.tmp $@

$(O)/generated/profiles.o: $(GEN_SRC)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBHOSTTUNE): $(LIB_OBJ)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# libnl-3.a carries helpers that call NSS functions (address and protocol name lookups), and
# glibc warns when those are linked statically. hosttune never calls them (it creates taps and
# bridges by index and name only), so exactly those warnings (scripts/ld-known-warnings, one
# grep pattern per line) are filtered; any other linker message still shows.
$(HOSTTUNE): $(CLI_OBJ) $(LIBHOSTTUNE)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBHOSTTUNE) $(CLI_LINK) 2>$@.ld; \
		rc=$$?; grep -v -F -f scripts/ld-known-warnings $@.ld >&2; rm -f $@.ld; exit $$rc

$(HOSTTUNE_BUS): $(BUS_OBJ) $(LIBHOSTTUNE)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(BUS_OBJ) $(LIBHOSTTUNE) $(LIGHT_LIBS) $(SYSTEMD_LIBS)

$(HOSTTUNED): $(AGENT_OBJ) $(LIBHOSTTUNE)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(AGENT_OBJ) $(LIBHOSTTUNE) $(LIGHT_LIBS) $(SYSTEMD_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBHOSTTUNE)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBHOSTTUNE) $(LIGHT_LIBS) $(CMOCKA_LIBS) $(SYSTEMD_LIBS)

# The work queue's test drives agent/queue.c itself (with the agent's log), not a copy.
QUEUE_TEST_OBJ := $(O)/agent/queue.o $(O)/agent/log.o
$(BUILD)/tests/test-queue: tests/unit/test-queue.c $(QUEUE_TEST_OBJ) $(LIBHOSTTUNE)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(QUEUE_TEST_OBJ) $(LIBHOSTTUNE) $(LIGHT_LIBS) \
		$(CMOCKA_LIBS) $(SYSTEMD_LIBS)

# The agent with its crash seam set: tests/helpers/hosttuned-fault.c sets it, then calls the
# shipped agent/main.o's main(), renamed hosttuned_main by objcopy (the same object, not a copy),
# linked with every other agent object and the same library.
AGENT_FAULT_OBJ := $(filter-out $(O)/agent/main.o,$(AGENT_OBJ)) $(O)/tests/hosttuned-main.o
$(O)/tests/hosttuned-main.o: $(O)/agent/main.o
	@mkdir -p $(@D)
	$(Q)objcopy --redefine-sym main=hosttuned_main $< $@
$(BUILD)/tests/helpers/hosttuned-fault: tests/helpers/hosttuned-fault.c $(AGENT_FAULT_OBJ) \
		$(LIBHOSTTUNE)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(AGENT_FAULT_OBJ) $(LIBHOSTTUNE) $(LIGHT_LIBS) \
		$(SYSTEMD_LIBS)

# output_line's test drives cli/output.c itself.
$(BUILD)/tests/test-output: tests/unit/test-output.c $(O)/cli/output.o $(LIBHOSTTUNE)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(O)/cli/output.o $(LIBHOSTTUNE) $(LIGHT_LIBS) \
		$(CMOCKA_LIBS) $(SYSTEMD_LIBS)

$(BUILD)/tests/helpers/%: tests/helpers/%.c $(LIBHOSTTUNE)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBHOSTTUNE) $(LIGHT_LIBS) $(SYSTEMD_LIBS)

# --- run and test -----------------------------------------------------------------------------
# `make run`: hosttune check on this host with the embedded default policy. "Not ready" (exit 1)
# is the answer about this host, not a failure of the build; usage (2) and probe (3) errors fail.
run: deps
	@$(MAKE) --no-print-directory all
	@rc=0; ./$(HOSTTUNE) check || rc=$$?; \
	case $$rc in \
	0) echo "make run: this host is ready." ;; \
	1) echo "make run: this host is NOT ready (see the FAIL lines above); hosttune itself worked." ;; \
	*) echo "make run: hosttune check failed with exit status $$rc" >&2; exit $$rc ;; \
	esac

check: deps-check
	@$(MAKE) --no-print-directory all unit-bins
	tests/run-tests.sh $(BUILD)

.PHONY: unit-bins
unit-bins: $(UNIT_BIN) $(HELPER_BIN) $(REPLAY_BIN)

# Every test that needs no root, run without root (as root: as nobody, on a copy of the tree;
# tests/run-tests.sh --unprivileged); the tests that need root say SKIP and why.
.PHONY: check-unprivileged
check-unprivileged:
	@$(MAKE) --no-print-directory all unit-bins
	tests/run-tests.sh --unprivileged $(BUILD)

unit: all unit-bins
	tests/run-tests.sh --unit-only $(BUILD)

# The tests again, built with AddressSanitizer and UndefinedBehaviorSanitizer. handle_sigbus=0:
# the lease tests expect a hugepage holder past its lease to die of the kernel's SIGBUS (exit
# 135), which ASan's own handler would turn into a report and an abort (134).
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:handle_sigbus=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 HOSTTUNE_SANITIZE=1
sanitize: deps-check
	@$(MAKE) --no-print-directory sanitize-bins
	$(SAN_ENV) tests/run-tests.sh build-san

# The sanitizer build alone, for one test: `make sanitize-bins`, then
# `$(make -s sanitize-env) tests/run-tests.sh --only NAME build-san` (the environment of the run).
.PHONY: sanitize-bins sanitize-env
sanitize-bins:
	@$(MAKE) --no-print-directory BUILD=build-san STATIC_LIGHT=$(STATIC_LIGHT) STATIC_CLI=no \
		CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" all unit-bins
sanitize-env:
	@echo env $(SAN_ENV)

# libFuzzer targets, one per parser (tests/fuzz/fuzz-*.c); each runs FUZZ_SECONDS from the seed
# corpus tests/fuzz/corpus/<name>/. The library is built once with coverage instrumentation
# (fuzzer-no-link) and linked into every target; a crash, leak or UB report fails the run.
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE -I. $(PC_CFLAGS) -g -O1 -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -MMD -MP
# agent/bus-request.c reads the D-Bus request dictionaries without the agent's state: the
# fuzz-bus-request target builds sd-bus messages for it (hence libsystemd at link).
FUZZ_AGENT_SRC := agent/bus-request.c
FUZZ_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_AGENT_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) \
	$(FUZZ_BUILD)/obj/generated/profiles.o
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FUZZ_BUILD)/obj/generated/profiles.o: $(GEN_SRC)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FUZZ_BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_OBJ)
	@echo "  FUZZ-LD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) \
		$(shell $(PKG_CONFIG) --libs $(LIGHT_PC) libsystemd 2>/dev/null)

# The same targets with tests/fuzz/replay.c's main() instead of libFuzzer, built like the unit
# tests (part of unit-bins): tests/run-tests.sh replays each seed corpus with them, in the
# sanitizer build too.
REPLAY_AGENT_OBJ := $(FUZZ_AGENT_SRC:%.c=$(O)/%.o)
$(BUILD)/tests/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(REPLAY_AGENT_OBJ) $(LIBHOSTTUNE)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(REPLAY_AGENT_OBJ) \
		$(LIBHOSTTUNE) $(LIGHT_LIBS) $(SYSTEMD_LIBS)

.PHONY: fuzz-bins
.SECONDARY: $(FUZZ_OBJ)
fuzz-bins: $(FUZZ_BIN)
fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-bins
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# compile_commands.json for clangd, clang-tidy and editors, from the commands make would run
# (nothing is rebuilt). Not checked in: it names this checkout's paths.
.PHONY: compile_commands.json
compile_commands.json:
	scripts/compile-commands.py all unit-bins >$@.tmp && mv $@.tmp $@

# --- style ------------------------------------------------------------------------------------
C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
lint:
	@scripts/deps.sh lint
	scripts/check-layers.py $(if $(wildcard $(O)),--objects $(O))
	@# Every source file names its licence (LICENSE) on an SPDX line.
	@missing=$$(git ls-files '*.c' '*.h' '*.sh' '*.nix' '*.py' Makefile .ci/run 2>/dev/null | \
		xargs -r grep -L 'SPDX-License-Identifier: MIT'); \
		[ -z "$$missing" ] || { echo "no SPDX line in: $$missing" >&2; exit 1; }
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--std=c11 --inline-suppr -I. -D__GNUC__ -D_GNU_SOURCE \
		--suppress=missingIncludeSystem $(filter %.c,$(C_FILES))
	clang-tidy --quiet $(filter %.c,$(C_FILES)) -- -std=gnu11 -D_GNU_SOURCE -I. $(PC_CFLAGS)

format:
	clang-format -i $(C_FILES)

format-check:
	clang-format --dry-run --Werror $(C_FILES)

# --- install ----------------------------------------------------------------------------------
install: all
	install -Dm755 $(HOSTTUNE) $(DESTDIR)$(BINDIR)/hosttune
	if [ -x $(HOSTTUNED) ]; then install -Dm755 $(HOSTTUNED) $(DESTDIR)$(SBINDIR)/hosttuned; fi
	if [ -x $(HOSTTUNE_BUS) ]; then install -Dm755 $(HOSTTUNE_BUS) \
		$(DESTDIR)$(LIBEXECDIR)/hosttune/hosttune-bus; fi
	for p in policies/profiles/*.ini; do \
		install -Dm644 $$p $(DESTDIR)$(DATADIR)/hosttune/profiles/$$(basename $$p); done
	for m in docs/man/*.[0-9]; do \
		[ -f "$$m" ] || continue; s=$${m##*.}; \
		install -Dm644 $$m $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m); done
	if [ -f agent/org.hosttune.Agent1.conf ]; then install -Dm644 agent/org.hosttune.Agent1.conf \
		$(DESTDIR)$(DATADIR)/dbus-1/system.d/org.hosttune.Agent1.conf; fi
	if [ -f agent/hosttune.service ]; then sed $(UNIT_SED) agent/hosttune.service | \
		install -Dm644 /dev/stdin $(DESTDIR)$(UNITDIR)/hosttune.service; fi

# Type=notify-reload needs systemd >= 253; older ones (or an unknown version) get Type=notify and
# the unit's ExecReload= line (a synchronous Reload() over D-Bus).
SYSTEMD_VERSION ?= $(shell $(PKG_CONFIG) --modversion systemd 2>/dev/null || \
	systemctl --version 2>/dev/null | awk 'NR == 1 { print $$2 }')
UNIT_SED = -e 's|@SBINDIR@|$(SBINDIR)|g' $(if $(shell [ "$(firstword $(subst ., ,$(SYSTEMD_VERSION)))" \
	-ge 253 ] 2>/dev/null && echo new),,-e 's/^Type=notify-reload$$/Type=notify/' -e 's/^[#]pre253://')

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hosttune $(DESTDIR)$(SBINDIR)/hosttuned
	rm -rf $(DESTDIR)$(LIBEXECDIR)/hosttune
	rm -rf $(DESTDIR)$(DATADIR)/hosttune
	rm -f $(DESTDIR)$(DATADIR)/dbus-1/system.d/org.hosttune.Agent1.conf
	rm -f $(DESTDIR)$(UNITDIR)/hosttune.service

# --- benchmarks (not tests: no thresholds) ----------------------------------------------------
bench: all $(HELPER_BIN)
	@scripts/deps.sh bench
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-san build-fuzz

-include $(shell find $(O) $(BUILD)/tests $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
