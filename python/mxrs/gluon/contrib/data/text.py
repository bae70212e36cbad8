"""MXNet 1.9.1's ``gluon.contrib.data.text``: the WikiText-2/103 language-model datasets.

A segment's file (``wiki.{train,valid,test}.tokens``) is read from ``root``; when it is missing
or its SHA-1 is not the official one, the official zip archive is downloaded from the Gluon
repository (``MXNET_GLUON_REPO``) and extracted there, as MXNet. Each line's whitespace-separated
tokens end with ``<eos>``; the token indices of the whole file, cut to a multiple of
``seq_len``, make ``data``, and the same shifted by one ``label`` (rows of ``seq_len``).

The vocabulary (when none is given) is MXNet's ``contrib.text.vocab.Vocabulary`` of the
tokens' counts: index 0 is ``<unk>``, 1 is ``<eos>``, then the tokens by decreasing count (ties
in string order). A given ``vocab`` needs only ``to_indices``.
"""

import collections
import os
import re
import shutil
import zipfile

import numpy as np

from mxrs import ndarray as nd
from mxrs.base import MXNetError
from mxrs.gluon.data.vision.datasets import _default_root, _DownloadedDataset
from mxrs.gluon.utils import _get_repo_file_url, check_sha1, download

__all__ = ["WikiText2", "WikiText103"]

EOS_TOKEN = "<eos>"
UNKNOWN_TOKEN = "<unk>"


def _count_tokens(source_str, token_delim=" ", seq_delim="\n"):
    """MXNet's ``contrib.text.utils.count_tokens_from_str``: a Counter of the tokens."""
    tokens = filter(None, re.split(re.escape(token_delim) + "|" + re.escape(seq_delim), source_str))
    return collections.Counter(tokens)


class _Vocabulary:
    """The indexing of MXNet's ``contrib.text.vocab.Vocabulary(counter, reserved_tokens)``."""

    def __init__(self, counter, reserved_tokens=(), unknown_token=UNKNOWN_TOKEN):
        self.unknown_token = unknown_token
        self.reserved_tokens = list(reserved_tokens)
        self.idx_to_token = [unknown_token] + self.reserved_tokens
        special = set(self.idx_to_token)
        freqs = sorted(sorted(counter.items(), key=lambda x: x[0]), key=lambda x: x[1], reverse=True)
        self.idx_to_token += [tok for tok, _ in freqs if tok not in special]
        self.token_to_idx = {tok: i for i, tok in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def to_indices(self, tokens):
        """Index of each token (0, the unknown token's, for tokens not in the vocabulary)."""
        if isinstance(tokens, str):
            return self.token_to_idx.get(tokens, 0)
        return [self.token_to_idx.get(t, 0) for t in tokens]

    def to_tokens(self, indices):
        """Token of each index."""
        if isinstance(indices, int):
            return self.idx_to_token[indices]
        return [self.idx_to_token[i] for i in indices]


class _WikiText(_DownloadedDataset):
    _namespace = ""
    _archive_file: tuple = ()
    _data_file: dict = {}

    def __init__(self, root, segment, vocab, seq_len):
        if segment not in self._data_file:
            raise MXNetError(
                f"{type(self).__name__}: segment must be one of {sorted(self._data_file)}, got {segment!r}"
            )
        if int(seq_len) < 1:
            raise MXNetError(f"{type(self).__name__}: seq_len must be positive, got {seq_len}")
        self._segment = segment
        self._seq_len = int(seq_len)
        self._vocab = vocab
        self._counter = None
        super().__init__(root, None)

    @property
    def vocabulary(self):
        """The vocabulary indexing the tokens."""
        return self._vocab

    @property
    def frequencies(self):
        """The tokens' counts (a ``collections.Counter``) when the vocabulary was built here."""
        return self._counter

    def _build_vocab(self, content):
        if not self._counter:
            self._counter = _count_tokens(content)
        if not self._vocab:
            self._vocab = _Vocabulary(self._counter, reserved_tokens=[EOS_TOKEN])

    def _read_batch(self, filename):
        with open(filename, encoding="utf8") as fin:
            content = fin.read()
        self._build_vocab(content)
        lines = [line for line in (x.strip().split() for x in content.splitlines()) if line]
        tokens = [tok for line in lines for tok in line + [EOS_TOKEN] if tok]
        raw = self._vocab.to_indices(tokens)
        return np.array(raw[:-1], dtype=np.int32), np.array(raw[1:], dtype=np.int32)

    def _get_data(self):
        archive_name, archive_hash = self._archive_file
        data_name, data_hash = self._data_file[self._segment]
        path = os.path.join(self._root, data_name)
        if not os.path.exists(path) or not check_sha1(path, data_hash):
            url = _get_repo_file_url("gluon/dataset/" + self._namespace, archive_name)
            archive = download(url, path=self._root, sha1_hash=archive_hash)
            with zipfile.ZipFile(archive, "r") as zf:
                for member in zf.namelist():
                    filename = os.path.basename(member)
                    if filename:
                        with zf.open(member) as source, open(os.path.join(self._root, filename), "wb") as target:
                            shutil.copyfileobj(source, target)
        data, label = self._read_batch(path)
        n = len(data) // self._seq_len * self._seq_len
        if n == 0:
            raise MXNetError(
                f"{type(self).__name__}: {path} has {len(data)} tokens after the first, fewer than seq_len "
                f"{self._seq_len}"
            )
        self._data = nd.array(data[:n], dtype=data.dtype).reshape((-1, self._seq_len))
        self._label = nd.array(label[:n], dtype=label.dtype).reshape((-1, self._seq_len))


class WikiText2(_WikiText):
    """WikiText-2 word-level language-modeling dataset (Salesforce research; CC BY-SA).

    ``segment`` is 'train', 'validation' or 'test'; each sample is ``(data, label)`` of
    ``seq_len`` token indices, the label being the next token of each."""

    _namespace = "wikitext-2"
    _archive_file = ("wikitext-2-v1.zip", "3c914d17d80b1459be871a5039ac23e752a53cbe")
    _data_file = {
        "train": ("wiki.train.tokens", "863f29c46ef9d167fff4940ec821195882fe29d1"),
        "validation": ("wiki.valid.tokens", "0418625c8b4da6e4b5c7a0b9e78d4ae8f7ee5422"),
        "test": ("wiki.test.tokens", "c7b8ce0aa086fb34dab808c5c49224211eb2b172"),
    }

    def __init__(self, root=None, segment="train", vocab=None, seq_len=35):
        """``root`` defaults to ``$MXNET_HOME/datasets/wikitext-2``."""
        super().__init__(root or _default_root("wikitext-2"), segment, vocab, seq_len)


class WikiText103(_WikiText):
    """WikiText-103 word-level language-modeling dataset (Salesforce research; CC BY-SA).

    ``segment`` is 'train', 'validation' or 'test'; each sample is ``(data, label)`` of
    ``seq_len`` token indices, the label being the next token of each."""

    _namespace = "wikitext-103"
    _archive_file = ("wikitext-103-v1.zip", "0aec09a7537b58d4bb65362fee27650eeaba625a")
    _data_file = {
        "train": ("wiki.train.tokens", "b7497e2dfe77e72cfef5e3dbc61b7b53712ac211"),
        "validation": ("wiki.valid.tokens", "c326ac59dc587676d58c422eb8a03e119582f92b"),
        "test": ("wiki.test.tokens", "8a5befc548865cec54ed4273cf87dbbad60d1e47"),
    }

    def __init__(self, root=None, segment="train", vocab=None, seq_len=35):
        """``root`` defaults to ``$MXNET_HOME/datasets/wikitext-103``."""
        super().__init__(root or _default_root("wikitext-103"), segment, vocab, seq_len)
