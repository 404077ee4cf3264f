# dvc-pedata: `make demo` runs the example registry end to end; `make test` runs the suite;
# `make lint` runs ruff and mypy (CI runs lint, then the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: setup setup-system demo test lint bench site

setup: $(STAMP) setup-system

# Browser tests (tests/test_site.py) drive Debian's chromium through Playwright, and lineage's
# DOT output is rendered to SVG by Graphviz (both from Debian's packages); Playwright's own
# browser download is never used. Installs it only when missing and only as root (CI starts fresh);
# otherwise the browser tests skip and say why.
setup-system:
	@if { [ ! -x /usr/bin/chromium ] || ! command -v dot >/dev/null; } && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium graphviz; \
	fi

# editable_mode=compat: a plain .pth path entry; the default editable finder costs ~30 ms per
# interpreter start, a third of a warm-cache `pedata get`.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider

# ruff, then mypy against tools/mypy-baseline.txt (known errors only; the file may only shrink).
lint: setup
	$(BIN)/ruff check dvc_pedata tests pipeline bench tools
	$(BIN)/python tools/mypy_baseline.py

site: setup
	$(BIN)/python -m dvc_pedata site -o site

bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py
