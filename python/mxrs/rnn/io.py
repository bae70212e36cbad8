"""Data helpers of ``mx.rnn`` for language models: ``encode_sentences`` (tokens to integer ids)
and ``BucketSentenceIter`` (sentences grouped by length, for ``BucketingModule``)."""

import bisect
import random

import numpy as np

from mxrs import ndarray
from mxrs.base import MXNetValueError
from mxrs.io import DataBatch, DataDesc, DataIter

__all__ = ["encode_sentences", "BucketSentenceIter"]


def encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key="\n", start_label=0, unknown_token=None):
    """Encode token lists as integer lists, building (or extending) the vocabulary.

    Parameters
    ----------
    sentences : list of list of str
    vocab : dict of str to int or None
        An existing vocabulary; new tokens are then an error unless ``unknown_token`` is given.
    invalid_label : int, default -1
        Id of ``invalid_key`` (end of sentence); never given to another token.
    invalid_key : str, default '\\n'
    start_label : int, default 0
        Lowest id given to a new token.
    unknown_token : str or None
        Token that stands for any token not in ``vocab``.

    Returns
    -------
    (list of list of int, dict of str to int)
    """
    idx = start_label
    if vocab is None:
        vocab = {invalid_key: invalid_label}
        new_vocab = True
    else:
        new_vocab = False
    res = []
    for sent in sentences:
        coded = []
        for word in sent:
            if word not in vocab:
                if not (new_vocab or unknown_token):
                    raise MXNetValueError(
                        f"Unknown token {word!r}: it is not in the given vocab; pass unknown_token= to map "
                        "unknown tokens to one id"
                    )
                if idx == invalid_label:
                    idx += 1
                if unknown_token:
                    word = unknown_token
                vocab[word] = idx
                idx += 1
            coded.append(vocab[word])
        res.append(coded)
    return res, vocab


class BucketSentenceIter(DataIter):
    """Batches of same-length (padded) sentences for a language model: the label of each step
    is the next token (``invalid_label`` after the last).

    Parameters
    ----------
    sentences : list of list of int
        Encoded sentences.
    batch_size : int
    buckets : list of int or None
        Bucket lengths; by default every length that at least ``batch_size`` sentences have.
        A sentence goes to the smallest bucket that holds it (padded with ``invalid_label``);
        longer ones are discarded.
    invalid_label : int, default -1
    data_name, label_name : str
    dtype : str, default 'float32'
    layout : str, default 'NT'
        'NT' (batch, length) or 'TN' (length, batch).
    """

    def __init__(
        self,
        sentences,
        batch_size,
        buckets=None,
        invalid_label=-1,
        data_name="data",
        label_name="softmax_label",
        dtype="float32",
        layout="NT",
    ):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise MXNetValueError(f"BucketSentenceIter: batch_size must be a positive int, got {batch_size!r}")
        if layout not in ("NT", "TN"):
            raise MXNetValueError(f"Invalid layout {layout}: Must by NT (batch major) or TN (time major)")
        if not buckets:
            buckets = [i for i, j in enumerate(np.bincount([len(s) for s in sentences])) if j >= batch_size]
        buckets = sorted(buckets)
        if not buckets:
            raise MXNetValueError(
                f"BucketSentenceIter: no sentence length occurs at least batch_size={batch_size} times; "
                "pass buckets= explicitly or use a smaller batch_size"
            )
        ndiscard = 0
        by_bucket: list[list] = [[] for _ in buckets]
        valid_buckets = dict.fromkeys(range(len(buckets)), 0)
        for sent in sentences:
            buck = bisect.bisect_left(buckets, len(sent))
            valid_buckets[buck] = 1
            if buck == len(buckets):
                ndiscard += 1
                continue
            buff = np.full((buckets[buck],), invalid_label, dtype=dtype)
            buff[: len(sent)] = sent
            by_bucket[buck].append(buff)
        buckets = [j for i, j in enumerate(buckets) if valid_buckets[i] == 1]
        self.data = [np.asarray(i, dtype=dtype) for i in by_bucket if i]
        print(f"WARNING: discarded {ndiscard} sentences longer than the largest bucket.")
        if not buckets:
            raise MXNetValueError("BucketSentenceIter: every sentence is longer than the largest bucket")
        self.batch_size = batch_size
        self.buckets = buckets
        self.data_name = data_name
        self.label_name = label_name
        self.dtype = dtype
        self.invalid_label = invalid_label
        self.nddata = []
        self.ndlabel = []
        self.major_axis = layout.find("N")
        self.layout = layout
        self.default_bucket_key = max(buckets)
        if self.major_axis == 0:
            shape = (batch_size, self.default_bucket_key)
        else:
            shape = (self.default_bucket_key, batch_size)
        self.provide_data = [DataDesc(name=self.data_name, shape=shape, layout=self.layout)]
        self.provide_label = [DataDesc(name=self.label_name, shape=shape, layout=self.layout)]
        self.idx = []
        for i, arr in enumerate(self.data):
            self.idx.extend([(i, j) for j in range(0, len(arr) - batch_size + 1, batch_size)])
        self.curr_idx = 0
        self.reset()

    def reset(self):
        """Shuffle the batches and the sentences within each bucket; start over."""
        self.curr_idx = 0
        random.shuffle(self.idx)
        for buck in self.data:
            np.random.shuffle(buck)
        self.nddata = []
        self.ndlabel = []
        for buck in self.data:
            label = np.empty_like(buck)
            label[:, :-1] = buck[:, 1:]
            label[:, -1] = self.invalid_label
            self.nddata.append(ndarray.array(buck, dtype=self.dtype))
            self.ndlabel.append(ndarray.array(label, dtype=self.dtype))

    def next(self):
        """The next batch, with its bucket length as ``bucket_key``."""
        if self.curr_idx == len(self.idx):
            raise StopIteration
        i, j = self.idx[self.curr_idx]
        self.curr_idx += 1
        if self.major_axis == 1:
            data = self.nddata[i][j : j + self.batch_size].T
            label = self.ndlabel[i][j : j + self.batch_size].T
        else:
            data = self.nddata[i][j : j + self.batch_size]
            label = self.ndlabel[i][j : j + self.batch_size]
        return DataBatch(
            [data],
            [label],
            pad=0,
            bucket_key=self.buckets[i],
            provide_data=[DataDesc(name=self.data_name, shape=data.shape, layout=self.layout)],
            provide_label=[DataDesc(name=self.label_name, shape=label.shape, layout=self.layout)],
        )
