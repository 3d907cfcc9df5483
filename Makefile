# Two commands do all the set-up on a fresh machine:
#   make report   venv + LaTeX, then the default config end to end -> reports/diffglat-report.pdf
#   make test     venv, then the test suite (what CI runs)
VENV   := .venv
PYTHON ?= python3
CORES  ?= 2
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup report smoke test lint clean

setup: $(VENV)/.installed
	@scripts/install-system-packages.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --editable '.[test]'
	touch $@

report: setup
	snakemake --cores $(CORES)

smoke: setup
	snakemake --cores $(CORES) --configfile config/smoke.yaml

test: setup
	pytest -q

lint: setup
	snakemake --lint
	snakefmt --check Snakefile workflow/rules
	ruff check .

clean:
	rm -rf data results reports .snakemake
