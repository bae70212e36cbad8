"""Small stand-ins, in the real formats, for the data the d2l book downloads.

- Fashion-MNIST: ``train-``/``t10k-images-idx3-ubyte.gz`` and ``-labels-idx1-ubyte.gz``
  (IDX, as distributed), 28x28 uint8 images of 10 learnable classes: each class is a
  pattern of bright blobs at its own places, drawn with random brightness, shift and noise.
- Kaggle house prices: ``kaggle_house_pred_train.csv`` / ``_test.csv`` with the competition's
  layout (``Id``, numeric and categorical columns with missing values, ``SalePrice`` last in
  the training file).
- Airfoil self-noise (chapter 7): ``airfoil_self_noise.dat``, 5 tab-separated features and a
  target, a noisy linear function of them.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

N_TRAIN = 2000
N_TEST = 500


def _idx(arr):
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes(), mtime=0)


def fashion_images(n, rng, protos):
    labels = rng.integers(0, 10, n)
    imgs = protos[labels] * rng.uniform(0.7, 1.2, (n, 1, 1))
    shifts = rng.integers(-2, 3, (n, 2))
    for i, (dy, dx) in enumerate(shifts):
        imgs[i] = np.roll(imgs[i], (dy, dx), axis=(0, 1))
    imgs += rng.normal(0, 10, imgs.shape)
    return np.clip(imgs, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def _prototypes(rng):
    yy, xx = np.mgrid[0:28, 0:28]
    protos = np.zeros((10, 28, 28))
    for c in range(10):
        for _ in range(3):
            cy, cx = rng.uniform(5, 23, 2)
            protos[c] += 255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(2, 4) ** 2))
    return np.clip(protos, 0, 255)


def write_fashion_mnist(root, seed=0):
    """The four Fashion-MNIST files under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    protos = _prototypes(rng)
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        imgs, labels = fashion_images(n, rng, protos)
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(imgs))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(labels))


# Categorical columns of the competition's data, here with random levels (the real file has 43).
_CATEGORICAL = (
    "LotShape LandContour Utilities LotConfig LandSlope Neighborhood Condition1 Condition2 BldgType "
    "HouseStyle RoofStyle RoofMatl Exterior1st Exterior2nd MasVnrType ExterQual ExterCond Foundation "
    "BsmtQual BsmtCond BsmtExposure BsmtFinType1 BsmtFinType2 Heating HeatingQC CentralAir Electrical "
    "KitchenQual Functional FireplaceQu GarageFinish GarageQual GarageCond PavedDrive SaleType"
).split()


def write_kaggle_house(folder, n_train=1000, n_test=200, seed=0):
    """``kaggle_house_pred_train.csv`` and ``kaggle_house_pred_test.csv`` under ``folder``."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    cols = {
        "Id": np.arange(1, n + 1),
        "MSSubClass": rng.choice([20, 50, 60, 120], n),
        "MSZoning": rng.choice(["RL", "RM", "FV", "C (all)"], n),
        "LotFrontage": np.round(rng.normal(70, 20, n)),
        "LotArea": rng.integers(2000, 20000, n),
        "Street": rng.choice(["Pave", "Grvl"], n, p=[0.95, 0.05]),
        "OverallQual": rng.integers(1, 11, n),
        "YearBuilt": rng.integers(1900, 2010, n),
        "GrLivArea": rng.integers(500, 4000, n),
        "GarageType": rng.choice(["Attchd", "Detchd", "BuiltIn", ""], n),
        "SaleCondition": rng.choice(["Normal", "Abnorml", "Partial"], n),
    }
    for name in _CATEGORICAL:
        cols[name] = rng.choice(["Gd", "TA", "Fa", ""], n, p=[0.4, 0.4, 0.15, 0.05])
    price = (
        5000
        + 4500 * cols["OverallQual"]
        + 12 * cols["GrLivArea"]
        + 80 * (cols["YearBuilt"] - 1900)
        + 0.3 * cols["LotArea"]
    ) * rng.lognormal(0, 0.08, n)
    missing = rng.random(n) < 0.15
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(cols)
    for fname, rows, with_price in (
        ("kaggle_house_pred_train.csv", range(n_train), True),
        ("kaggle_house_pred_test.csv", range(n_train, n), False),
    ):
        lines = [",".join(names + (["SalePrice"] if with_price else []))]
        for i in rows:
            vals = ["" if (k == "LotFrontage" and missing[i]) else str(cols[k][i]) for k in names]
            if with_price:
                vals.append(str(int(price[i])))
            lines.append(",".join(vals))
        (folder / fname).write_text("\n".join(lines) + "\n")


def write_airfoil(folder, n=1503, seed=0):
    """``airfoil_self_noise.dat`` under ``folder``."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.choice([800, 1000, 2000, 4000], n),
            rng.uniform(0, 20, n),
            rng.choice([0.0254, 0.1016, 0.2286, 0.3048], n),
            rng.choice([31.7, 39.6, 55.5, 71.3], n),
            rng.uniform(0.0004, 0.05, n),
        ]
    )
    z = (x - x.mean(0)) / x.std(0)
    y = 125 + z @ np.array([-4.0, -3.0, -2.5, 1.5, -3.5]) + rng.normal(0, 1.5, n)
    data = np.column_stack([x, y])
    Path(folder).mkdir(parents=True, exist_ok=True)
    np.savetxt(Path(folder) / "airfoil_self_noise.dat", data, delimiter="\t", fmt="%.6g")
