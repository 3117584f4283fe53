# forq — plain GNU make.  `make` builds, `make test` runs every test,
# `make demo` runs the main job, `make bench` prints the benchmarks.
# Quiet unless V=1.  Sanitizer variants: `make asan`, `make tsan`.

PREFIX  ?= /usr/local
DESTDIR ?=
B       ?= build
PKGS    := lmdb libcjson hwloc libcrypto zlib
# OpenBLAS and LAPACKE: headers only; kernels/blas.c dlopens them on first use.
BLASPKGS:= openblas lapacke
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  += -std=gnu11 $(OPT) $(SAN) $(WARN) -D_GNU_SOURCE -Iinclude -Isrc -Ikernels \
           -MMD -MP $(shell pkg-config --cflags $(PKGS) $(BLASPKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm -ldl
LDFLAGS += $(SAN) -rdynamic

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC  := $(sort $(filter-out src/forqd.c,$(wildcard src/*.c)) $(wildcard kernels/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# bench/benchd.c and bench/report.c are linked into every bench program.
BENCH_LIB:= bench/benchd.c bench/report.c
BENCH_SRC:= $(filter-out $(BENCH_LIB),$(wildcard bench/*.c))
BENCHES  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
MANS     := $(wildcard man/*.[1-9])
PROGS    := $(B)/forqd $(B)/forq
# Plug-ins: plugins/example.c is the one users copy; plugins/test_*.c are
# deliberately broken fixtures for the tests.  They see only <forq/kernel.h>.
PLUGIN_SRC := $(wildcard plugins/*.c)
PLUGINS  := $(PLUGIN_SRC:plugins/%.c=$(B)/plugins/%.so)

.PHONY: all test unit e2e demo bench install uninstall clean deps asan tsan lint-man
all: $(PROGS) $(BENCHES) $(PLUGINS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(B)/plugins/%.so: plugins/%.c include/forq/kernel.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -std=gnu11 $(OPT) $(SAN) $(WARN) -fPIC -shared -Iinclude -o $@ $<

# test_abi loads the plug-ins: build them first (order-only: not linked in).
$(B)/tests/test_abi: | $(PLUGINS)

$(B)/libforq.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/forqd: $(B)/src/forqd.o $(B)/libforq.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/forq: $(B)/tools/forq.o $(B)/libforq.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/tests/%.o $(B)/libforq.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

$(B)/bench/%: $(B)/bench/%.o $(BENCH_LIB:%.c=$(B)/%.o) $(B)/libforq.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@sh tools/deps.sh

# Every test: man-page lint, cmocka unit tests, end-to-end tests through the
# real forqd and forq, then the same unit tests under ASan+UBSan and the ring
# under TSan.  The last line is the summary CI reads.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(TESTS)
	$(Q)sh tests/run.sh $(B)

unit: all $(TESTS)
	$(Q)sh tests/run.sh $(B) unit

e2e: all
	$(Q)sh tests/run.sh $(B) e2e

asan:
	$(Q)$(MAKE) --no-print-directory B=build-asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		all build-asan/tests/test_ring $(TESTS:$(B)/%=build-asan/%)

tsan:
	$(Q)$(MAKE) --no-print-directory B=build-tsan OPT="-O1 -g" SAN="-fsanitize=thread" \
		build-tsan/tests/test_ring

lint-man:
	$(Q)for m in $(MANS); do mandoc -Tlint -W warning $$m || exit 1; done

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tools/demo.sh $(B)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh bench/run.sh $(B)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	for m in $(MANS); do s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	# the kernel ABI, for building plug-ins (forq-kernels(7))
	install -d $(DESTDIR)$(PREFIX)/include/forq
	install -m 644 include/forq/kernel.h $(DESTDIR)$(PREFIX)/include/forq/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/forqd $(DESTDIR)$(PREFIX)/bin/forq
	rm -f $(DESTDIR)$(PREFIX)/include/forq/kernel.h
	for m in $(MANS); do s=$${m##*.}; rm -f $(DESTDIR)$(PREFIX)/share/man/man$$s/$${m#man/}; done

clean:
	rm -rf build build-asan build-tsan

-include $(shell find $(B) -name '*.d' 2>/dev/null)
