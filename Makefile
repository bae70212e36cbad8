# mxrs developer commands. `make demo` builds mxrs and runs the seed tutorial's examples;
# `make test` runs every test (Rust and Python). Both create the virtualenv they need.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# release: optimised wheel (benchmarks, demo); dev-opt: faster to build, still optimised.
PROFILE ?= release
STAMP := $(VENV)/.mxrs-built-$(PROFILE)

.PHONY: demo test test-rust test-python build venv bench lint typecheck fmt clean

venv: $(VENV)/.deps
$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q 'maturin>=1.9.4,<2' 'numpy>=1.23' pytest hypothesis ruff matplotlib scikit-learn
	touch $@

build: venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH maturin develop --profile $(PROFILE) -q
	$(PY) tools/gen_ops.py --check

demo: build
	MPLBACKEND=Agg $(PY) demo/seed_demo.py

test-rust:
	cargo test --workspace

test-python: build
	$(PY) -m pytest tests -q

test: test-rust test-python

bench: build
	$(PY) benches/run.py

lint: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches tools demo
	$(VENV)/bin/ruff format --check python tests benches tools demo
	$(PY) tools/import_cycles.py
	$(MAKE) typecheck

# mypy over the package, and the extension's stub against the compiled module.
typecheck: build
	$(PY) -m mypy --version >/dev/null 2>&1 || $(PY) -m pip install -q mypy
	$(PY) -m mypy
	$(PY) -m mypy.stubtest mxrs._native

fmt: venv
	cargo fmt --all
	$(VENV)/bin/ruff format python tests benches tools demo

clean:
	cargo clean
	rm -rf $(VENV) dist
