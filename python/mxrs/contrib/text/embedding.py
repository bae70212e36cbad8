"""``mx.contrib.text.embedding``: token embeddings (MXNet 1.x's ``_TokenEmbedding``, ``GloVe``,
``FastText``, ``CustomEmbedding`` and ``CompositeEmbedding``) and their registry.

The pre-trained files of GloVe and fastText are looked for as MXNet does, in
``embedding_root/<class name lower-cased>/<pretrained_file_name>``; one that is missing or whose
SHA-1 differs from MXNet's table is downloaded from MXNet's repository (``$MXNET_GLUON_REPO``
overrides it) and unpacked there.
"""

import logging
import os
import tarfile
import warnings
import zipfile

import numpy as np

from mxrs import _registry as registry
from mxrs import ndarray as nd
from mxrs.contrib.text import _constants as C
from mxrs.contrib.text import vocab

__all__ = [
    "register",
    "create",
    "get_pretrained_file_names",
    "GloVe",
    "FastText",
    "CustomEmbedding",
    "CompositeEmbedding",
]


def _data_dir():
    """MXNet's data directory: ``$MXNET_HOME``, else ``~/.mxnet``."""
    return os.getenv("MXNET_HOME", os.path.join(os.path.expanduser("~"), ".mxnet"))


# As in MXNet, the default root is fixed when the module is imported.
_EMBEDDING_ROOT = os.path.join(_data_dir(), "embeddings")


def register(embedding_cls):
    """Registers a token embedding class (a ``_TokenEmbedding`` subclass) under its
    lower-cased name, for :func:`create`."""
    return registry.get_register_func(_TokenEmbedding, "token embedding")(embedding_cls)


def create(embedding_name, **kwargs):
    """An instance of the registered token embedding ``embedding_name`` (case-insensitive),
    built with ``kwargs`` (e.g. ``pretrained_file_name``)."""
    return registry.get_create_func(_TokenEmbedding, "token embedding")(embedding_name, **kwargs)


def get_pretrained_file_names(embedding_name=None):
    """The valid ``pretrained_file_name`` values of ``embedding_name`` (a list), or, when it is
    None, a dict from each registered embedding name to its list."""
    table = registry.get_list(_TokenEmbedding)
    if embedding_name is not None:
        if embedding_name not in table:
            raise KeyError(
                f"Cannot find `embedding_name` {embedding_name}. Use `get_pretrained_file_names("
                "embedding_name=None).keys()` to get all the valid embedding names."
            )
        return list(table[embedding_name].pretrained_file_name_sha1.keys())
    return {name: list(cls.pretrained_file_name_sha1.keys()) for name, cls in table.items()}


class _TokenEmbedding(vocab.Vocabulary):
    """The base of token embeddings: a :class:`~mxrs.contrib.text.vocab.Vocabulary` whose
    indexed tokens have vectors (``idx_to_vec``, an NDArray of shape ``(len(self), vec_len)``).

    Index 0 (the unknown token) has the vector of ``unknown_token`` when the pre-trained file
    has one, else ``init_unknown_vec(shape=vec_len)``. A token seen again in a file keeps its
    first vector (with a warning); a line with a one-element vector is taken for a header and
    skipped. With a ``vocabulary``, the embedding indexes the vocabulary's tokens (those absent
    from the file get the unknown vector); without, it indexes the file's tokens.
    """

    pretrained_file_name_sha1: dict = {}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    @classmethod
    def _get_download_file_name(cls, pretrained_file_name):
        return pretrained_file_name

    @classmethod
    def _get_pretrained_file_url(cls, pretrained_file_name):
        repo_url = os.environ.get("MXNET_GLUON_REPO", C.APACHE_REPO_URL)
        file_name = cls._get_download_file_name(pretrained_file_name)
        return f"{repo_url}gluon/embeddings/{cls.__name__.lower()}/{file_name}"

    @classmethod
    def _get_pretrained_file(cls, embedding_root, pretrained_file_name):
        from mxrs.gluon.utils import check_sha1, download

        embedding_dir = os.path.join(os.path.expanduser(embedding_root), cls.__name__.lower())
        url = cls._get_pretrained_file_url(pretrained_file_name)
        pretrained_file_path = os.path.join(embedding_dir, pretrained_file_name)
        downloaded_file = os.path.basename(url)
        downloaded_file_path = os.path.join(embedding_dir, downloaded_file)
        expected_file_hash = cls.pretrained_file_name_sha1[pretrained_file_name]
        archives = getattr(cls, "pretrained_archive_name_sha1", None)
        expected_downloaded_hash = archives[downloaded_file] if archives is not None else expected_file_hash
        if not os.path.exists(pretrained_file_path) or not check_sha1(pretrained_file_path, expected_file_hash):
            download(url, downloaded_file_path, sha1_hash=expected_downloaded_hash)
            ext = os.path.splitext(downloaded_file)[1]
            if ext == ".zip":
                with zipfile.ZipFile(downloaded_file_path, "r") as zf:
                    zf.extractall(embedding_dir)
            elif ext == ".gz":
                with tarfile.open(downloaded_file_path, "r:gz") as tar:
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse unsafe members
                        tar.extractall(path=embedding_dir, filter="data")
                    else:
                        tar.extractall(path=embedding_dir)  # noqa: S202 - MXNet's archives, as MXNet does
        return pretrained_file_path

    def _load_embedding(self, pretrained_file_path, elem_delim, init_unknown_vec, encoding="utf8"):
        """Loads the vectors of a pre-trained embedding file (``token v1 v2 ...`` per line)."""
        pretrained_file_path = os.path.expanduser(pretrained_file_path)
        if not os.path.isfile(pretrained_file_path):
            raise ValueError("`pretrained_file_path` must be a valid path to the pre-trained token embedding file.")
        logging.info("Loading pre-trained token embedding vectors from %s", pretrained_file_path)
        vec_len = None
        all_elems: list = []
        tokens = set()
        loaded_unknown_vec = None
        with open(pretrained_file_path, encoding=encoding) as f:
            for line_num, line in enumerate(f, 1):
                elems = line.rstrip().split(elem_delim)
                if len(elems) <= 1:
                    raise AssertionError(
                        f"At line {line_num} of the pre-trained text embedding file: the data format of the "
                        f"pre-trained token embedding file {pretrained_file_path} is unexpected."
                    )
                token, vec = elems[0], [float(i) for i in elems[1:]]
                if token == self.unknown_token and loaded_unknown_vec is None:
                    loaded_unknown_vec = vec
                    tokens.add(self.unknown_token)
                elif token in tokens:
                    warnings.warn(
                        f"At line {line_num} of the pre-trained token embedding file: the embedding vector for "
                        f"token {token} has been loaded and a duplicate embedding for the  same token is seen "
                        "and skipped.",
                        stacklevel=3,
                    )
                elif len(vec) == 1:
                    warnings.warn(
                        f"At line {line_num} of the pre-trained text embedding file: token {token} with "
                        f"1-dimensional vector {vec} is likely a header and is skipped.",
                        stacklevel=3,
                    )
                else:
                    if vec_len is None:
                        vec_len = len(vec)
                        all_elems.extend([0] * vec_len)  # the unknown token's slot (index 0)
                    elif len(vec) != vec_len:
                        raise AssertionError(
                            f"At line {line_num} of the pre-trained token embedding file: the dimension of "
                            f"token {token} is {len(vec)} but the dimension of previous tokens is {vec_len}. "
                            "Dimensions of all the tokens must be the same."
                        )
                    all_elems.extend(vec)
                    self._idx_to_token.append(token)
                    self._token_to_idx[token] = len(self._idx_to_token) - 1
                    tokens.add(token)
        if vec_len is None:
            raise AssertionError(f"The pre-trained token embedding file {pretrained_file_path} has no vectors.")
        self._vec_len = vec_len
        self._idx_to_vec = nd.array(all_elems).reshape((-1, self.vec_len))
        if loaded_unknown_vec is None:
            self._idx_to_vec[C.UNKNOWN_IDX] = init_unknown_vec(shape=self.vec_len)
        else:
            self._idx_to_vec[C.UNKNOWN_IDX] = nd.array(loaded_unknown_vec)

    def _index_tokens_from_vocabulary(self, vocabulary):
        self._token_to_idx = dict(vocabulary.token_to_idx)
        self._idx_to_token = list(vocabulary.idx_to_token)
        self._unknown_token = vocabulary.unknown_token
        self._reserved_tokens = list(vocabulary.reserved_tokens) if vocabulary.reserved_tokens is not None else None

    def _set_idx_to_vec_by_embeddings(self, token_embeddings, vocab_len, vocab_idx_to_token):
        """Sets ``idx_to_vec`` to the concatenated vectors of ``token_embeddings`` for the
        vocabulary's tokens (index 0: the embeddings' unknown vectors)."""
        new_vec_len = sum(embed.vec_len for embed in token_embeddings)
        new_idx_to_vec = nd.zeros(shape=(vocab_len, new_vec_len))
        col_start = 0
        for embed in token_embeddings:
            col_end = col_start + embed.vec_len
            new_idx_to_vec[0, col_start:col_end] = embed.idx_to_vec[0]
            if vocab_len > 1:
                new_idx_to_vec[1:, col_start:col_end] = embed.get_vecs_by_tokens(vocab_idx_to_token[1:])
            col_start = col_end
        self._vec_len = new_vec_len
        self._idx_to_vec = new_idx_to_vec

    def _build_embedding_for_vocabulary(self, vocabulary):
        if vocabulary is not None:
            if not isinstance(vocabulary, vocab.Vocabulary):
                raise AssertionError(
                    "The argument `vocabulary` must be an instance of mxnet.contrib.text.vocab.Vocabulary."
                )
            self._set_idx_to_vec_by_embeddings([self], len(vocabulary), vocabulary.idx_to_token)
            self._index_tokens_from_vocabulary(vocabulary)

    @property
    def vec_len(self):
        """int: the length of each token's vector."""
        return self._vec_len

    @property
    def idx_to_vec(self):
        """NDArray ``(len(self), vec_len)``: each indexed token's vector."""
        return self._idx_to_vec

    def get_vecs_by_tokens(self, tokens, lower_case_backup=False):
        """The vector of a token (1-D) or the vectors of a list of tokens (2-D); unknown tokens
        get the unknown vector. With ``lower_case_backup``, a token not found as is is looked up
        lower-cased."""
        to_reduce = not isinstance(tokens, list)
        if to_reduce:
            tokens = [tokens]
        if not lower_case_backup:
            indices = [self.token_to_idx.get(token, C.UNKNOWN_IDX) for token in tokens]
        else:
            indices = [
                self.token_to_idx[token]
                if token in self.token_to_idx
                else self.token_to_idx.get(token.lower(), C.UNKNOWN_IDX)
                for token in tokens
            ]
        vecs = nd.Embedding(nd.array(indices), self.idx_to_vec, self.idx_to_vec.shape[0], self.idx_to_vec.shape[1])
        return vecs[0] if to_reduce else vecs

    def update_token_vectors(self, tokens, new_vectors):
        """Sets the vectors of ``tokens`` (a token or a list) to ``new_vectors`` (an NDArray of
        shape ``(len(tokens), vec_len)``; 1-D allowed for one token), in place. An unknown token
        raises ValueError unless it is ``unknown_token`` itself."""
        if self.idx_to_vec is None:
            raise AssertionError("The property `idx_to_vec` has not been properly set.")
        if not isinstance(tokens, list) or len(tokens) == 1:
            if not (isinstance(new_vectors, nd.NDArray) and len(new_vectors.shape) in (1, 2)):
                raise AssertionError("`new_vectors` must be a 1-D or 2-D NDArray if `tokens` is a singleton.")
            if not isinstance(tokens, list):
                tokens = [tokens]
            if len(new_vectors.shape) == 1:
                new_vectors = nd.expand_dims(new_vectors, axis=0)
        elif not (isinstance(new_vectors, nd.NDArray) and len(new_vectors.shape) == 2):
            raise AssertionError("`new_vectors` must be a 2-D NDArray if `tokens` is a list of multiple strings.")
        if new_vectors.shape != (len(tokens), self.vec_len):
            raise AssertionError(
                "The length of new_vectors must be equal to the number of tokens and the width of"
                "new_vectors must be equal to the dimension of embeddings of the glossary."
            )
        indices = []
        for token in tokens:
            if token not in self.token_to_idx:
                raise ValueError(
                    f"Token {token} is unknown. To update the embedding vector for an unknown token, please "
                    f"specify it explicitly as the `unknown_token` {self.idx_to_token[C.UNKNOWN_IDX]} in "
                    "`tokens`. This is to avoid unintended updates."
                )
            indices.append(self.token_to_idx[token])
        # Scatter the rows on the host and write them back in place (idx_to_vec stays the same
        # NDArray, as MXNet's indexed assignment leaves it).
        vecs = self._idx_to_vec.asnumpy()
        vecs[np.asarray(indices, dtype=np.int64)] = new_vectors.asnumpy()
        self._idx_to_vec[:] = nd.array(vecs, dtype=vecs.dtype)

    @classmethod
    def _check_pretrained_file_names(cls, pretrained_file_name):
        embedding_name = cls.__name__.lower()
        if pretrained_file_name not in cls.pretrained_file_name_sha1:
            raise KeyError(
                f"Cannot find pretrained file {pretrained_file_name} for token embedding {embedding_name}. Valid "
                f"pretrained files for embedding {embedding_name}: {', '.join(cls.pretrained_file_name_sha1.keys())}"
            )


@register
class GloVe(_TokenEmbedding):
    """The GloVe word embedding (https://nlp.stanford.edu/projects/glove/; pre-trained
    vectors under the PDDL).

    Parameters
    ----------
    pretrained_file_name : str
        One of ``get_pretrained_file_names('glove')``.
    embedding_root : str
        Where the files are kept (``$MXNET_HOME/embeddings``; the file is
        ``embedding_root/glove/pretrained_file_name``).
    init_unknown_vec : callable
        ``init_unknown_vec(shape=vec_len)``: the unknown token's vector when the file has none.
    vocabulary : Vocabulary or None
        The tokens to index (None: the file's tokens).
    """

    # MXNet's two tables, with their names as MXNet 1.9.1 binds them.
    pretrained_archive_name_sha1 = C.GLOVE_PRETRAINED_FILE_SHA1
    pretrained_file_name_sha1 = C.GLOVE_PRETRAINED_ARCHIVE_SHA1

    @classmethod
    def _get_download_file_name(cls, pretrained_file_name):
        src_archive = {archive.split(".")[1]: archive for archive in GloVe.pretrained_archive_name_sha1.keys()}
        return src_archive[pretrained_file_name.split(".")[1]]

    def __init__(
        self,
        pretrained_file_name="glove.840B.300d.txt",
        embedding_root=_EMBEDDING_ROOT,
        init_unknown_vec=nd.zeros,
        vocabulary=None,
        **kwargs,
    ):
        GloVe._check_pretrained_file_names(pretrained_file_name)
        super().__init__(**kwargs)
        pretrained_file_path = GloVe._get_pretrained_file(embedding_root, pretrained_file_name)
        self._load_embedding(pretrained_file_path, " ", init_unknown_vec)
        if vocabulary is not None:
            self._build_embedding_for_vocabulary(vocabulary)


@register
class FastText(_TokenEmbedding):
    """The fastText word embedding (https://fasttext.cc/; pre-trained vectors under
    CC BY-SA 3.0).

    Parameters
    ----------
    pretrained_file_name : str
        One of ``get_pretrained_file_names('fasttext')``.
    embedding_root : str
        Where the files are kept (``$MXNET_HOME/embeddings``; the file is
        ``embedding_root/fasttext/pretrained_file_name``).
    init_unknown_vec : callable
        ``init_unknown_vec(shape=vec_len)``: the unknown token's vector when the file has none.
    vocabulary : Vocabulary or None
        The tokens to index (None: the file's tokens).
    """

    pretrained_archive_name_sha1 = C.FAST_TEXT_ARCHIVE_SHA1
    pretrained_file_name_sha1 = C.FAST_TEXT_FILE_SHA1

    @classmethod
    def _get_download_file_name(cls, pretrained_file_name):
        return ".".join(pretrained_file_name.split(".")[:-1]) + ".zip"

    def __init__(
        self,
        pretrained_file_name="wiki.simple.vec",
        embedding_root=_EMBEDDING_ROOT,
        init_unknown_vec=nd.zeros,
        vocabulary=None,
        **kwargs,
    ):
        FastText._check_pretrained_file_names(pretrained_file_name)
        super().__init__(**kwargs)
        pretrained_file_path = FastText._get_pretrained_file(embedding_root, pretrained_file_name)
        self._load_embedding(pretrained_file_path, " ", init_unknown_vec)
        if vocabulary is not None:
            self._build_embedding_for_vocabulary(vocabulary)


class CustomEmbedding(_TokenEmbedding):
    """Token vectors from a user's file: one ``token<elem_delim>v1<elem_delim>v2...`` per line.

    Parameters
    ----------
    pretrained_file_path : str
        The file.
    elem_delim : str
        The separator of the token and the values on a line.
    encoding : str
        The file's encoding.
    init_unknown_vec : callable
        ``init_unknown_vec(shape=vec_len)``: the unknown token's vector when the file has none.
    vocabulary : Vocabulary or None
        The tokens to index (None: the file's tokens).
    """

    def __init__(
        self,
        pretrained_file_path,
        elem_delim=" ",
        encoding="utf8",
        init_unknown_vec=nd.zeros,
        vocabulary=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._load_embedding(pretrained_file_path, elem_delim, init_unknown_vec, encoding)
        if vocabulary is not None:
            self._build_embedding_for_vocabulary(vocabulary)


class CompositeEmbedding(_TokenEmbedding):
    """The tokens of ``vocabulary`` with the concatenated vectors of ``token_embeddings`` (one
    embedding or a list)."""

    def __init__(self, vocabulary, token_embeddings):
        if not isinstance(vocabulary, vocab.Vocabulary):
            raise AssertionError(
                "The argument `vocabulary` must be an instance of mxnet.contrib.text.indexer.Vocabulary."
            )
        if not isinstance(token_embeddings, list):
            token_embeddings = [token_embeddings]
        for embed in token_embeddings:
            if not isinstance(embed, _TokenEmbedding):
                raise AssertionError(
                    "The argument `token_embeddings` must be an instance or a list of instances of "
                    "`mxnet.contrib.text.embedding.TextEmbedding` whose embedding vectors will be loaded or "
                    "concatenated-then-loaded to map to the indexed tokens."
                )
        self._index_tokens_from_vocabulary(vocabulary)
        self._set_idx_to_vec_by_embeddings(token_embeddings, len(self), self.idx_to_token)
