"""``mx.contrib.text``: MXNet 1.x's text utilities: token counting (``utils``), vocabularies
(``vocab.Vocabulary``) and token embeddings (``embedding``: GloVe, fastText, custom files and
their concatenation)."""

from mxrs.contrib.text import embedding, utils, vocab

__all__ = ["embedding", "utils", "vocab"]
