"""The NDArray benchmark runner's merging of rounds (``benches/run.py``); no benchmark runs."""

import importlib.util
from pathlib import Path

import pytest

_RUN = Path(__file__).resolve().parents[2] / "benches" / "run.py"


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bench_run", _RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(**values):
    units = {"overhead": ("us/op", "lower"), "sum 1e7": ("GB/s", "higher")}
    results = []
    for case, value in values.items():
        case = case.replace("_", " ")
        unit, better = units[case]
        results.append({"case": case, "unit": unit, "better": better, "value": value, "median": value})
    return {"info": {"version": "x"}, "results": results}


def test_each_case_keeps_its_best_round_and_every_round_value(run):
    rounds = [
        {"mxrs": _record(overhead=2.0, sum_1e7=25.0), "torch": _record(overhead=1.5, sum_1e7=30.0)},
        {"mxrs": _record(overhead=1.6, sum_1e7=31.0), "torch": _record(overhead=1.8, sum_1e7=29.0)},
        {"torch": _record(overhead=1.7, sum_1e7=28.0)},  # mxrs missing from a round
    ]
    merged = run.merge_rounds(rounds)
    by_case = {fw: {r["case"]: r for r in rec["results"]} for fw, rec in merged.items()}
    assert by_case["mxrs"]["overhead"]["value"] == 1.6  # lower is better
    assert by_case["mxrs"]["sum 1e7"]["value"] == 31.0  # higher is better
    assert by_case["torch"]["overhead"]["value"] == 1.5
    assert by_case["torch"]["sum 1e7"]["rounds"] == [30.0, 29.0, 28.0]
    assert by_case["mxrs"]["overhead"]["rounds"] == [2.0, 1.6]

    rows = {row["case"]: row for row in run.add_round_spread(run.build_rows(merged), rounds)}
    assert rows["sum 1e7"]["mxrs_vs_best"] == pytest.approx(31.0 / 30.0)
    # Within single rounds: 25/30 and 31/29; the third round has no mxrs figure.
    assert rows["sum 1e7"]["round_ratios"] == pytest.approx([25.0 / 30.0, 31.0 / 29.0])
    assert run.fmt_range(rows["sum 1e7"]["round_ratios"], 10).strip() == "0.83-1.07"
    assert run.fmt_range([], 4).strip() == "-"
