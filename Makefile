# auth_sessions — targets documented in README.md.
#   make run      build, install, start a local demo cluster, leave it running
#   make stop     stop that cluster
#   make test     every test layer (unit, #[pg_test], pg_regress, pg_dump/restore, GoTrue's migrations)
#   make install  build (release profile) and install into the server that PG_CONFIG names
#   make bench    release build, 1M-session dataset, timings and ratios side by side
SHELL := /bin/bash
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG
# GoTrue's migrations, a test fixture kept outside the repository; the tests
# that need them say they were skipped when it is absent.
GOTRUE ?= ../shared/gotrue
export GOTRUE
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: deps build install run stop test test-unit test-pgrx test-regress bench clean

deps:
	@scripts/deps.sh

build: deps
	cargo build

install: deps
	@bash -c '. scripts/common.sh && PROFILE=release install_extension'

run: deps
	@scripts/run.sh start

stop:
	@scripts/run.sh stop

test: deps
	@$(MAKE) --no-print-directory test-unit test-pgrx test-regress
	@echo "make test: all layers passed"

test-unit: deps
	cargo test --lib

test-pgrx: deps
	@scripts/test-pgrx.sh

test-regress: deps
	@scripts/test-regress.sh

bench: deps
	@bench/bench.sh

clean:
	-@scripts/run.sh stop
	cargo clean
