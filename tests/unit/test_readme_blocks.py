"""Every ```python block of README.md runs as written.

The blocks run in order in one fresh interpreter, in a scratch directory, each seeing the
names the earlier ones made (as a reader typing them in would). A block right below
``<!-- readme-test: skip REASON -->`` is skipped with that reason; one below
``<!-- readme-test: needs MODULE -->`` is skipped when that optional package is missing
(``needs gpu``: when this machine has no GPU). The
```rust block must be the code of its example file.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
README = os.path.join(ROOT, "README.md")
EXAMPLE = os.path.join(ROOT, "crates", "ndarray-core", "examples", "embed_ndarray.rs")

_BLOCK = re.compile(r"(?:<!-- readme-test: (\w+) ?(.*?) -->\n)?```(\w+)\n(.*?)```", re.S)

# Run inside the child: exec each block in one namespace, report each outcome as a JSON line.
_RUNNER = r"""
import json, sys, traceback
blocks = json.loads(sys.stdin.read())
ns = {"__name__": "__main__"}
for i, code in blocks:
    try:
        exec(compile(code, f"README block {i}", "exec"), ns)
    except BaseException:
        print("@@" + json.dumps([i, traceback.format_exc()]), flush=True)
        sys.exit(1)
    print("@@" + json.dumps([i, None]), flush=True)
"""


def _num_gpus():
    import mxrs

    return mxrs.num_gpus()


def blocks(lang="python"):
    """(index, code, skip reason or None) of every block of ``lang``, in order."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    out = []
    for m in _BLOCK.finditer(text):
        kind, arg, block_lang, code = m.groups()
        if block_lang != lang:
            continue
        reason = None
        if kind == "skip":
            reason = arg or "marked skip"
        elif kind == "needs" and arg == "gpu":
            if _num_gpus() == 0:
                reason = "needs a GPU"
        elif kind == "needs" and importlib.util.find_spec(arg) is None:
            reason = f"needs the optional package {arg!r}"
        out.append((len(out), code, reason))
    return out


PY_BLOCKS = blocks()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run the blocks once; map each index to None (ran) or its traceback."""
    todo = [[i, code] for i, code, reason in PY_BLOCKS if reason is None]
    env = dict(os.environ, MPLBACKEND="Agg", MXRS_PROGRESS="0")
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(todo),
        capture_output=True,
        text=True,
        cwd=tmp_path_factory.mktemp("readme"),
        env=env,
        timeout=300,
    )
    got = {}
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            i, err = json.loads(line[2:])
            got[i] = err
    got["stderr"] = proc.stderr[-3000:]
    return got


@pytest.mark.parametrize("index", [i for i, _, _ in PY_BLOCKS])
def test_readme_python_block_runs(index, outcomes):
    _, code, reason = PY_BLOCKS[index]
    if reason is not None:
        pytest.skip(f"README block {index}: {reason}")
    first = code.strip().splitlines()[0]
    assert index in outcomes, (
        f"README block {index} ({first}) did not run (an earlier block failed?)\n{outcomes['stderr']}"
    )
    assert outcomes[index] is None, f"README block {index} ({first}) failed:\n{outcomes[index]}"


def test_readme_has_python_blocks_and_a_skip_reason_for_each_skip():
    assert len(PY_BLOCKS) >= 6
    assert all(reason for _, _, reason in PY_BLOCKS if reason is not None)


def test_rust_block_is_the_example():
    (rust,) = [code for _, code, _ in blocks("rust")]
    with open(EXAMPLE, encoding="utf-8") as f:
        example = f.read()
    body = example[example.index("use mxrs_ndarray_core") :]
    assert rust.strip() == body.strip()


def test_demo_prints_the_tutorials_output_not_per_epoch_logs():
    demo = os.path.join(ROOT, "demo", "seed_demo.py")
    env = dict(os.environ, MPLBACKEND="Agg", MXRS_PROGRESS="0")
    proc = subprocess.run([sys.executable, demo], capture_output=True, text=True, env=env, timeout=300, check=True)
    out = proc.stdout + proc.stderr
    assert "Resetting Data Iterator" not in out and "Epoch[" not in out
    assert len(out.splitlines()) < 160
    assert "fitted slope" in out and "mxnet." not in out.lower()  # messages name mxrs
    if importlib.util.find_spec("sklearn") is not None:
        assert "train-accuracy" in out and "validation-accuracy" in out
