# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Set-up (idempotent): .venv with the pinned packages, Azurite from npm into ./node_modules.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite
CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint typecheck bench checkov clean mutation

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(AZURITE): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# Headless Chromium for the tests of the Teams card and the status page (devtools/browser.py).
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

setup: $(STAMP) $(AZURITE) $(CHROMIUM)

## One whole incident lifecycle against the simulator and Azurite, printed as a timeline.
demo: setup
	$(BIN)/python -m devtools.services -- $(BIN)/python -m shared.cli demo

## The whole suite: unit + integration (the session starts Azurite and the simulator) + mypy/ruff gates + checkov.
test: setup
	$(BIN)/python -m pytest
	@if [ -x scripts/checkov.sh ]; then scripts/checkov.sh; fi

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python -m devtools.services -- $(BIN)/python $$b || exit 1; done

## Mutation testing of the fast tier (docs/testing.md): per module mutants, killed, survived, score and the survivors.
## MUTATE is the module list; MUTATION_FLAGS e.g. "--limit 40" samples 40 mutants a module, "-j 1" runs one at a time.
MUTATE ?= shared/detect shared/core/catalogue.py shared/notify/escape.py
MUTATION_FLAGS ?=
mutation: $(STAMP)
	$(BIN)/python -m devtools.mutate $(MUTATION_FLAGS) $(MUTATE)

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache demo-output
