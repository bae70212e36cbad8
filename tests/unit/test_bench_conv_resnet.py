"""``benches/conv_resnet.py``'s mxrs child runs every ResNet-18 layer and reports its times."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benches" / "conv_resnet.py"


def test_mxrs_child_times_every_layer():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", "mxrs", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rec = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    assert rec["framework"] == "mxrs"
    layers = [r["layer"] for r in rec["rows"]]
    assert layers[0] == "3->64 32x32 s1" and layers[-1] == "512->512 4x4 s1" and len(layers) == 8
    for r in rec["rows"]:
        assert r["fwd"] > 0 and r["bwd"] > 0, r
    # Multiply-adds of the stride-2 layer 64->128 on 32x32: 16 images, 16x16 outputs, 64*9 taps.
    assert rec["rows"][2]["macs"] == 16 * 128 * 16 * 16 * 64 * 9
