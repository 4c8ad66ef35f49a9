# Two entry points for a fresh machine (README "Quick start"):
#   make run   compile slo/, prove every generated alert with promtool, start a local
#              Prometheus and Alertmanager (127.0.0.1:9090, :9093), push, and show what loaded
#   make stop  stop that local Prometheus and Alertmanager
#   make test  the lint and type gates (make lint), then the whole test suite
# and one run by hand, never by `make test` (bench/README.md):
#   make bench compile scaling, rule evaluation cost and push throughput; rewrites bench/results/
#              and bench/README.md
# Each sets up what it needs: a virtualenv in .venv and Debian's prometheus and
# prometheus-alertmanager packages (promtool, amtool) when they are missing.

VENV   := .venv
PYTHON ?= python3
SLO    := $(VENV)/bin/slo
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Where `slo push` delivers in `make run`: the local stack of prometheus/local-stack.sh
LOCAL_TARGETS := SLO_PROMETHEUS_URL=http://127.0.0.1:9090 SLO_PROMETHEUS_RULES_DIR=.run/prometheus/rules \
	SLO_ALERTMANAGER_URL=http://127.0.0.1:9093 SLO_ALERTMANAGER_CONFIG=.run/alertmanager/alertmanager.yml

.PHONY: run stop test lint bench setup tools venv clean

run: setup
	$(SLO) compile
	$(SLO) test
	prometheus/local-stack.sh start
	env $(LOCAL_TARGETS) $(SLO) push
	prometheus/local-stack.sh show

stop:
	prometheus/local-stack.sh stop

test: setup lint
	$(VENV)/bin/python -m pytest -q

# The gates (configured in pyproject.toml), before any test runs: a finding fails `make test`
# and so CI (.ci/run). .pre-commit-config.yaml runs the same three for contributors.
LINTED := compiler tests bench
lint: venv
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

# About 55 minutes in all; BENCH_ARGS reach every script's shared options (e.g. --runs 5).
# The rule cost is measured twice, with 20 and with 80 raw series behind each SLO.
bench: setup $(VENV)/.bench-installed
	$(VENV)/bin/python bench/compile_scaling.py $(BENCH_ARGS)
	$(VENV)/bin/python bench/eval_cost.py $(BENCH_ARGS)
	$(VENV)/bin/python bench/eval_cost.py --instances 40 --json bench/results/eval-40-instances.json $(BENCH_ARGS)
	$(VENV)/bin/python bench/push_throughput.py $(BENCH_ARGS)
	$(VENV)/bin/python bench/report.py

$(VENV)/.bench-installed: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	touch $@

setup: venv tools

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

tools:
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then \
		echo "installing Debian's prometheus and prometheus-alertmanager"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus prometheus-alertmanager; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
