# Two entry points for a fresh machine (README "Quick start"):
#   make run   compile slo/, prove every generated alert with promtool, start a live local stack
#              on 127.0.0.1 (Prometheus, Alertmanager, node and blackbox exporters, the demo
#              workload, capture receivers), push, and say where to look; logs under .run/
#   make run ENGINE=vm   the same on VictoriaMetrics and vmalert in Prometheus' place (the
#              vmalert rules, proven on vmalert too)
#   make fault SERVICE=name [SLO=name] RATIO=0..1   the demo workload fails (or slows) that
#              share of the objective's requests; make heal ends every fault
#   make stop  stop every process make run started (by pid)
#   make test  the lint and type gates (make lint), then the whole test suite
#   make audit the pinned dependencies against PyPI's advisory data (not yet part of make test:
#              mypy's ast-serialize is not on PyPI, so pip-audit cannot audit it and fails)
# and one run by hand, never by `make test` (bench/README.md):
#   make bench compile scaling, rule evaluation cost and push throughput; rewrites bench/results/
#              and bench/README.md
# Each sets up what it needs: a virtualenv in .venv (the versions of constraints.txt) and the
# Debian packages of `make tools` when their commands are missing.
#   make constraints  re-resolve constraints.txt from pyproject.toml's ranges (then review, test)

VENV   := .venv
PYTHON ?= python3
ENGINE ?= prom
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run stop fault heal test lint audit constraints bench setup tools venv clean

# A short story on the terminal; pip's and apt's output go to .run/setup.log (its tail on failure).
run:
	@mkdir -p .run
	@echo "setting up: .venv and Debian packages (log: .run/setup.log)"
	@if ! $(MAKE) --no-print-directory setup >.run/setup.log 2>&1; then \
		echo "set-up failed; last lines of .run/setup.log:"; tail -n 25 .run/setup.log; exit 1; fi
	@ENGINE=$(ENGINE) prometheus/local-stack.sh run

stop:
	@prometheus/local-stack.sh stop

fault:
	@$(VENV)/bin/python demo/workload.py fault --service "$(SERVICE)" --slo "$(SLO)" --ratio "$(RATIO)" \
		--env "$$(grep -qx vm .run/engine 2>/dev/null && echo local-vm || echo local)"

heal:
	@$(VENV)/bin/python demo/workload.py heal

# Three workers, a test file each at a time (its module fixtures and servers stay in one
# process): the suite mostly waits on real servers, and the waits overlap.
test: setup lint
	$(VENV)/bin/python -m pytest -q -n 3 --dist loadfile --durations=15

# The gates (configured in pyproject.toml), before any test runs: a finding fails `make test`
# and so CI (.ci/run). .pre-commit-config.yaml runs the same three for contributors.
LINTED := compiler tests bench demo
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
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test,demo]'
	touch $@

# The newest versions pyproject.toml's ranges allow, resolved in a scratch virtualenv, pinned
# into constraints.txt. Review the diff and run `make test` (which audits them) before committing.
constraints:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/pip" install -q --upgrade pip && \
	"$$tmp/venv/bin/pip" install -q -e '.[test,demo,bench]' && \
	{ echo "# Every package \`make\` installs (pip install -c constraints.txt -e '.[test,demo,bench]'), pinned."; \
	  echo "# Written by \`make constraints\` from pyproject.toml's ranges; \`make test\` audits it."; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable; } >constraints.txt.new && \
	mv constraints.txt.new constraints.txt

# Debian's packages, each installed when its command is missing: promtool and amtool (slo test,
# slo push), the exporters and VictoriaMetrics of the local stack and benchmarks, chromium and its
# chromedriver (the browser test of `slo report`), openssl (the demo's short-lived certificate).
TOOLS := promtool:prometheus amtool:prometheus-alertmanager \
	prometheus-alertmanager:prometheus-alertmanager \
	prometheus-node-exporter:prometheus-node-exporter \
	prometheus-blackbox-exporter:prometheus-blackbox-exporter \
	victoria-metrics:victoria-metrics chromium:chromium chromedriver:chromium-driver openssl:openssl
tools:
	@missing=$$(for t in $(TOOLS); do command -v "$${t%%:*}" >/dev/null || echo "$${t#*:}"; done | sort -u); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian's" $$missing; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
