# newsbeam: `make run` (install + demo) and `make test` (install + suite) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data
OUT    ?= demo-output

.PHONY: install run test lint bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	rm -rf $(OUT)  # a fresh demo each time (run `newsbeam demo` twice yourself to see an incremental run)
	$(BIN)/newsbeam demo --output $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check pipeline transforms schemas tests benchmarks samples examples

bench: $(STAMP)
	$(BIN)/python -m benchmarks.e2e --data $(DATA)
	$(BIN)/python -m benchmarks.fetch
	$(BIN)/python -m benchmarks.extraction --data $(DATA)
	$(BIN)/python -m benchmarks.dedup --data $(DATA)
	$(BIN)/python -m benchmarks.names
	$(BIN)/python -m benchmarks.ner --data $(DATA)
	$(BIN)/python -m benchmarks.parallel --data $(DATA)

clean:
	rm -rf $(VENV) $(OUT) build dist *.egg-info benchmarks/.work
