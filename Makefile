# jupyter-mlops: `make demo` runs the quickstart end to end, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= $(CURDIR)/demo-project

export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1

.PHONY: install demo test lint browser-deps clean

# A venv with the package (editable; its JupyterLab extension is built with node) + test tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# The quickstart notebook, executed headless by `jupyter mlops run` in a scratch project of its
# own (its own git repo, DVC and mlflow.db): nothing is committed into this checkout.
demo: install
	$(BIN)/jupyter mlops run notebooks/quickstart.ipynb -p demo_dir=$(DEMO_DIR) --tracking-uri sqlite:///$(DEMO_DIR)/mlflow.db -o $(DEMO_DIR)/quickstart.ipynb --progress

# Debian's Chromium for the browser tests (Playwright's own download does not work offline).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: install browser-deps
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(DEMO_DIR) build dist
