"""The d2l book's code (MXNet edition, chapters 2-7) running on mxrs as ``mxnet``.

``mxrs.install_as_mxnet()`` is called before any test module imports ``mxnet`` or the
book's helper package ``d2lzh`` (1.0, from PyPI, used unchanged). The data the book
downloads is made here in the same formats (``d2l_data``): Fashion-MNIST IDX files under
``$HOME/.mxnet/datasets/fashion-mnist`` (the default root, with ``HOME`` pointed at a
temporary folder), the Kaggle house-price CSVs and the airfoil file under ``../data`` of the
working directory, as the book's notebooks expect.
"""

import random

import d2l_data
import matplotlib
import mxrs
import numpy as np
import pytest
from matplotlib import pyplot as plt

matplotlib.use("Agg")
mxrs.install_as_mxnet()


@pytest.fixture(scope="session", autouse=True)
def d2l_files(tmp_path_factory):
    """HOME, the datasets and the working directory the book's code expects."""
    base = tmp_path_factory.mktemp("d2l")
    home = base / "home"
    fashion = home / ".mxnet" / "datasets" / "fashion-mnist"
    d2l_data.write_fashion_mnist(fashion)
    d2l_data.write_kaggle_house(base / "data")
    d2l_data.write_airfoil(base / "data")
    work = base / "work"
    work.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))
    # As in MXNet, the datasets' default root was fixed when mxrs was imported (with the real
    # HOME): point FashionMNIST's at the test's HOME as if it had been imported now.
    fmnist = mxrs.gluon.data.vision.FashionMNIST.__init__
    mp.setattr(fmnist, "__defaults__", (str(fashion),) + fmnist.__defaults__[1:])
    mp.chdir(work)
    yield base
    mp.undo()


@pytest.fixture(autouse=True)
def _seeded_and_closed():
    """Each section starts from the same random state (MXNet's, numpy's and Python's, as the
    book's code draws from all three) and leaves no figure open."""
    mxrs.random.seed(0)
    np.random.seed(0)
    random.seed(0)
    yield
    plt.close("all")
