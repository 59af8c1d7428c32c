# The two commands a newcomer needs are `make demo` and `make test`; each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH := .bench-venv

.PHONY: install test lint demo bench mutate screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		echo "note: no Chromium here, so the web page's browser tests are skipped (apt-get install chromium)"
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check uploader tests benchmarks tools
	$(BIN)/ruff format --check uploader tests benchmarks tools
	$(BIN)/mypy uploader

demo: install
	$(BIN)/invoca-upload demo

# The figures are taken as users get the tool: built and installed from a wheel into a venv of its
# own, without the test tools (with hypothesis installed, pandera loads its strategies at start-up).
bench:
	test -x $(BENCH)/bin/python || $(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install --quiet --upgrade pip
	rm -rf build && $(BENCH)/bin/python -m pip install --quiet .
	$(BENCH)/bin/python benchmarks/run.py

# Mutation testing of the guarantees (tools/mutate.py): every test that runs a mutated line is
# run against it; within MINUTES (default 50), so outside `make test`. Scores per guarantee.
mutate: install
	$(BIN)/python -m pip install --quiet 'cosmic-ray>=8.4' 'coverage>=7.10'
	$(BIN)/python tools/mutate.py --minutes $(or $(MINUTES),50) $(MODULES)

# The README's pictures of the page, retaken by the browser tests that walk through it.
screenshots: install
	SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q tests/test_ui.py \
		-k "from_file_to_results or stop_in_the_page or mapping_describes"

clean:
	rm -rf $(VENV) $(BENCH) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
