# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DAYS   ?= 30

.PHONY: install demo test lint dev clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/finops demo --days $(DAYS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The UI and the daemon (schedules), on the instance in $$DAGSTER_HOME or data/dagster_home.
dev: $(STAMP)
	DAGSTER_HOME="$$($(BIN)/finops dagster-home)" $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) data/landing data/raw data/lake data/quarantine data/warehouse data/reports data/state data/dagster_home data/.staging
