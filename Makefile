# auth_sessions — targets documented in README.md.
#   make run      build, install, start a local demo cluster, leave it running
#   make stop     stop that cluster
#   make test     every test layer (unit, #[pg_test], pg_regress, pg_dump/restore, GoTrue's migrations, ...);
#                 ONLY="NAME ..." runs just those (see scripts/test-regress.sh)
#   make test-major-upgrade FROM=15 TO=17   pg_upgrade and dump/restore across majors (also 17 -> 18)
#   make install  build (release profile) and install into the server that PG_CONFIG names
#   make bench    release build, 1M-session dataset, timings and ratios side by side
#   make package  a .deb for PG (default 15), tested in a clean root filesystem
SHELL := /bin/bash
# The PostgreSQL major to build and test for: 15 runs on this machine (Debian
# bookworm); 17 and 18 run in a Debian trixie / forky root filesystem made on
# first use (scripts/on-pg.sh).
PG ?= 15
PG_CONFIG ?= /usr/lib/postgresql/$(PG)/bin/pg_config
PG_MAJOR := $(PG)
export PG PG_CONFIG PG_MAJOR
FEATURES := --no-default-features --features pg$(PG)
# GoTrue's migrations, a test fixture kept outside the repository; the tests
# that need them say they were skipped when it is absent.
GOTRUE ?= ../shared/gotrue
# Supabase's own bootstrap (init scripts and migrations), likewise optional.
SUPABASE ?= ../shared/supabase
export GOTRUE SUPABASE
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: deps build install run stop test test-here test-unit test-pgrx test-regress test-major-upgrade bench bench-here package package-here clean

deps:
	@scripts/deps.sh

build: deps
	cargo build $(FEATURES)

install: deps
	@bash -c '. scripts/common.sh && PROFILE=release install_extension'

run: deps
	@scripts/run.sh start

stop:
	@scripts/run.sh stop

test:
	@scripts/on-pg.sh $(MAKE) --no-print-directory test-here

# ONLY="NAME ..." runs just those layers: unit, pgrx, or the server-side
# ones scripts/test-regress.sh names (regress, upgrade, supabase, crash, ...).
ONLY ?=
export ONLY
test-here: deps
ifeq ($(strip $(ONLY)),)
	@$(MAKE) --no-print-directory test-unit test-pgrx test-regress
	@echo "make test: all layers passed (PostgreSQL $(PG))"
else
	@$(if $(filter unit,$(ONLY)),$(MAKE) --no-print-directory test-unit &&) \
	 $(if $(filter pgrx,$(ONLY)),$(MAKE) --no-print-directory test-pgrx &&) \
	 $(if $(filter-out unit pgrx,$(ONLY)),$(MAKE) --no-print-directory test-regress &&) \
	 echo "make test: the layers $(ONLY) passed (PostgreSQL $(PG))"
endif

test-unit: deps
	cargo test --lib $(FEATURES)

test-pgrx: deps
	@scripts/test-pgrx.sh

test-regress: deps
	@scripts/test-regress.sh

# PostgreSQL FROM's databases (both modes) upgraded to TO: pg_upgrade --check,
# copying and --link, and pg_dump/pg_restore (pg_test/upgrade/major.sh), in a
# root filesystem with both majors (15 -> 17 in trixie, 17 -> 18 in forky).
FROM ?= 15
TO ?= 17
test-major-upgrade:
	@scripts/major-upgrade.sh $(FROM) $(TO)

bench:
	@scripts/on-pg.sh $(MAKE) --no-print-directory bench-here

bench-here: deps
	@bench/bench.sh

# A .deb for PostgreSQL $(PG) (built in its suite's root filesystem for 17
# and 18), then installed, used and purged in a clean root filesystem.
package:
	@deb=$$(scripts/on-pg.sh $(MAKE) --no-print-directory -s package-here | tail -1) && \
	    PG=$(PG) scripts/package-test.sh "$$deb"

package-here: deps
	@scripts/package.sh

clean:
	-@scripts/run.sh stop
	-@scripts/on-pg.sh --unmount
	cargo clean
