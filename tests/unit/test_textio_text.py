"""``mx.contrib.text`` (vocabularies, token embeddings, token counting) against real MXNet
1.9.1: tests/data/textio_golden.json, written by tools/golden/textio.py from the same calls on
the small embedding files of tests/data/textio."""

import collections
import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _target import mx

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "textio"
GOLD = json.loads((ROOT / "tests" / "data" / "textio_golden.json").read_text())

text = mx.contrib.text


def _golden_tool():
    spec = importlib.util.spec_from_file_location("_textio_golden", ROOT / "tools" / "golden" / "textio.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ours():
    """The golden tool's calls, made on the framework under test (the tool's pretrained-file
    tables are restored afterwards)."""
    saved = {cls: dict(cls.pretrained_file_name_sha1) for cls in (text.embedding.GloVe, text.embedding.FastText)}
    try:
        with pytest.warns(UserWarning):
            return json.loads(json.dumps(_golden_tool().cases(mx)))
    finally:
        for cls, table in saved.items():
            cls.pretrained_file_name_sha1.clear()
            cls.pretrained_file_name_sha1.update(table)


@pytest.mark.parametrize("key", sorted(GOLD))
def test_matches_mxnet(ours, key):
    want, got = GOLD[key], ours[key]
    if key.endswith(("_vecs", "_lookup", "_lookup_lower", "_single", "_updated")):
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=0, atol=0)
    else:
        assert got == want


def test_fixture_files_are_the_tools():
    """The committed embedding files are those the golden tool writes."""
    for name, body in _golden_tool().FILES.items():
        assert (DATA / name).read_text(encoding="utf8") == body


def test_count_tokens_regex_delims():
    c = text.utils.count_tokens_from_str("*Life*is*great*!*\n*life*is*good*.*\n", "\\*", "\\n", True)
    assert c == collections.Counter({"is": 2, "life": 2, "!": 1, "great": 1, "good": 1, ".": 1})
    counter = collections.Counter({"is": 5})
    assert text.utils.count_tokens_from_str("is a", counter_to_update=counter) is counter
    assert counter == collections.Counter({"is": 6, "a": 1})


def test_vocabulary_checks_and_lookups():
    counter = collections.Counter({"a": 3, "b": 3, "c": 1})
    v = text.vocab.Vocabulary(counter, most_freq_count=2, reserved_tokens=["<pad>"])
    assert v.idx_to_token == ["<unk>", "<pad>", "a", "b"]
    assert len(v) == 4 and v.unknown_token == "<unk>" and v.reserved_tokens == ["<pad>"]
    assert v.to_indices("b") == 3 and v.to_indices("c") == 0
    assert v.to_tokens(2) == "a"
    with pytest.raises(ValueError, match="invalid"):
        v.to_tokens(4)
    with pytest.raises(AssertionError, match="min_freq"):
        text.vocab.Vocabulary(counter, min_freq=0)
    with pytest.raises(AssertionError, match="unknown_token"):
        text.vocab.Vocabulary(counter, reserved_tokens=["<unk>"])
    with pytest.raises(AssertionError, match="duplicate"):
        text.vocab.Vocabulary(counter, reserved_tokens=["x", "x"])
    with pytest.raises(AssertionError, match="Counter"):
        text.vocab.Vocabulary({"a": 1})


def test_custom_embedding_errors(tmp_path):
    emb = text.embedding.CustomEmbedding(str(DATA / "emb_b.tsv"), elem_delim="\t")
    assert emb.vec_len == 2 and emb.idx_to_vec.shape == (4, 2)
    with pytest.raises(ValueError, match="unknown"):
        emb.update_token_vectors("nope", mx.nd.array([1, 2]))
    with pytest.raises(AssertionError, match="length of new_vectors"):
        emb.update_token_vectors(["hello", "life"], mx.nd.ones((2, 3)))
    with pytest.raises(ValueError, match="valid path"):
        text.embedding.CustomEmbedding(str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2\nb 1 2 3\n")
    with pytest.raises(AssertionError, match="dimension"):
        text.embedding.CustomEmbedding(str(bad))
    # The unknown vector comes from init_unknown_vec when the file has none.
    emb2 = text.embedding.CustomEmbedding(str(DATA / "emb_b.tsv"), elem_delim="\t", init_unknown_vec=mx.nd.ones)
    np.testing.assert_array_equal(emb2.get_vecs_by_tokens("?").asnumpy(), [1, 1])
    # idx_to_vec is updated in place.
    vecs = emb2.idx_to_vec
    emb2.update_token_vectors(["good"], mx.nd.array([[7, 8]]))
    np.testing.assert_array_equal(vecs.asnumpy()[3], [7, 8])


def test_registry_and_create(tmp_path):
    names = text.embedding.get_pretrained_file_names()
    assert "glove.840B.300d.txt" in names["glove"] and "wiki.simple.vec" in names["fasttext"]
    assert text.embedding.get_pretrained_file_names("glove") == names["glove"]
    with pytest.raises(KeyError, match="Cannot find `embedding_name`"):
        text.embedding.get_pretrained_file_names("word2vec")
    with pytest.raises(KeyError, match="Cannot find pretrained file"):
        text.embedding.create("GloVe", pretrained_file_name="nope.txt", embedding_root=str(tmp_path))

    @text.embedding.register
    class MyEmbed(text.embedding._TokenEmbedding):
        pretrained_file_name_sha1 = {"mine.txt": "0" * 40}

        def __init__(self, path):
            super().__init__()
            self._load_embedding(path, " ", mx.nd.zeros)

    emb = text.embedding.create("myembed", path=str(DATA / "glove.6B.50d.txt"))
    assert isinstance(emb, MyEmbed) and emb.idx_to_token == ["<unk>", "the", "of", "and"]
    assert text.embedding.get_pretrained_file_names("myembed") == ["mine.txt"]


def test_pretrained_file_is_checked_then_downloaded(tmp_path, monkeypatch):
    """A pre-trained file whose SHA-1 is not MXNet's is fetched again from MXNet's URL (the
    archive, then unpacked); a file with the right SHA-1 is used as is."""
    gutils = importlib.import_module(mx.__name__ + ".gluon.utils")

    glove_dir = tmp_path / "glove"
    glove_dir.mkdir()
    shutil.copy(DATA / "glove.6B.50d.txt", glove_dir)
    calls = []

    def fake_download(url, path=None, overwrite=False, sha1_hash=None, **kwargs):
        calls.append((url, path, sha1_hash))
        raise OSError("no network in the test")

    monkeypatch.setattr(gutils, "download", fake_download)
    monkeypatch.delenv("MXNET_GLUON_REPO", raising=False)
    with pytest.raises(OSError, match="no network"):
        text.embedding.GloVe(pretrained_file_name="glove.6B.50d.txt", embedding_root=str(tmp_path))
    url, path, sha1 = calls[0]
    assert url == "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/embeddings/glove/glove.6B.zip"
    assert path == str(glove_dir / "glove.6B.zip")
    assert sha1 == "b64e54f1877d2f735bdd000c1d7d771e25c7dfdc"

    digest = hashlib.sha1((DATA / "glove.6B.50d.txt").read_bytes()).hexdigest()
    monkeypatch.setitem(text.embedding.GloVe.pretrained_file_name_sha1, "glove.6B.50d.txt", digest)
    glove = text.embedding.GloVe(pretrained_file_name="glove.6B.50d.txt", embedding_root=str(tmp_path))
    assert len(calls) == 1 and glove.vec_len == 3
    np.testing.assert_array_equal(glove.get_vecs_by_tokens("of").asnumpy(), [-1, 0, 1])

    monkeypatch.setenv("MXNET_GLUON_REPO", "https://example.invalid/")
    url = text.embedding.FastText._get_pretrained_file_url("wiki.en.vec")
    assert url == "https://example.invalid/gluon/embeddings/fasttext/wiki.en.zip"


def test_pretrained_archive_is_unpacked(tmp_path, monkeypatch):
    """The downloaded zip is unpacked into the embedding directory (the download is a local
    copy here)."""
    import zipfile

    gutils = importlib.import_module(mx.__name__ + ".gluon.utils")

    body = (DATA / "wiki.simple.vec").read_bytes()
    archive = tmp_path / "src.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("wiki.simple.vec", body)

    def fake_download(url, path=None, overwrite=False, sha1_hash=None, **kwargs):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(archive, path)
        return path

    monkeypatch.setattr(gutils, "download", fake_download)
    monkeypatch.setitem(text.embedding.FastText.pretrained_file_name_sha1, "wiki.simple.vec", "1" * 40)
    root = tmp_path / "root"
    with pytest.warns(UserWarning, match="header"):
        ft = text.embedding.FastText(embedding_root=str(root))
    assert (root / "fasttext" / "wiki.simple.zip").exists()
    assert ft.idx_to_token == ["<unk>", "the", "cat"]
    np.testing.assert_array_equal(ft.idx_to_vec.asnumpy()[2], [0, 1, 0, 1, 0])


def test_pretrained_tar_gz_is_unpacked(tmp_path, monkeypatch):
    """An embedding class whose download is a .tar.gz gets it unpacked into its directory."""
    import io
    import tarfile

    gutils = importlib.import_module(mx.__name__ + ".gluon.utils")
    body = (DATA / "glove.6B.50d.txt").read_bytes()
    archive = tmp_path / "src.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("vectors.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))

    class TarEmbed(text.embedding._TokenEmbedding):
        pretrained_file_name_sha1 = {"vectors.txt": hashlib.sha1(body).hexdigest()}
        pretrained_archive_name_sha1 = {"vectors.tar.gz": "2" * 40}

        @classmethod
        def _get_download_file_name(cls, pretrained_file_name):
            return "vectors.tar.gz"

        def __init__(self, root):
            super().__init__()
            self._load_embedding(self._get_pretrained_file(root, "vectors.txt"), " ", mx.nd.zeros)

    calls = []

    def fake_download(url, path=None, overwrite=False, sha1_hash=None, **kwargs):
        calls.append((url, sha1_hash))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(archive, path)
        return path

    monkeypatch.setattr(gutils, "download", fake_download)
    monkeypatch.delenv("MXNET_GLUON_REPO", raising=False)
    emb = TarEmbed(str(tmp_path / "root"))
    url = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/embeddings/tarembed/vectors.tar.gz"
    assert calls == [(url, "2" * 40)]
    assert emb.idx_to_token == ["<unk>", "the", "of", "and"]
    # Now the file is there with the right SHA-1: no second download.
    TarEmbed(str(tmp_path / "root"))
    assert len(calls) == 1
