# k8c - build, test, bench, run a lab.
#
#   make            build every binary into bin/ (installs missing Debian packages first)
#   make test       unit tests under ASan+UBSan, integration tests, format check
#   make bench      benchmarks (figures printed, never asserted)
#   make up / down  a 2-node lab cluster on the embedded SQLite store
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make install    PREFIX=/usr/local DESTDIR=
#
# Every src/**/*.c goes into libk8c.a; cmd/<bin>/main.c is linked against it.
# tests/unit/test_<module>.c is one cmocka program per module;
# tests/integration/<suite>/*.c is one program per suite; tests/common/*.c is
# linked into every test program. BUILD may be overridden (separate build trees).

CC       ?= cc
BUILD    ?= build
BINDIR   ?= bin
PREFIX   ?= /usr/local
DESTDIR  ?=
FUZZ_SECONDS ?= 60

PKGS := libmicrohttpd libcurl jansson yaml-0.1 libnl-3.0 libnl-route-3.0 libip4tc \
        sqlite3 libarchive ldns libsystemd gnutls zlib
# Debian's libwslay-dev ships no .pc file: linked by name.
EXTRA_LIBS := -lwslay
# libarchive is linked statically: only the objects a binary calls come in, so the
# kubelet (tar reader) no longer maps libxml2, ICU and libstdc++ (libarchive.so
# needs them for xar; ~2 MB of RSS in every kubelet); --as-needed (gcc's default
# here) drops them. k8c-lab's pax writer still pulls in xar. The compression
# libraries stay shared.
STATIC_PKGS := libarchive
STATIC_LIBS = -l:libarchive.a $(filter-out -larchive,$(shell pkg-config --static --libs-only-l libarchive 2>/dev/null))

BINARIES := k8c-apiserver k8c-controller-manager k8c-scheduler k8c-kubelet k8c-proxy k8cctl k8c-lab

CSTD     := -std=gnu11
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-nonliteral
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(filter-out $(STATIC_PKGS),$(PKGS)) 2>/dev/null) $(STATIC_LIBS)
BASE_CFLAGS = $(CSTD) $(WARN) -Iinclude -Isrc -D_GNU_SOURCE -pthread -MMD -MP $(PKG_CFLAGS)
LDLIBS_ALL  = $(PKG_LIBS) $(EXTRA_LIBS) -lm -pthread

REL_CFLAGS  := -O2 -g
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_LDFLAGS := -fsanitize=address,undefined

LIB_SRCS  := $(shell find src -name '*.c' 2>/dev/null | sort)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
COMMON_TEST_SRCS := $(sort $(wildcard tests/common/*.c))
SCRIPT_TESTS := $(sort $(wildcard tests/integration/test_*.sh))
# The end-to-end suite runs last: it needs every binary and brings up a lab.
E2E_TESTS := $(sort $(wildcard tests/e2e/test_*.sh))
INTEG_SUITES := $(sort $(patsubst tests/integration/%/,%,$(dir $(wildcard tests/integration/*/*.c))))
BENCH_SUITES := $(sort $(patsubst bench/%/,%,$(dir $(wildcard bench/*/*.c))))

REL_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/rel/%.o)
ASAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/asan/%.o)
REL_LIB   := $(BUILD)/rel/libk8c.a
ASAN_LIB  := $(BUILD)/asan/libk8c.a
ASAN_COMMON_OBJS := $(COMMON_TEST_SRCS:%.c=$(BUILD)/asan/%.o)
REL_COMMON_OBJS := $(COMMON_TEST_SRCS:%.c=$(BUILD)/rel/%.o)

BIN_TARGETS  := $(addprefix $(BINDIR)/,$(BINARIES))
UNIT_TESTS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/tests/unit/%)
# The suite's objects live in .../integration/<suite>/, so its program is .../integration/test_<suite>.
INTEG_TESTS  := $(addprefix $(BUILD)/asan/tests/integration/test_,$(INTEG_SUITES))
# Likewise a benchmark's objects live in .../bench/<suite>/, so its program is .../bench/bench_<suite>.
BENCH_BINS   := $(addprefix $(BUILD)/rel/bench/bench_,$(BENCH_SUITES))

# Keep objects make would otherwise treat as intermediate.
.SECONDARY:

.PHONY: all deps test unit-tests integration-tests test-build bench up down fuzz install clean format format-check

all: deps $(BIN_TARGETS)

deps:
	@scripts/install-deps.sh

# ---- objects ---------------------------------------------------------------
$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -c $< -o $@

$(REL_LIB): $(REL_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(ASAN_LIB): $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# ---- binaries --------------------------------------------------------------
$(BINDIR)/%: $(BUILD)/rel/cmd/%/main.o $(REL_LIB)
	@mkdir -p $(BINDIR)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# ASan builds of the binaries, used by integration tests.
$(BUILD)/asan/bin/%: $(BUILD)/asan/cmd/%/main.o $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# ---- tests -----------------------------------------------------------------
$(BUILD)/asan/tests/unit/%: $(BUILD)/asan/tests/unit/%.o $(ASAN_COMMON_OBJS) $(ASAN_LIB)
	$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcmocka

.SECONDEXPANSION:
$(BUILD)/asan/tests/integration/test_%: $$(addprefix $(BUILD)/asan/,$$(subst .c,.o,$$(wildcard tests/integration/$$*/*.c))) $(ASAN_COMMON_OBJS) $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcmocka

$(BUILD)/rel/bench/bench_%: $$(addprefix $(BUILD)/rel/,$$(subst .c,.o,$$(wildcard bench/$$*/*.c))) $(REL_COMMON_OBJS) $(REL_LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL) -lcmocka

test-build: deps $(BIN_TARGETS) $(addprefix $(BUILD)/asan/bin/,$(BINARIES)) $(UNIT_TESTS) $(INTEG_TESTS)

test: test-build
	@BUILD=$(BUILD) BINDIR=$(BINDIR) scripts/run-tests.sh $(UNIT_TESTS) $(SCRIPT_TESTS) $(INTEG_TESTS) $(E2E_TESTS)

unit-tests: deps $(UNIT_TESTS)
	@BUILD=$(BUILD) BINDIR=$(BINDIR) K8C_SKIP_FORMAT=1 scripts/run-tests.sh $(UNIT_TESTS)

bench: deps $(BIN_TARGETS) $(BENCH_BINS)
	@set -e; for b in $(BENCH_BINS); do echo "== $$b"; BINDIR=$(BINDIR) $$b; done

# ---- fuzzing (clang + libFuzzer; not part of make test) ----------------------
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CFLAGS := $(CSTD) -Wall -Wextra -Iinclude -Isrc -D_GNU_SOURCE -pthread -g -O1 \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS)
$(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS) $(LDLIBS_ALL)

fuzz: deps $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/fuzz/corpus-$$n fuzz/seeds/$$n; done

# ---- lab ---------------------------------------------------------------------
# A 2-node lab with examples/hello/ applied; waits until the hello Service answers
# through its ClusterIP from inside a lab node (scripts/lab-up.sh).
up: all
	@BINDIR=$(BINDIR) scripts/lab-up.sh

down:
	$(BINDIR)/k8c-lab down

# ---- install / format / clean ----------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN_TARGETS) $(DESTDIR)$(PREFIX)/bin/

FORMAT_SRCS = $(shell find cmd src include tests bench fuzz -name '*.[ch]' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD) $(BINDIR)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
