# AwakNow session backend. `make dev` serves the API locally; `make test` runs every test.
# Downloads and build output live in a cache outside the clone, so reruns are fast.

AWAKNOW_CACHE ?= $(HOME)/.cache/awaknow
export AWAKNOW_CACHE
# Each checkout builds into a directory of its own in the cache (scripts/target-dir.sh says which).
ifndef CARGO_TARGET_DIR
CARGO_TARGET_DIR := $(shell AWAKNOW_CACHE='$(AWAKNOW_CACHE)' scripts/target-dir.sh)
endif
export CARGO_TARGET_DIR
# `make token USER=alice`: USER is also the shell's login name, so only a USER given on the
# command line counts.
USER_ID = $(if $(filter command line,$(origin USER)),$(USER),)

.PHONY: help install test unit lint fmt dev dev-up dev-down token set-plan audit bench-reset bench-audit validate build bench fuzz chaos target-dir

help:
	@echo "make test      every test (starts and stops DynamoDB Local and moto on its own)"
	@echo "make unit      every test that needs no service, in well under a minute"
	@echo "make lint      cargo fmt --check, import loops, clippy and cargo doc with warnings as errors"
	@echo "make validate  sam validate, then the SAM transform and cfn-lint, offline"
	@echo "make build     cargo lambda build --release of every function; prints bootstrap sizes"
	@echo "make bench     init vs a hello world, latency, sizes, reset throughput (prints a table)"
	@echo "make bench-reset   monthly reset throughput on DynamoDB Local (ACCOUNTS=100000 RUNS=3)"
	@echo "make bench-audit   the audit's accounts check on DynamoDB Local: accounts/s, read units (ACCOUNTS=5000 SESSIONS=12 RUNS=3)"
	@echo "make fuzz      property tests of every parser, 120,000 cases each (over a million)"
	@echo "make chaos     the fault campaign and its reconciliation (SEED= SESSIONS=3000)"
	@echo "make install   fetch DynamoDB Local, moto and cargo-lambda into $(AWAKNOW_CACHE); Chromium (apt)"
	@echo "make dev       serve the API at http://127.0.0.1:3000 until Ctrl-C"
	@echo "make dev-up    the same in the background; make dev-down stops it"
	@echo "make token USER=<id>            a dev JWT for that user"
	@echo "make set-plan USER=<id> PLAN=<plan>   move a local user to a plan"
	@echo "make audit     the audit of the local stack, every shard: exit 1 findings, 2 incomplete"
	@echo "               (ARGS='--shards 3,4'; FIX=1 or ARGS=--fix mends what is safe, audits again)"

# What builds first records this checkout in its build directory and removes the build
# directories of checkouts that no longer exist.
test unit lint build bench fuzz bench-reset bench-audit chaos dev dev-up audit: target-dir
target-dir:
	@scripts/target-dir.sh prepare

install:
	scripts/local-stack.sh install
	scripts/client-browser.sh install

test:
	scripts/test.sh

# Domain, request parsing, routing, the Tavus model, configuration, error mapping, the template's
# agreement with the code, the parsers' property tests (fewer cases than make test), the local
# gateway and the simulator in-process.
unit:
	cargo test --workspace --lib --bins --locked
	FUZZ_CASES=$${FUZZ_CASES:-300} cargo test --locked -p awaknow-core --test offline
	cargo test --locked -p tavus-sim --test sim

validate:
	scripts/validate.sh template.yaml

build:
	scripts/build.sh

bench:
	scripts/bench.sh

fuzz:
	FUZZ_CASES=$${FUZZ_CASES:-120000} cargo test --locked -p awaknow-core --test offline fuzz -- --test-threads 2

bench-reset:
	scripts/bench-reset.sh

bench-audit:
	scripts/bench-audit.sh

chaos:
	scripts/chaos.sh

# cargo doc: every doc link resolves (private items documented: the crates are read as source).
lint:
	cargo fmt --all -- --check
	scripts/check-imports.py --selftest
	scripts/check-imports.py
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/machete.sh
	RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" cargo doc --workspace --no-deps --document-private-items --locked --quiet

fmt:
	cargo fmt --all

dev:
	scripts/dev.sh run

dev-up:
	scripts/dev.sh up

dev-down:
	scripts/dev.sh down

token:
	@test -n "$(USER_ID)" || { echo "usage: make token USER=<id>" >&2; exit 2; }
	@scripts/dev.sh token "$(USER_ID)"

set-plan:
	@test -n "$(USER_ID)" -a -n "$(PLAN)" || { echo "usage: make set-plan USER=<id> PLAN=<plan>" >&2; exit 2; }
	@scripts/dev.sh set-plan "$(USER_ID)" "$(PLAN)"

# The local stack of `make dev` / `make dev-up` (AWAKNOW_ENV names another one).
audit:
	@scripts/dev.sh audit $(ARGS) $(if $(filter-out 0,$(FIX)),--fix,)
