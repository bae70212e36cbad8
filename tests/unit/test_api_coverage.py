"""Coverage of MXNet 1.9.1's public API (issue 18, point 4).

Every name in tests/data/mxnet_api_names.json must exist in mxrs or be in the README's
"MXNet names left out" list, and no name in that list may exist in mxrs. The coverage table
is printed (``pytest -s`` or ``-rA``; also ``python tools/api_coverage.py``).
"""

import importlib.util
import json
import types
from pathlib import Path

import pytest
from _target import IS_MXNET, mx

pytestmark = pytest.mark.skipif(IS_MXNET, reason="measures mxrs against MXNet's names")

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("api_coverage", ROOT / "tools" / "api_coverage.py")
ac = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ac)


def test_left_out_list_is_honest():
    rows = ac.coverage(mx)
    print()
    print(ac.table(rows))
    issues = ac.problems(rows)
    assert not issues, "\n".join(issues)


def test_names_file_is_mxnets():
    data = json.loads((ROOT / "tests" / "data" / "mxnet_api_names.json").read_text())
    names = data["namespaces"]
    assert len(names) == 45
    assert "NDArray" in names["mx.nd"] and "Dense" in names["mx.gluon.nn"]
    assert "assert_almost_equal" in names["mx.test_utils"]
    every = {n for ns in names.values() for n in ns}
    # MXNet's implementation imports and the NumPy interface are not API.
    for internal in ("np", "npx", "ctypes", "check_call", "py_str", "string_types", "numeric_types"):
        assert internal not in every
    assert not [n for n in names["mx.nd"] if n.startswith("gen_")]
    assert "is_np_array" not in every and "NDArrayHandle" not in every


def test_every_reason_is_given():
    entries = ac.parse_left_out()
    assert entries
    for ns, reason, names in entries:
        assert ns.startswith("mx") and names, (ns, reason)
        assert len(reason) > 10, (ns, reason)


_README = """# x

## MXNet names left out

Intro text.

- `mx.nd.contrib`: some reason here.
  `box_iou`,
  `quantized_rnn`
- `mx.fake`: another reason.
  `ones`

A paragraph after the list.

## Next section
"""


def test_prune_drops_names_that_exist(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(_README)
    monkeypatch.setattr(ac, "README", readme)
    entries = ac.parse_left_out()
    assert entries == [
        ("mx.nd.contrib", "some reason here.", ["box_iou", "quantized_rnn"]),
        ("mx.fake", "another reason.", ["ones"]),
    ]
    rows = ac.coverage(mx)
    assert "box_iou" in rows["mx.nd.contrib"][4]  # listed but present: the list is not honest
    assert rows["mx.fake"][4] == ["ones"]  # not an MXNet namespace
    dropped = ac.prune(mx)
    text = readme.read_text()
    assert dropped == 2
    assert "`box_iou`" not in text and "`quantized_rnn`" in text
    assert "mx.fake" not in text
    assert "Intro text." in text and "A paragraph after the list.\n\n## Next section" in text
    assert ac.parse_left_out() == [("mx.nd.contrib", "some reason here.", ["quantized_rnn"])]


def test_a_missing_name_is_reported(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(_README)
    monkeypatch.setattr(ac, "README", readme)
    fake = types.SimpleNamespace(nd=types.SimpleNamespace(zeros=1, contrib=types.SimpleNamespace(box_iou=1)))
    rows = ac.coverage(fake)
    total, have, left, unlisted, _ = rows["mx.nd"]
    assert have == 2 and left == 0 and "NDArray" in unlisted and "zeros" not in unlisted  # zeros, contrib
    total, have, left, unlisted, _ = rows["mx.nd.contrib"]
    assert have == 1 and left == 1 and "ROIAlign" in unlisted and "box_iou" not in unlisted
    assert any("mx.nd: missing from mxrs and not in the left-out list" in p for p in ac.problems(rows))
