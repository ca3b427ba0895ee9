# NovaEnergy: the two commands are `make demo` and `make test`. Nothing needs setting up by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export UV_PYTHON_DOWNLOADS := never
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# Dagster and GX phone home by default; this project's machines have no internet.
export DAGSTER_DISABLE_TELEMETRY := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: help install demo dev notebooks test fuzz-long test-v2g test-island bench lint clean env

help:
	@echo "make demo    install, then build the sample site and materialize every asset"
	@echo "make test    install, then run the test suite"
	@echo "make fuzz-long  the fuzzers and the ledger state machine at ten times CI's depth, at random"
	@echo "make test-v2g  install, then the 50-EV fleet-day planner tests (limits, V2G, priorities)"
	@echo "make test-island  install, then the evening-peak blackout: island mode, shedding, reserve, return"
	@echo "make dev     Dagster UI on 127.0.0.1:3000, Streamlit on 127.0.0.1:8501, simulated devices"
	@echo "make notebooks  JupyterLab on 127.0.0.1:8888 with the analyst notebooks (run make demo first)"
	@echo "make bench   benchmarks (ratios against baselines measured in the same run)"
	@echo "make lint    ruff"
	@echo "make clean   remove the lake, warehouse, raw files and Dagster state"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

PEERS_NODE := tests/peers/ocpp_rpc/node_modules/.installed

install: $(STAMP) .env $(DAGSTER_HOME)/dagster.yaml

# the strict OCPP station the CSMS is tested against (npm ocpp-rpc), from its lock file
$(PEERS_NODE): tests/peers/ocpp_rpc/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the OCPP peer tests (apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix tests/peers/ocpp_rpc --no-audit --no-fund --loglevel=error
	@touch $@

.env:
	cp .env.example .env

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\n' > $@

demo: install
	$(BIN)/novaenergy demo

dev: install
	@echo "Dagster UI: http://127.0.0.1:3000   Streamlit: http://127.0.0.1:8501   simulated devices: SunSpec :5020/:5021, MQTT :1883, OCPP :9000; control API: http://127.0.0.1:8000/docs"
	@trap 'kill 0' EXIT INT TERM; \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000 & \
	$(BIN)/streamlit run dashboards/app.py & \
	$(BIN)/novaenergy sim devices & \
	sleep 3; $(BIN)/novaenergy control serve & \
	wait

notebooks: install
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=8888 --no-browser notebooks/

test: install $(PEERS_NODE)
	$(BIN)/python -m pytest -q

# the fuzzers and the ledger's state machine at ten times CI's depth, drawn at random (~1 h)
fuzz-long: install $(PEERS_NODE)
	NOVAENERGY_FUZZ_SCALE=10 LEDGER_STATEFUL_EXAMPLES=3000 $(BIN)/python -m pytest -q tests/fuzz tests/pipelines/certificates/test_ledger_properties.py

test-v2g: install
	$(BIN)/python -m pytest -q tests/pipelines/planning/test_fleet.py

test-island: install
	$(BIN)/python -m pytest -q tests/control/test_island_blackout.py tests/control/test_island.py tests/control/test_island_end_to_end.py

bench: install
	$(BIN)/python -m bench.bench_meters
	$(BIN)/python -m bench.bench_carbon
	$(BIN)/python -m bench.bench_certificates
	$(BIN)/python -m bench.bench_vampire
	$(BIN)/python -m bench.bench_forecasts
	$(BIN)/python -m bench.bench_planning
	$(BIN)/python -m bench.bench_ocpp
	$(BIN)/python -m bench.bench_mqtt
	$(BIN)/python -m bench.bench_scale

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf data/lake data/raw data/drop data/warehouse.duckdb data/warehouse.duckdb.wal data/reports data/plans data/exports data/go_ledger.duckdb data/go_ledger.duckdb.wal data/mqtt data/ocpp data/control $(DAGSTER_HOME)
