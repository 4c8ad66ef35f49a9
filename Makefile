# Two entry points for a fresh machine (README "Quick start"):
#   make run   compile slo/ and prove every generated alert with promtool
#   make test  the whole test suite
# Both set up what they need: a virtualenv in .venv and Debian's prometheus and
# prometheus-alertmanager packages (promtool, amtool) when they are missing.

VENV   := .venv
PYTHON ?= python3
SLO    := $(VENV)/bin/slo
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup tools venv clean

run: setup
	$(SLO) compile
	$(SLO) test

test: setup
	$(VENV)/bin/python -m pytest -q

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
