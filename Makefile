# mxrs developer commands. `make demo` builds mxrs and runs the seed tutorial's examples;
# `make test` runs every test (Rust and Python). Both create the virtualenv they need.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# One cargo profile for the wheel, the Rust tests and the examples, so that `make demo` then
# `make test` compile the workspace once: dev-opt (optimised, no LTO, incremental). `make bench`
# and `make wheel` use release (thin LTO), which benchmarks and published wheels need.
PROFILE ?= dev-opt
# The same environment for maturin and cargo, so pyo3's build script sees the same interpreter
# and nothing is rebuilt between them.
CARGO_ENV := VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH PYO3_PYTHON=$(abspath $(PY))

.PHONY: demo test test-rust test-python build wheel venv bench lint typecheck fmt clean fuzz mpi torch cuda-check

venv: $(VENV)/.deps
$(VENV)/.deps: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q 'maturin>=1.9.4,<2' 'numpy>=1.23' scipy-openblas32 pytest hypothesis ruff mypy matplotlib scikit-learn 'moto[server]' graphviz onnx onnxruntime 'pandas<3' 'ipython<9' tensorboardX
	# tensorboardX (pure Python, on the protobuf onnx already needs): the event-file writer of the
	# mx.contrib.tensorboard tests.
	# tests/d2l run the d2l book's helper package unchanged; its declared dependencies (jupyter)
	# are not needed: it imports IPython.display (whose set_matplotlib_formats IPython 9 removed);
	# the book's house-price code selects numeric columns by dtype != object (pandas 3 has str).
	$(PY) -m pip install -q --no-deps d2lzh==1.0.0
	touch $@

build: venv
	$(CARGO_ENV) maturin develop --profile $(PROFILE) -q
	$(PY) tools/gen_ops.py --check

demo: build
	MPLBACKEND=Agg $(PY) demo/seed_demo.py

# The Rust tests load the same OpenBLAS as the Python package (scipy-openblas32), so the BLAS
# path of large float32 products is tested from Rust too.
BLAS_LIB = $(shell $(PY) -c "import os, scipy_openblas32 as s; print(os.path.join(s.get_lib_dir(), s.get_library(fullname=True)))" 2>/dev/null)

# mxrs-py has no Rust tests (`test = false` in its Cargo.toml): the test build resolves features
# as the wheel build does and reuses its artifacts, and never builds pyo3 in another environment.
test-rust: venv
	$(CARGO_ENV) MXRS_BLAS_LIBRARY=$(BLAS_LIB) cargo test --workspace --profile $(PROFILE)

# The distributed kvstore tests start processes with Open MPI's mpirun (libmpi is opened at run
# time: no build dependency). Installed when missing where apt-get and root are available;
# otherwise those tests are skipped.
mpi:
	@command -v mpirun >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y openmpi-bin >/dev/null; } || \
	  echo "mpirun not found: the dist kvstore tests will be skipped (apt-get install openmpi-bin)"

# The PyTorch interop tests (tests/unit/test_dlpack.py: DLPack both ways) need torch. It is a
# test-only package (about 4.7 GB, about 70 s to install), so it goes into the venv once, here,
# and not in `make venv` or `make demo`; without it those tests are skipped.
TORCH_VERSION ?= 2.13.0
torch: $(VENV)/.torch
$(VENV)/.torch: | $(VENV)/.deps
	$(PY) -m pip install -q 'torch==$(TORCH_VERSION)'
	touch $@

# The CUDA backend's kernels (crates/ndarray-core/src/backend/cuda/kernels/*.cu) are compiled at run
# time by NVRTC; `make cuda-check` compiles each of them for sm_80 and sm_90 with the same options
# and prints ptxas's register/spill report, with no GPU and no CUDA toolkit: NVRTC and ptxas come
# from PyPI's nvidia-cuda-nvrtc and nvidia-cuda-nvcc, installed into the venv once (about 330 MB).
# --no-deps: only libnvrtc and ptxas are used, not nvcc's dependencies (crt, cudart, nvvm).
CUDA_VERSION ?= 13.0.88
cuda-check: $(VENV)/.cuda-$(CUDA_VERSION)
	$(PY) tools/cuda_check.py
$(VENV)/.cuda-$(CUDA_VERSION): | $(VENV)/.deps
	$(PY) -m pip install -q --no-deps 'nvidia-cuda-nvrtc==$(CUDA_VERSION)' 'nvidia-cuda-nvcc==$(CUDA_VERSION)'
	touch $@

test-python: build mpi torch
	$(PY) -m pytest tests -q

test: test-rust test-python

bench: venv
	$(MAKE) build PROFILE=release
	$(PY) benches/run.py

# Fuzz the readers of untrusted bytes (NDArray files, pickled arrays, RecordIO, Symbol JSON,
# images) with FUZZ_RUNS inputs per target, release build; see crates/fuzz/README.md.
FUZZ_RUNS ?= 100000
fuzz:
	cargo run -p mxrs-fuzz --release -- all --runs $(FUZZ_RUNS)

wheel: venv
	$(CARGO_ENV) maturin build --release -o dist

lint: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches tools demo
	$(VENV)/bin/ruff format --check python tests benches tools demo
	$(PY) tools/import_cycles.py --rust
	$(MAKE) typecheck

# mypy over the package, and the extension's stub against the compiled module.
typecheck: build
	$(PY) -m mypy
	$(PY) -m mypy.stubtest mxrs._native

fmt: venv
	cargo fmt --all
	$(VENV)/bin/ruff format python tests benches tools demo

clean:
	cargo clean
	rm -rf $(VENV) dist
