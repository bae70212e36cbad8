"""MXNet 1.9.1's ``mx.operator.get_operator_arguments`` for a sample of operators: run with
/work/mxref/bin/python; writes tests/data/operator_arguments_golden.json."""

import json
from pathlib import Path

import mxnet as mx

OPS = [
    "FullyConnected", "Activation", "Concat", "elemwise_add", "sum", "Custom", "BatchNorm", "exp",
    "SoftmaxOutput", "clip", "Convolution", "Pooling", "Dropout", "transpose", "slice_axis",
    "LeakyReLU", "Embedding", "take", "one_hot", "broadcast_add", "mean", "topk", "where", "LayerNorm",
]  # fmt: skip


def main():
    out = {op: list(mx.operator.get_operator_arguments(op)) for op in OPS}
    path = Path(__file__).resolve().parents[2] / "tests/data/operator_arguments_golden.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
