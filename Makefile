# Bullseye. Quick start: `make run` (the app) and `make test` (the whole suite).
# Each creates .venv on first use and reinstalls only when the requirements change.

# The first interpreter that really runs and is 3.11+ (pyenv shims exist for versions that do not run).
PY ?= $(shell for p in python3 python3.13 python3.12 python3.11; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test bench lint samples clean

$(BIN)/.installed: requirements.txt
	@test -n "$(PY)" || { echo "Bullseye needs Python 3.11 or newer: install it, or run make PY=/path/to/python3.11"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(BIN)/.dev-installed: $(BIN)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(BIN)/.installed
	@echo "Bullseye is starting on http://localhost:$(PORT) (samples are one click away on the Upload page)"
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: $(BIN)/.dev-installed
	@bash tools/ensure_chromium.sh
	$(BIN)/python -m pytest -n 2

bench: $(BIN)/.dev-installed
	$(BIN)/python -m bench.run --notebook-1m --scale

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check .

samples: $(BIN)/.installed
	$(BIN)/python sample_data/make_samples.py

clean:
	rm -rf $(VENV) .pytest_cache
