# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The shared data beside a checkout (CI), unless the caller chose a directory.
SUITE_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export SUITE_DATA_DIR

.PHONY: run test test-fast lint bench bench-ws-aux bench-gpu docs ci-report ci-gate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ray,mlflow,parquet,docs]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/suite run mnist --w-sharing --aux-loss --rounds 10

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# The fast tier, for feedback while working (about 2 minutes on 2 cores): every test not marked slow (pyproject.toml
# lists the marker). `make test`, what CI runs, runs them all.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

# A small real comparison on CPU, as CI runs it: MNIST baseline and the four {w-sharing, aux-loss} settings,
# 3 rounds of 10 epochs each, then the report (reports/ci/report.md, report.html, figures/). --force: reports/ci is
# this Makefile's own folder, which also holds ci-gate's base.db and verdict.md, so that a rerun after ci-gate works.
CI_STORE := reports/ci/suite.db
CI_RUN := $(BIN)/suite run mnist --rounds 3 --epochs 10 --quiet --store $(CI_STORE)
ci-report: $(STAMP)
	$(CI_RUN) --model baseline
	$(CI_RUN) --no-w-sharing --no-aux-loss
	$(CI_RUN) --w-sharing --no-aux-loss
	$(CI_RUN) --no-w-sharing --aux-loss
	$(CI_RUN) --w-sharing --aux-loss
	$(BIN)/suite report --task mnist --store $(CI_STORE) --out reports/ci --force \
		--title "MNIST digit pairs: baseline and the four Siamese settings (CI, 3 rounds × 10 epochs)"

# The CI gate: the same CI experiments trained by the code of BASE_REV (a git worktree in .ci-base/, run with this
# checkout's environment) into reports/ci/base.db, then this code's store compared with it round by round: exit 1
# when an experiment is significantly worse (Holm-adjusted paired p < 0.05). Run after ci-report.
BASE_REV ?= HEAD~1
BASE_DIR := .ci-base
BASE_STORE := $(abspath reports/ci/base.db)
BASE_RUN := cd $(BASE_DIR) && PYTHONPATH=$(abspath $(BASE_DIR)) $(abspath $(BIN))/python -m suite run mnist --rounds 3 \
	--epochs 10 --quiet --store $(BASE_STORE)
ci-gate: $(STAMP)
	rm -rf $(BASE_DIR) $(BASE_STORE) && git worktree prune
	git worktree add --detach --force $(BASE_DIR) $(BASE_REV)
	$(BASE_RUN) --model baseline
	$(BASE_RUN) --no-w-sharing --no-aux-loss
	$(BASE_RUN) --w-sharing --no-aux-loss
	$(BASE_RUN) --no-w-sharing --aux-loss
	$(BASE_RUN) --w-sharing --aux-loss
	git worktree remove --force $(BASE_DIR)
	$(BIN)/suite compare --task mnist --store $(CI_STORE) --against $(BASE_STORE) --fail-if-worse \
		--format markdown > reports/ci/verdict.md; status=$$?; cat reports/ci/verdict.md; exit $$status

# The benchmark publishes its own tables into docs/generated/, which docs/performance.md includes as they are.
bench: $(STAMP)
	$(BIN)/python -m benchmarks --publish docs/generated/bench.md

# The 3× check of ws+aux (median of 3 runs taken in turns), and the GPU table on a machine with CUDA.
bench-ws-aux: $(STAMP)
	$(BIN)/python -m benchmarks --only ws+aux --no-lfw --repeat 3 --publish docs/generated/bench-ws-aux.md
bench-gpu: $(STAMP)
	$(BIN)/python -m benchmarks --cuda-only --compile --publish docs/generated/bench-cuda.md

# The documentation site, into site/; --strict fails on a broken link, anchor or include.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) build *.egg-info
