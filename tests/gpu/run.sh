#!/usr/bin/env bash
# The GPU check: install the prebuilt wheel, run the GPU test tier, then the GPU benchmarks.
#
# Run from the repository root on a machine with a CUDA GPU and driver, PyPI's nvidia-* CUDA 13
# libraries, numpy, pytest and (for the benchmarks) torch:
#
#     bash tests/gpu/run.sh
#
# It installs dist-gpu/*.whl into /tmp/mxrs-site (no network, no dependencies; PyPI's cuBLAS and
# NVRTC 13 wheels too, but only where none is installed and a network is at hand), prints the
# machine, runs tests/gpu in three pytest groups (so a hang in one group does not hide the others)
# and then benches/gpu.py, and ends with one line:
#
#     gpu-check: tests P passed F failed S skipped; bench <ok|failed>; <N> s
#
# Logs go to ${OUT:-/tmp}: gpu-tests.log (pytest -v output of every group), gpu-tests.jsonl (one
# line per test result, written as the tests run), gpu-hang.txt (stacks of a test that hung),
# gpu-bench.txt (the benchmark table), gpu-smoke.txt (tools/gpu_smoke.py, run first when present).
# Every step has a timeout; the whole run stays under
# MXRS_GPU_CHECK_BUDGET seconds (default 460). It exits 0 whatever the results, so the logs come
# back; the summary line says what happened.
#
# Environment: MXRS_GPU_MAXFAIL (per group, default 25), MXRS_GPU_BENCH_ARGS (e.g. --quick),
# MXRS_GPU_SKIP_INSTALL=1 (use the mxrs already importable instead of the wheel).

set -u
START=$(date +%s)
BUDGET=${MXRS_GPU_CHECK_BUDGET:-460}
OUT=${OUT:-/tmp}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/../.." || exit 0

LOG="$OUT/gpu-tests.log"
RESULTS="$OUT/gpu-tests.jsonl"
HANG="$OUT/gpu-hang.txt"
BENCH="$OUT/gpu-bench.txt"
: >"$LOG"
: >"$RESULTS"
: >"$HANG"
: >"$BENCH"

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((BUDGET - $(elapsed))); }
section() { echo "== $* ($(elapsed) s)"; }

PY=$(command -v python3 || command -v python || true)
if [ -z "$PY" ]; then
    echo "gpu-check: tests 0 passed 0 failed 0 skipped; bench failed; $(elapsed) s (no python3)"
    exit 0
fi

section "machine"
date -u
timeout 20 nvidia-smi -L 2>&1 || echo "nvidia-smi -L failed"
timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,compute_cap --format=csv 2>&1 || true
"$PY" --version
timeout 60 "$PY" - <<'EOF' 2>&1 || echo "torch probe failed"
import importlib.metadata as md
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
except Exception as exc:
    print("torch unavailable:", exc)
names = sorted(d.metadata["Name"] + "==" + d.version for d in md.distributions()
               if (d.metadata["Name"] or "").lower().startswith(("nvidia", "pytest", "numpy")))
print("packages:", ", ".join(names))
EOF

section "install"
WHEEL=$(ls dist-gpu/*.whl 2>/dev/null | head -n 1)
if [ "${MXRS_GPU_SKIP_INSTALL:-0}" = 1 ]; then
    echo "MXRS_GPU_SKIP_INSTALL=1: using the importable mxrs"
elif [ -n "$WHEEL" ]; then
    echo "wheel: $WHEEL ($(du -h "$WHEEL" | cut -f1))"
    rm -rf /tmp/mxrs-site
    if ! timeout 120 "$PY" -m pip install -q --no-index --no-deps --target /tmp/mxrs-site "$WHEEL" >"$OUT/pip.log" 2>&1; then
        tail -n 5 "$OUT/pip.log"
        echo "pip install failed; unpacking the wheel (a zip) instead"
        rm -rf /tmp/mxrs-site
        timeout 60 "$PY" -m zipfile -e "$WHEEL" /tmp/mxrs-site || echo "unpacking failed too"
    fi
    export PYTHONPATH=/tmp/mxrs-site${PYTHONPATH:+:$PYTHONPATH}
else
    echo "no wheel in dist-gpu/ (build one with: maturin build --release -o dist-gpu)"
fi

# The CUDA libraries mxrs opens (cuBLAS, NVRTC) come from PyPI's nvidia-* wheels. Where none is
# installed (a machine with only a driver), fetch them next to the wheel; skipped without network.
if [ "${MXRS_GPU_SKIP_INSTALL:-0}" != 1 ] && [ -f /tmp/mxrs-site/mxrs/_cuda_libs.py ] && ! timeout 30 "$PY" -c "
import importlib.util, sys
spec = importlib.util.spec_from_file_location('cuda_libs', '/tmp/mxrs-site/mxrs/_cuda_libs.py')
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
sys.exit(0 if m.find_library('libcublas.so.13') and m.find_library('libnvrtc.so.13') else 1)
" >/dev/null 2>&1; then
    echo "no pip-installed cuBLAS/NVRTC 13 found: trying pip install nvidia-cublas nvidia-cuda-nvrtc"
    timeout 180 "$PY" -m pip install -q --timeout 10 --retries 0 --target /tmp/mxrs-site \
        'nvidia-cublas>=13,<14' 'nvidia-cuda-nvrtc>=13,<14' 'nvidia-cuda-runtime>=13,<14' 2>&1 | tail -n 3 ||
        echo "could not install the CUDA libraries"
fi

section "import and smoke test"
timeout 90 "$PY" - <<'EOF' 2>&1 | tail -n 40
import time
t0 = time.perf_counter()
import mxrs as mx
from mxrs import _cuda_libs
print("mxrs", mx.__version__, mx.__file__)
print("build features", mx._native.build_features())
print("num_gpus", mx.num_gpus(), f"({time.perf_counter() - t0:.2f} s after start)")
print("preloaded", _cuda_libs.loaded())
try:
    x = mx.nd.ones((2, 3), ctx=mx.gpu(0))
    y = (x * 2 + 1).sum(axis=1)
    print(y)
    print("first gpu op done", f"({time.perf_counter() - t0:.2f} s after start)")
    z = mx.nd.dot(x, x.T)
    print("dot", z.asnumpy().tolist(), f"({time.perf_counter() - t0:.2f} s after start)")
except Exception as exc:
    print("gpu smoke test failed:", type(exc).__name__, exc)
try:
    print("gpu_memory_info(0)", mx.context.gpu_memory_info(0))
except Exception as exc:
    print("gpu_memory_info failed:", type(exc).__name__, exc)
EOF

if [ -f tools/gpu_smoke.py ]; then
    section "tools/gpu_smoke.py"
    timeout -k 5 60 "$PY" tools/gpu_smoke.py >"$OUT/gpu-smoke.txt" 2>&1
    echo "exit status $?"
    grep -v "^PASS" "$OUT/gpu-smoke.txt" | tail -n 25 | cut -c1-400
fi

TIMEOUT_OPTS=()
if timeout 30 "$PY" -c "import pytest_timeout" 2>/dev/null; then
    TIMEOUT_OPTS=(--timeout=60)
else
    echo "pytest-timeout not installed: relying on the tier's faulthandler watchdog"
fi

export MXRS_GPU_RESULTS="$RESULTS"
export MXRS_GPU_HANG_LOG="$HANG"
# pytest-timeout (when installed) fails a slow test after 60 s and goes on; a test stuck in native
# code ignores that, and the tier's watchdog dumps its stacks and ends pytest after 65 s.
export MXRS_GPU_TEST_HARD_TIMEOUT=${MXRS_GPU_TEST_HARD_TIMEOUT:-65}
# Groups run in order, each in its own pytest process with its own share of the time: basic
# copies and the device runtime first (if they fail, the rest will too), then the op tables.
GROUPS_SPEC=(
    "80:tests/gpu/test_copies.py tests/gpu/test_device.py"
    "110:tests/gpu/test_consistency.py tests/gpu/test_grad.py"
    "75:tests/gpu/test_training.py"
)
# The kernel families' own files (test_gpu_conv.py, test_gpu_layout.py...), one more group.
KERNEL_FILES=$(ls tests/gpu/test_gpu_*.py 2>/dev/null | tr '\n' ' ')
[ -n "$KERNEL_FILES" ] && GROUPS_SPEC+=("60:$KERNEL_FILES")
TEST_END=$(($(elapsed) + ${MXRS_GPU_TEST_BUDGET:-240}))
GROUP_RC=()
for spec in "${GROUPS_SPEC[@]}"; do
    cap=${spec%%:*}
    files=${spec#*:}
    remaining=$((TEST_END - $(elapsed)))
    [ "$cap" -gt "$remaining" ] && cap=$remaining
    if [ "$cap" -lt 10 ]; then
        echo "skipping $files: test time used up" | tee -a "$LOG"
        GROUP_RC+=("skipped")
        continue
    fi
    section "pytest $files (limit $cap s)"
    echo "===== pytest $files (limit $cap s) =====" >>"$LOG"
    # shellcheck disable=SC2086
    timeout -k 10 "$cap" "$PY" -m pytest $files -v -rfEs --durations=10 -p no:cacheprovider \
        --maxfail="${MXRS_GPU_MAXFAIL:-25}" "${TIMEOUT_OPTS[@]}" >>"$LOG" 2>&1
    rc=$?
    GROUP_RC+=("$rc")
    echo "exit status $rc"
    tail -n 1 "$LOG"
    echo
done

section "test results"
COUNTS=$("$PY" - "$RESULTS" "$HANG" <<'EOF' 2>&1
import json, sys
results, hang = sys.argv[1], sys.argv[2]
outcome = {}
used, registered = set(), set()
for line in open(results, encoding="utf-8"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if "ops_used" in r:
        used.update(r["ops_used"])
        registered.update(r["ops_registered"])
        continue
    node = r["nodeid"]
    if r["outcome"] == "failed":
        outcome[node] = "failed"
        first = (r.get("error") or "").strip().splitlines()
        tail = [l for l in first if l.startswith("E ")][:3] or first[-3:]
        print(f"FAILED {node} ({r['when']}): " + " | ".join(s.strip()[:200] for s in tail), file=sys.stderr)
    elif r["outcome"] == "skipped":
        outcome.setdefault(node, "skipped")
    else:
        outcome.setdefault(node, "passed")
started = [l.split(" start ", 1)[1].strip() for l in open(hang, encoding="utf-8") if " start " in l]
hung = [n for n in started if n not in outcome]
for n in hung:
    outcome[n] = "failed"
    print(f"HUNG or killed {n}", file=sys.stderr)
if registered:
    missing = sorted(registered - used)
    print(f"op coverage: {len(used & registered)} of {len(registered)} registered forward ops called on the "
          f"device from Python; not called: {', '.join(missing) or 'none'}", file=sys.stderr)
vals = list(outcome.values())
print(vals.count("passed"), vals.count("failed"), vals.count("skipped"))
EOF
)
echo "$COUNTS" | head -n -1 | head -n 40 | cut -c1-1500
read -r P F S <<<"$(echo "$COUNTS" | tail -n 1)"
case "$P$F$S" in *[!0-9]*|"") P=0; F=0; S=0; echo "could not count the results";; esac
echo "group exit statuses: ${GROUP_RC[*]}"
grep -m 5 "^SKIPPED" "$LOG" | cut -c1-300
if grep -q "most recent call first" "$HANG"; then
    echo "-- a test hung or was killed; stacks from $HANG:"
    grep -B 2 -A 14 "most recent call first" "$HANG" | grep -v "site-packages/\(_pytest\|pluggy\)/" | head -n 60
fi

section "bench"
BENCH_STATUS=failed
bench_limit=$(( $(left) - 5 ))
[ "$bench_limit" -gt 200 ] && bench_limit=200
if [ "$bench_limit" -ge 30 ]; then
    # shellcheck disable=SC2086
    timeout -k 5 "$bench_limit" "$PY" benches/gpu.py --budget $((bench_limit - 15)) ${MXRS_GPU_BENCH_ARGS:-} \
        >"$BENCH" 2>&1
    rc=$?
    [ "$rc" = 0 ] && BENCH_STATUS=ok
    grep -v "^\s*$" "$BENCH" | tail -n 60 | cut -c1-200
    echo "bench exit status $rc"
else
    echo "no time left for the benchmarks"
fi

echo "gpu-check: tests $P passed $F failed $S skipped; bench $BENCH_STATUS; $(elapsed) s"
exit 0
