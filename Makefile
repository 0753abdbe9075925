# pgconverge - build, test, run.
#
#   make            build ./pgconverge
#   make deps       install missing Debian packages (no-op when present)
#   make test       deps + build + every test tier
#   make run        deps + build + bring up examples/quickstart.yaml
#   make demo-hosts deps + build + etcd and three agents for examples/three-hosts.yaml
#   make install    PREFIX=/usr/local
#   make sanitize   unit + integration under ASan/UBSan (rebuilds; slow)
#
# ./pgconverge is a small executable (cmd/front.c) that runs wal-push and
# wal-fetch itself, linked with libcrypto, zlib and libzstd only: PostgreSQL
# starts one per WAL segment. Every other command is in build/pgconverge-core.so
# (installed as PREFIX/lib/pgconverge/pgconverge-core.so), which it dlopen()s.

CC      ?= gcc
PREFIX  ?= /usr/local
PKGS    := yaml-0.1 libpq libgit2 jansson libcrypto zlib libzstd libmicrohttpd libcurl
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  += $(CSTD) $(WARN) $(OPT) $(SAN) -fPIC -I. -Ibuild/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
B       := build

LIB_SRC := $(wildcard common/*.c schema/*.c reconcile/*.c reconcile/*/*.c)
CMD_SRC := $(filter-out cmd/front.c,$(wildcard cmd/*.c))
GEN_SRC := $(B)/gen/pgcatalog_data.c
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/pgcatalog_data.o
CMD_OBJ := $(CMD_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# Test doubles and fixtures every unit test may link (a fake host transport ...).
UNIT_SUPPORT := $(wildcard tests/unit/support/*.c)
# What the executable itself holds: wal-push and wal-fetch, nothing with libpq.
FRONT_OBJ := $(B)/cmd/front.o $(addprefix $(B)/reconcile/backup/,walarchive.o walarchive_compress.o walarchive_fetch.o walarchive_push.o) \
	$(B)/reconcile/pg/walarchive_cmd.o \
	$(addprefix $(B)/common/,arena.o clock.o digest.o fsutil.o log.o strutil.o)
FRONT_LIBS := $(shell pkg-config --libs libcrypto zlib libzstd 2>/dev/null) -ldl -lpthread
CORE    := $(B)/pgconverge-core.so

.PHONY: all deps test unit integration schema-test fuzz bench run demo-hosts install clean sanitize

all: pgconverge

pgconverge: $(FRONT_OBJ) $(CORE)
	$(CC) $(CFLAGS) -o $@ $(FRONT_OBJ) $(FRONT_LIBS)

$(CORE): $(CMD_OBJ) $(B)/libpgconverge.a
	$(CC) $(CFLAGS) -shared -Wl,-Bsymbolic -o $@ $(CMD_OBJ) $(B)/libpgconverge.a $(LDLIBS)

$(B)/libpgconverge.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Objects also depend on the Makefile: a change of flags (e.g. -fPIC) rebuilds them.
$(B)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The PostgreSQL parameter catalog: one TSV per major version, compiled in.
$(GEN_SRC): schema/catalog/gen_catalog.sh $(wildcard schema/catalog/pg*.tsv)
	@mkdir -p $(dir $@)
	sh schema/catalog/gen_catalog.sh schema/catalog > $@.tmp && mv $@.tmp $@

$(B)/gen/pgcatalog_data.o: $(GEN_SRC) Makefile
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(UNIT_SUPPORT) $(B)/libpgconverge.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(UNIT_SUPPORT) $(B)/libpgconverge.a $(LDLIBS) -lcmocka

deps:
	@sh tests/deps.sh

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

integration: pgconverge
	@sh tests/integration/run.sh

schema-test: pgconverge
	@sh tests/schema/run.sh

fuzz:
	@sh tests/fuzz/run.sh

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) schema-test
	$(MAKE) integration
	$(MAKE) fuzz

# Unit and integration tiers built with AddressSanitizer and UBSan (clang: gcc's
# -O2 with ASan reports format warnings that are not there). SAN and CC are
# exported so that the integration scripts build their drivers the same way.
# Reports go to $(SAN_LOGS)/; the target fails when there is one.
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_LOGS  ?= /tmp/pgconverge-san
sanitize: deps
	$(MAKE) clean
	rm -rf $(SAN_LOGS) && install -d -m 1777 $(SAN_LOGS)
	CC=clang SAN="$(SAN_FLAGS)" $(MAKE) all unit
	CC=clang SAN="$(SAN_FLAGS)" ASAN_OPTIONS=log_path=$(SAN_LOGS)/asan \
		UBSAN_OPTIONS=print_stacktrace=1:log_path=$(SAN_LOGS)/ubsan sh tests/integration/run.sh
	@if ls $(SAN_LOGS) | grep -q .; then echo "sanitizer reports in $(SAN_LOGS)/"; exit 1; fi
	$(MAKE) clean

bench: pgconverge
	@sh bench/run.sh

run: deps
	$(MAKE) all
	@sh examples/run-quickstart.sh

# Three "hosts" on loopback (127.0.0.2-4), one agent each, coordinated through
# a local etcd; stop with sh examples/stop-three-hosts.sh.
demo-hosts: deps
	$(MAKE) all
	@sh examples/run-three-hosts.sh

install: pgconverge
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pgconverge $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 pgconverge $(DESTDIR)$(PREFIX)/bin/pgconverge
	install -m 0644 $(CORE) $(DESTDIR)$(PREFIX)/lib/pgconverge/pgconverge-core.so
	install -m 0644 man/pgconverge.1 $(DESTDIR)$(PREFIX)/share/man/man1/pgconverge.1

clean:
	rm -rf $(B) pgconverge

-include $(shell find $(B) -name '*.d' 2>/dev/null)
