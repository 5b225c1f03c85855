# charlstm: `make up` runs the service on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint bench bench-gpu up clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,backends]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m benchmarks

# the paper's run on this machine's accelerator, for BENCH_GPU_BUDGET seconds (docs/benchmarks.md: "GPU benchmark")
bench-gpu: install
	$(BIN)/python -m benchmarks.paper_run

up: install
	$(BIN)/python -m services.launcher

clean:
	rm -rf $(VENV) var bench-results

# issue 12: the paper's open questions (STUDY_SCALE=full|tiny|paper); report in bench-results/study.md
.PHONY: study
study: install
	$(BIN)/python -m benchmarks.study
