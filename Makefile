# Switchboard: the README names two targets, `make serve` and `make test`; the rest are their parts.
PYTHON ?= python3
VENV ?= .venv
SAM_VENV ?= .sam-venv
PORT ?= 3000
STATE_FILE ?= .switchboard/state.json
BIN := $(VENV)/bin
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: install serve test lint format typecheck validate unit openapi build build-check bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $@

# aws-sam-cli pins click exactly: it gets its own environment so it never constrains ours.
$(SAM_VENV)/bin/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli>=1.130,<2'
	touch $@

install: $(BIN)/.installed

serve: install
	$(BIN)/switchboard local serve --port $(PORT) --state-file $(STATE_FILE)

test: lint validate unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/switchboard switchboard_cli tests bench
	for function in functions/*/; do $(BIN)/mypy $$function || exit 1; done

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

validate: install $(SAM_VENV)/bin/.installed
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template-file template.yaml

unit: install $(SAM_VENV)/bin/.installed
	$(BIN)/pytest

openapi: install
	$(BIN)/python -m switchboard_cli.openapi --write

# packaging/Makefile builds each function and the layer with python3.13 (the runtime's version) on PATH;
# under pyenv with another version active, its 3.13 is selected for the build.
RUNTIME_PYENV := $(shell python3.13 -V >/dev/null 2>&1 || pyenv versions --bare 2>/dev/null | grep -m1 '^3\.13')
build: export PYENV_VERSION := $(or $(RUNTIME_PYENV),$(PYENV_VERSION))
build: $(SAM_VENV)/bin/.installed
	$(SAM_VENV)/bin/sam build

# Builds, then checks the output: bytecode for the runtime beside every module, one boto3/botocore pair.
build-check: install build
	$(BIN)/pytest -q tests/infra/test_build.py tests/infra/test_layer_dependencies.py

# dynamiq pins pydantic and (through litellm) openai below what .venv resolves, so the comparison engines
# get their own environment with this project installed in it; bench.run runs the comparison there.
BENCH_VENV ?= .bench-venv

$(BENCH_VENV)/bin/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	printf '*\n' > $(BENCH_VENV)/.gitignore
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench,local]'
	touch $@

bench: install $(BENCH_VENV)/bin/.installed
	BENCH_PYTHON=$(BENCH_VENV)/bin/python $(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) $(SAM_VENV) $(BENCH_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
