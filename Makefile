# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Set-up (idempotent): .venv with the pinned packages, Azurite from npm into ./node_modules.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite
CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: screenshots mutation setup demo test lint typecheck pytest bench checkov clean

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

## Everything: the ruff and mypy gates, the suite (unit + integration; the session starts Azurite and
## the simulator) and checkov, side by side (checkov installs into its own venv while the rest runs);
## each one's output is printed when it ends, and `make test` fails if any of them fails.
test: setup
	@$(MAKE) --no-print-directory --keep-going -j 4 --output-sync=target lint typecheck pytest checkov

## ruff, and no function of the app, its dev tools or the simulator above radon grade C.
lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	@out="$$($(BIN)/radon cc -s -n D shared functions devtools simulator function_app.py)"; \
	  if [ -n "$$out" ]; then echo "radon: above grade C:"; echo "$$out"; exit 1; fi

typecheck: setup
	$(BIN)/mypy

## The suite alone, on PYTEST_WORKERS processes (pytest-xdist; each starts its own Azurite and
## simulator on free ports). PYTEST_WORKERS=0 runs in one process; PYTEST_ARGS adds options.
## Bytecode is cached (__pycache__/, git-ignored) even where PYTHONDONTWRITEBYTECODE is set: without it
## every worker recompiles the project and rewrites the tests' asserts (~4 s of CPU each), and so does
## every interpreter the tests start.
PYTEST_WORKERS ?= 2
pytest: setup
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

checkov:
	scripts/checkov.sh

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python -m devtools.services -- $(BIN)/python $$b || exit 1; done

## Refresh the committed screenshots in docs/img from the browser tests and the card preview.
screenshots: setup
	SCREENSHOTS_DIR=docs/img $(BIN)/python -m pytest -q tests/test_status_page.py tests/test_actions.py -k "status_html_and_json or browser"
	$(BIN)/python -m devtools.card_preview docs/img/teams-card.png

## Mutation testing of the fast tier (docs/testing.md): per module mutants, killed, survived, score and the survivors.
## MUTATE is the module list; MUTATION_FLAGS e.g. "--limit 40" samples 40 mutants a module, "-j 1" runs one at a time.
MUTATE ?= shared/detect shared/core/catalogue.py shared/notify/escape.py shared/incidents/lifecycle.py
MUTATION_FLAGS ?=
mutation: $(STAMP)
	$(BIN)/python -m devtools.mutate $(MUTATION_FLAGS) $(MUTATE)

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache demo-output
