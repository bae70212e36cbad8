"""Write tests/data/textio_golden.json (``mx.contrib.text`` from real MXNet 1.9.1) and the
small embedding files under tests/data/textio that it reads.

Run with the reference venv from the repository root::

    /work/mxref/bin/python tools/golden/textio.py

The same calls are made by tests/unit/test_textio_text.py on mxrs. The pre-trained GloVe and
fastText files are the small committed ones, placed in an embedding root as MXNet lays it out
(``root/glove/glove.6B.50d.txt``); their SHA-1 replaces MXNet's in the class's table so that
nothing is downloaded.
"""

import collections
import hashlib
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "textio")
OUT = os.path.join(ROOT, "tests", "data", "textio_golden.json")

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.join(ROOT, "tools", "golden")]

# The embedding files: a header line, a duplicate token, the unknown token, mixed case.
FILES = {
    "emb_a.txt": (
        "3 4\n"
        "hello 0.1 0.2 0.3 0.4\n"
        "World 1.5 -2.0 0.25 3.0\n"
        "<unk> 9 8 7 6\n"
        "life -1 -2 -3 -4\n"
        "hello 5 5 5 5\n"
        "is 0.5 0.5 0.5 0.5\n"
    ),
    "emb_b.tsv": "hello\t1\t2\nlife\t3\t4\ngood\t-0.5\t0.125\n",
    "glove.6B.50d.txt": "the 0.1 0.2 0.3\nof -1 0 1\nand 2 2 2\n",
    "wiki.simple.vec": "2 3\nthe 1 1 1 1 1\ncat 0 1 0 1 0\n",
}

TEXT = " Life is great ! \n life is good . \n Life is life \n"


def write_files():
    os.makedirs(DATA, exist_ok=True)
    for name, body in FILES.items():
        with open(os.path.join(DATA, name), "w", encoding="utf8") as f:
            f.write(body)


def sha1(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def arr(x):
    return x.asnumpy().tolist()


def cases(mx):
    text = mx.contrib.text
    g = {}
    c1 = text.utils.count_tokens_from_str(TEXT)
    g["count_plain"] = sorted(c1.items())
    c2 = text.utils.count_tokens_from_str(TEXT, " ", "\n", True)
    g["count_lower"] = sorted(c2.items())
    c3 = text.utils.count_tokens_from_str(
        "*a*b*\n*B*a*\n", "\\*", "\\n", True, counter_to_update=collections.Counter(c1)
    )
    g["count_update"] = sorted(c3.items())

    counter = text.utils.count_tokens_from_str(TEXT, to_lower=True)
    v = text.vocab.Vocabulary(counter)
    g["vocab_default"] = v.idx_to_token
    v2 = text.vocab.Vocabulary(
        counter, most_freq_count=3, min_freq=1, unknown_token="<UNK>", reserved_tokens=["<pad>", "<bos>"]
    )
    g["vocab_cap"] = v2.idx_to_token
    g["vocab_cap_indices"] = v2.to_indices(["life", "zzz", "<pad>", "is"])
    g["vocab_cap_tokens"] = v2.to_tokens([0, 1, 3, 4])
    v3 = text.vocab.Vocabulary(counter, min_freq=2)
    g["vocab_minfreq"] = v3.idx_to_token

    a = text.embedding.CustomEmbedding(os.path.join(DATA, "emb_a.txt"))
    g["a_tokens"] = a.idx_to_token
    g["a_vecs"] = arr(a.idx_to_vec)
    g["a_lookup"] = arr(a.get_vecs_by_tokens(["hello", "world", "World", "nope"]))
    g["a_lookup_lower"] = arr(a.get_vecs_by_tokens(["HELLO", "World", "LIFE"], lower_case_backup=True))
    g["a_single"] = arr(a.get_vecs_by_tokens("life"))
    a.update_token_vectors(["hello", "<unk>"], mx.nd.array([[1, 1, 1, 1], [2, 2, 2, 2]]))
    a.update_token_vectors("is", mx.nd.array([3, 3, 3, 3]))
    g["a_updated"] = arr(a.idx_to_vec)

    vocab = text.vocab.Vocabulary(counter, reserved_tokens=["<pad>"])
    b = text.embedding.CustomEmbedding(
        os.path.join(DATA, "emb_b.tsv"), elem_delim="\t", init_unknown_vec=mx.nd.ones, vocabulary=vocab
    )
    g["b_tokens"] = b.idx_to_token
    g["b_vecs"] = arr(b.idx_to_vec)
    a2 = text.embedding.CustomEmbedding(os.path.join(DATA, "emb_a.txt"))
    comp = text.embedding.CompositeEmbedding(vocab, [a2, b])
    g["comp_len"] = comp.vec_len
    g["comp_tokens"] = comp.idx_to_token
    g["comp_vecs"] = arr(comp.idx_to_vec)
    g["comp_lookup"] = arr(comp.get_vecs_by_tokens(["life", "good", "x"]))

    root = tempfile.mkdtemp()
    try:
        for cls, name in ((text.embedding.GloVe, "glove.6B.50d.txt"), (text.embedding.FastText, "wiki.simple.vec")):
            d = os.path.join(root, cls.__name__.lower())
            os.makedirs(d)
            shutil.copy(os.path.join(DATA, name), d)
            cls.pretrained_file_name_sha1[name] = sha1(os.path.join(DATA, name))
        glove = text.embedding.create("glove", pretrained_file_name="glove.6B.50d.txt", embedding_root=root)
        g["glove_tokens"] = glove.idx_to_token
        g["glove_vecs"] = arr(glove.idx_to_vec)
        ft = text.embedding.FastText(embedding_root=root, vocabulary=vocab, init_unknown_vec=mx.nd.ones)
        g["fasttext_tokens"] = ft.idx_to_token
        g["fasttext_vecs"] = arr(ft.idx_to_vec)
    finally:
        shutil.rmtree(root)
    g["glove_url"] = text.embedding.GloVe._get_pretrained_file_url("glove.6B.50d.txt")
    g["fasttext_url"] = text.embedding.FastText._get_pretrained_file_url("wiki.simple.vec")
    names = text.embedding.get_pretrained_file_names()
    g["pretrained_names"] = {k: sorted(v) for k, v in names.items()}
    return g


def main():
    import mxnet as mx

    write_files()
    g = cases(mx)
    with open(OUT, "w") as f:
        json.dump(g, f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT} ({len(g)} cases)")


if __name__ == "__main__":
    main()
