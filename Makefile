# Every command sets itself up: `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PORT ?= 3000
COMPANY ?= salon-demo
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv chromium screenshots demo test test-fast test-clock iam-audit serve invoke provision sync reconcile smoke-calcom lint format validate build bench load clean

help:
	@echo "make demo      scripted phone call on the local stack (inbound routing, service info)"
	@echo "make test      all tests: unit, integration, e2e, template (lint, sam validate/build)"
	@echo "make test-fast all tests except the slow ones (sam build, the clock sweep)"
	@echo "make test-clock  only the clock sweep: the date-sensitive tests on each weekday and in summer time"
	@echo "make iam-audit the stack's tests with every per-container cache off, so the IAM judge sees each"
	@echo "               function make every AWS call it can (a cached read hides one; ADR 0020)"
	@echo "make serve     run the local stack (HTTP front on 127.0.0.1:\$$PORT, default 3000) and print the"
	@echo "               console's URL and demo sign-in"
	@echo "make screenshots  the console's pages in headless Chromium, saved to docs/console/"
	@echo "make invoke FN=RetellWebhookFunction EVENT=events/retell_inbound.json"
	@echo "make provision [COMPANY=salon-demo]  segment event types in Cal.com (stand-in by default)"
	@echo "make sync [COMPANY=salon-demo]       one company's team sync on the local stack; prints its report"
	@echo "make reconcile [COMPANY=salon-demo]  one company's reconciliation with Cal.com (local stack); prints its report"
	@echo "make smoke-calcom  calbridge against a REAL Cal.com team (needs CALCOM_API_KEY, CALCOM_TEAM_ID,"
	@echo "                   CALCOM_STAFF_USER_ID; without them it only says so)"
	@echo "make lint      ruff, cfn-lint and sam validate --lint"
	@echo "make bench [SECTIONS='tools booking']  benchmarks (numbers go to docs/benchmarks.md)"
	@echo "make load [LOAD_CALLERS=20 LOAD_SECONDS=60]  callers checking and booking at once against Cal.com's"
	@echo "               rate limit on the local stack (numbers go to docs/benchmarks.md, section Load)"

venv:
	@local/bootstrap.sh

chromium:
	@local/install_chromium.sh

demo: venv
	@$(PY) -m local.demo

test: venv chromium
	@$(PY) -m pytest

test-fast: venv chromium
	@$(PY) -m pytest -m "not slow"

test-clock: venv
	@$(PY) -m pytest -m clock_sweep

screenshots: venv chromium
	@rm -f docs/console/*.png
	@CONSOLE_SCREENSHOTS=docs/console $(PY) -m pytest -q tests/browser
	@ls docs/console/*.png

iam-audit: venv
	@SECRET_CACHE_S=0 DIRECTORY_CACHE_S=0 $(PY) -m pytest -m "not slow" tests/e2e tests/integration

serve: venv
	@PORT=$(PORT) $(PY) -m local serve --port $(PORT)

invoke: venv
	@$(PY) -m local invoke $(FN) -e $(EVENT)

provision: venv
	@$(PY) -m local provision --company $(COMPANY)

sync: venv
	@$(PY) -m local sync --company $(COMPANY)

reconcile: venv
	@echo '{"company_id": "$(COMPANY)"}' | $(PY) -m local invoke ReconciliationWorkerFunction -e -

smoke-calcom: venv
	@$(PY) -m local.smoke_calcom

lint: venv
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/cfn-lint template.yaml
	@PATH=$(abspath $(BIN)):$$PATH $(BIN)/sam validate --lint

format: venv
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

validate: lint

build: venv
	@PATH=$(abspath $(BIN)):$$PATH $(BIN)/sam build

bench: venv
	@$(PY) -m local.bench $(SECTIONS)

load: venv
	@$(PY) -m local.load

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
