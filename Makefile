# Two entry points for a fresh machine (README "Quick start"):
#   make run   compile slo/, prove every generated alert with promtool, start a local
#              Prometheus and Alertmanager (127.0.0.1:9090, :9093), push, and show what loaded
#   make stop  stop that local Prometheus and Alertmanager
#   make test  the lint and type gates (make lint), then the whole test suite
#   make audit the pinned dependencies against PyPI's advisory data (not yet part of make test:
#              mypy's ast-serialize is not on PyPI, so pip-audit cannot audit it and fails)
# and one run by hand, never by `make test` (bench/README.md):
#   make bench compile scaling, rule evaluation cost and push throughput; rewrites bench/results/
#              and bench/README.md
# Each sets up what it needs: a virtualenv in .venv (the versions of constraints.txt) and Debian's
# prometheus and prometheus-alertmanager packages (promtool, amtool) when they are missing.
#   make constraints  re-resolve constraints.txt from pyproject.toml's ranges (then review, test)

VENV   := .venv
PYTHON ?= python3
SLO    := $(VENV)/bin/slo
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Where `slo push` delivers in `make run`: the local stack of prometheus/local-stack.sh
LOCAL_TARGETS := SLO_PROMETHEUS_URL=http://127.0.0.1:9090 SLO_PROMETHEUS_RULES_DIR=.run/prometheus/rules \
	SLO_ALERTMANAGER_URL=http://127.0.0.1:9093 SLO_ALERTMANAGER_CONFIG=.run/alertmanager/alertmanager.yml

.PHONY: run stop test lint audit constraints bench setup tools venv clean

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

# Every version constraints.txt pins, against PyPI's advisory data (pip-audit, over the network):
# a finding fails `make test`. PyPI may serve no data for a release (a mirror that only has the
# newest, no network): pip-audit then skips that package. That is said in one line, and fails the
# audit where CI is set (CI=true, as CI services set it), where an audit that did not run must not
# pass. The full report is in .venv/audit.log.
AUDIT := $(VENV)/bin/pip-audit --requirement constraints.txt --no-deps --disable-pip \
	--progress-spinner off $(if $(CI),--strict)
audit: venv
	@if ! $(AUDIT) >$(VENV)/audit.log 2>&1; then cat $(VENV)/audit.log; exit 1; fi; \
	skipped=$$(grep -c 'could not be audited' $(VENV)/audit.log); \
	if [ "$$skipped" != 0 ]; then \
		echo "pip-audit: PyPI served no advisory data for $$skipped pinned package(s): not audited"; \
	fi

# About 55 minutes in all; BENCH_ARGS reach every script's shared options (e.g. --runs 5).
# The rule cost is measured twice, with 20 and with 80 raw series behind each SLO.
bench: setup $(VENV)/.bench-installed
	$(VENV)/bin/python bench/compile_scaling.py $(BENCH_ARGS)
	$(VENV)/bin/python bench/eval_cost.py $(BENCH_ARGS)
	$(VENV)/bin/python bench/eval_cost.py --instances 40 --json bench/results/eval-40-instances.json $(BENCH_ARGS)
	$(VENV)/bin/python bench/push_throughput.py $(BENCH_ARGS)
	$(VENV)/bin/python bench/report.py

$(VENV)/.bench-installed: $(VENV)/.installed
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test,bench]'
	touch $@

setup: venv tools

venv: $(VENV)/.installed

# Installs exactly the versions of constraints.txt (a lock: every package of the test extra and
# what they need), so that every machine and CI test the same code.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test]'
	touch $@

# The newest versions pyproject.toml's ranges allow, resolved in a scratch virtualenv, pinned
# into constraints.txt. Review the diff and run `make test` (which audits them) before committing.
constraints:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/pip" install -q --upgrade pip && \
	"$$tmp/venv/bin/pip" install -q -e '.[test]' && \
	{ echo "# Every package \`make\` installs (pip install -c constraints.txt -e '.[test]'), pinned."; \
	  echo "# Written by \`make constraints\` from pyproject.toml's ranges; \`make test\` audits it."; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable; } >constraints.txt.new && \
	mv constraints.txt.new constraints.txt

tools:
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then \
		echo "installing Debian's prometheus and prometheus-alertmanager"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus prometheus-alertmanager; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
