# Every target installs what it needs into the project-local virtualenv (.venv) first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MODELS ?= models
PYTEST_ARGS ?=

.PHONY: setup run test models lint bench test-snapshot-update clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Open the app on the demo models, building them first if they are missing.
run: setup
	@test -f $(MODELS)/demo_manifest.json || $(MAKE) models
	$(BIN)/layerscope $(MODELS)

# Train ResNet-8 on the embedded digits data and write every demo format into models/.
models: setup
	$(BIN)/layerscope demo --out $(MODELS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check layerscope engine tui tests
	$(BIN)/ruff format --check layerscope engine tui tests
	$(BIN)/lint-imports

# Benchmarks print ratios against baselines measured in the same run; they are not tests. Each
# appends its issue-14 rows to $(BENCH_ROWS); summary.py ends with the table (target, figure,
# floor, met), "met twice" where the previous `make bench` (rows kept beside) met it too.
BENCH_ROWS := build/bench/rows.jsonl
bench: setup
	@test -f $(MODELS)/demo_manifest.json || $(MAKE) models
	@mkdir -p $(dir $(BENCH_ROWS)); if [ -f $(BENCH_ROWS) ]; then mv $(BENCH_ROWS) $(BENCH_ROWS).prev; fi
	@status=0; for b in tests/bench/bench_*.py; do echo "== $$b"; \
	  LAYERSCOPE_BENCH_ROWS=$(BENCH_ROWS) $(BIN)/python $$b || status=1; done; \
	$(BIN)/python tests/bench/summary.py $(BENCH_ROWS) $(BENCH_ROWS).prev; exit $$status

test-snapshot-update: setup
	$(BIN)/python -m pytest tests/tui --snapshot-update

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
