# tradeconsole: `make run` starts the desk, `make test` proves it, `make bench` measures it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha1sum requirements.txt | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)

# The test suite runs on the machine's PostgreSQL and Redis, in a database and key prefix of its own.
TEST_ENV := TRADECONSOLE_MODE=test \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/tradeconsole} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/1} \
	TRADECONSOLE_STREAM_PREFIX=$${TEST_STREAM_PREFIX:-tctest}

.PHONY: setup services browser run test test-at bench lint format clean screenshot

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

# ibapi-stable (10.x) shares the package name `ibapi` with 9.81, so it gets a venv of its own; the
# simulator's 10.x test (tws_simulator/tests/test_ibapi10.py) runs a session through it.
.venv-ibapi10/bin/python:
	$(PYTHON) -m venv .venv-ibapi10
	.venv-ibapi10/bin/pip install --quiet ibapi-stable==10.50.2

# ib_async, a third-party client with a decoder of its own, gets a venv of its own as well; the
# simulator's third-party session test (tws_simulator/tests/test_ib_async.py) runs through it.
.venv-ibasync/bin/python:
	$(PYTHON) -m venv .venv-ibasync
	.venv-ibasync/bin/pip install --quiet ib_async==2.1.0 aeventkit==2.1.0 nest-asyncio==1.6.0 tzdata==2025.3

# backtrader and backtesting.py, pinned, only for the backtest benchmark (bench/bench_backtest.py
# runs bench/backtest_others.py through it); never in requirements.txt or the desk's venv.
.venv-bench/bin/python:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet backtrader==1.9.78.123 backtesting==0.6.6 numpy==2.4.6 pandas==3.1.1 bokeh==3.9.2

# NautilusTrader, pinned, for the backtest benchmark's comparison only; a wheel that does not install
# here leaves it out (the benchmark says so) rather than failing `make bench`.
.venv-nautilus/bin/python:
	$(PYTHON) -m venv .venv-nautilus
	.venv-nautilus/bin/pip install --quiet nautilus_trader==1.221.0 || rm -rf .venv-nautilus

services:
	@scripts/ensure-services.sh

# Debian's Chromium for the browser tests; Playwright drives it through executable_path.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Ctrl-C (exit 130) is how the desk is stopped, not a failure of make.
run: setup
	@scripts/run.sh || [ $$? -eq 130 ]

test: setup services browser
	-@$(MAKE) --no-print-directory .venv-ibapi10/bin/python
	@$(MAKE) --no-print-directory .venv-ibasync/bin/python
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# The whole suite on a machine moved in time, e.g. `make test-at DATE="2027-12-11 23:30"` (New York):
# scripts/suite-at.sh shifts every process's wall clock, with its own PostgreSQL and Redis. It builds
# its clock shim with the C compiler, installed here only when missing.
test-at: setup browser
	@[ -n "$(DATE)" ] || { echo 'make test-at DATE="2027-12-11 23:30" [PYTEST_ARGS=...]' >&2; exit 2; }
	@command -v cc >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null)
	-@$(MAKE) --no-print-directory .venv-ibapi10/bin/python
	@$(MAKE) --no-print-directory .venv-ibasync/bin/python
	scripts/suite-at.sh "$(DATE)" $(PYTEST_ARGS)

# Refresh the README's pictures (docs/desk.png, blotter.png, ticket.png, market.png, editor.png) from the browser tests.
screenshot: setup services browser
	$(TEST_ENV) TC_UPDATE_SCREENSHOTS=1 $(PY) -m pytest streams/tests/test_browser.py streams/tests/test_browser_market.py \
		streams/tests/test_browser_editor.py streams/tests/test_browser_blotter.py streams/tests/test_browser_tickets.py \
		-k 'filled_on_the_blotter or appears_on_it_as_a_fill or draws_an_ema_crossover or 1024 or sells_a_position_from_its_row'

bench: setup services
	@$(MAKE) --no-print-directory .venv-bench/bin/python
	-@$(MAKE) --no-print-directory .venv-nautilus/bin/python
	$(TEST_ENV) $(PY) -m bench $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-ibapi10 .venv-ibasync staticfiles .pytest_cache .hypothesis
