# charlstm: `make up` runs the service on embedded defaults, `make test` runs the whole suite.
# Two installs into one .venv, each with its stamp: `make up` installs what the service imports
# (pyproject.toml's dependencies); `make test`, `make lint` and the benchmarks add the test tools and
# the other Keras backends (the `test` and `backends` extras) on top, so `make test` after `make up`
# installs only the extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICE_STAMP := $(VENV)/.installed-service
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev test lint bench bench-fleet bench-recipe bench-gpu up clean

install: $(SERVICE_STAMP)

install-dev: $(DEV_STAMP)

$(SERVICE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(SERVICE_STAMP)

$(DEV_STAMP): $(SERVICE_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,backends]'
	touch $(DEV_STAMP)

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install-dev
	$(BIN)/python -m benchmarks

# a simulated fleet on PostgreSQL (127.0.0.1:5432) and Redis db 13: FLEET_SIZES=1000,10000,100000 jobs;
# bench-results/fleet.md (docs/operations.md: "At scale")
bench-fleet: install-dev
	$(BIN)/python -m benchmarks.fleet

# the measurements behind the budgeted recipe (docs/recipe.md): RECIPE_BUDGET, RECIPE_CHARS, RECIPE_SEEDS, RECIPE_ROWS;
# bench-results/recipe.md
bench-recipe: install-dev
	$(BIN)/python -m benchmarks.recipe

# the paper's run on this machine's accelerator, for BENCH_GPU_BUDGET seconds (docs/benchmarks.md: "GPU benchmark")
bench-gpu: install-dev
	$(BIN)/python -m benchmarks.paper_run

up: install
	$(BIN)/python -m services.launcher

clean:
	rm -rf $(VENV) var bench-results

# the paper's open questions (STUDY_SCALE=full|tiny|paper); report in bench-results/study.md
.PHONY: study
study: install-dev
	$(BIN)/python -m benchmarks.study
