"""Text utilities of ``mx.contrib.text``: counting the tokens of a string."""

import collections
import re

__all__ = ["count_tokens_from_str"]


def count_tokens_from_str(source_str, token_delim=" ", seq_delim="\n", to_lower=False, counter_to_update=None):
    """Counts the tokens of ``source_str``, as MXNet's ``count_tokens_from_str``.

    ``token_delim`` and ``seq_delim`` are regular expressions (escape special characters, e.g.
    ``'\\*'``); empty tokens are dropped. With ``to_lower`` the tokens are lower-cased.

    Returns ``counter_to_update`` (a ``collections.Counter``) updated with the counts, or a new
    Counter when it is None.
    """
    tokens = [t for t in re.split(token_delim + "|" + seq_delim, source_str) if t]
    if to_lower:
        tokens = [t.lower() for t in tokens]
    if counter_to_update is None:
        return collections.Counter(tokens)
    counter_to_update.update(tokens)
    return counter_to_update
