"""Chapter 10's use of ``mxnet.contrib.text`` (10.6 word similarity and analogy with GloVe,
10.7's IMDB vocabulary and pre-trained embedding for the sentiment net), with d2lzh's helpers
and the book's code unchanged. The GloVe file is a small one made here, placed where MXNet
looks for it (``$HOME/.mxnet/embeddings/glove/glove.6B.50d.txt``); its SHA-1 stands in for
the real file's so nothing is downloaded."""

import hashlib

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon, nd
from mxnet.contrib import text
from mxnet.gluon import nn, rnn

d2l = pytest.importorskip(
    "d2lzh", reason="tests/d2l run the d2l book's helper package d2lzh 1.0 (make venv installs it)"
)

# Six words on the corners of a small cube: "woman - man + king" lands on "queen".
WORDS = {
    "man": [1.0, 0.0, 0.0],
    "woman": [1.0, 1.0, 0.0],
    "king": [1.0, 0.0, 1.0],
    "queen": [1.0, 1.0, 1.0],
    "good": [0.0, 0.5, 0.2],
    "great": [0.1, 0.6, 0.2],
}


@pytest.fixture
def glove_home(d2l_files, monkeypatch):
    """The GloVe file under the test HOME, as if MXNet had downloaded it."""
    root = d2l_files / "home" / ".mxnet" / "embeddings"
    (root / "glove").mkdir(parents=True, exist_ok=True)
    path = root / "glove" / "glove.6B.50d.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in WORDS.items()))
    monkeypatch.setitem(
        text.embedding.GloVe.pretrained_file_name_sha1, "glove.6B.50d.txt", hashlib.sha1(path.read_bytes()).hexdigest()
    )
    # As in MXNet, the default root was fixed at import (with the real HOME).
    init = text.embedding.GloVe.__init__
    monkeypatch.setattr(init, "__defaults__", (init.__defaults__[0], str(root)) + init.__defaults__[2:])
    return root


def knn(W, x, k):
    # The added 1e-9 is for numerical stability
    cos = nd.dot(W, x.reshape((-1,))) / ((nd.sum(W * W, axis=1) + 1e-9).sqrt() * nd.sum(x * x).sqrt())
    topk = nd.topk(cos, k=k, ret_typ="indices").asnumpy().astype("int32")
    return topk, [cos[i].asscalar() for i in topk]


def get_similar_tokens(query_token, k, embed):
    topk, cos = knn(embed.idx_to_vec, embed.get_vecs_by_tokens([query_token]), k + 1)
    return [(embed.idx_to_token[i], c) for i, c in zip(topk[1:], cos[1:])]  # Remove input words


def get_analogy(token_a, token_b, token_c, embed):
    vecs = embed.get_vecs_by_tokens([token_a, token_b, token_c])
    x = vecs[1] - vecs[0] + vecs[2]
    topk, cos = knn(embed.idx_to_vec, x, 1)
    return embed.idx_to_token[topk[0]]


def test_similarity_and_analogy(glove_home):
    assert "glove.6B.50d.txt" in text.embedding.get_pretrained_file_names("glove")
    glove_6b50d = text.embedding.create("glove", pretrained_file_name="glove.6B.50d.txt")
    assert len(glove_6b50d) == 7
    assert glove_6b50d.token_to_idx["queen"] == 4 and glove_6b50d.idx_to_token[4] == "queen"
    similar = get_similar_tokens("good", 1, glove_6b50d)
    assert similar[0][0] == "great"
    want = np.dot(WORDS["good"], WORDS["great"]) / np.linalg.norm(WORDS["good"]) / np.linalg.norm(WORDS["great"])
    np.testing.assert_allclose(similar[0][1], want, rtol=1e-5)
    assert get_analogy("man", "woman", "king", glove_6b50d) == "queen"


def test_sentiment_vocab_and_pretrained_embedding(glove_home):
    reviews = ["good movie", "great great film", "bad movie", "Good acting good plot"] * 3
    train_data = [[r, i % 2] for i, r in enumerate(reviews)]
    vocab = d2l.get_vocab_imdb(train_data)  # min_freq=5
    assert vocab.idx_to_token == ["<unk>", "good", "great", "movie"]
    features, labels = d2l.preprocess_imdb(train_data, vocab)
    assert features.shape == (12, 500)
    np.testing.assert_array_equal(features[0, :3].asnumpy(), [1, 3, 0])

    glove_embedding = text.embedding.create("glove", pretrained_file_name="glove.6B.50d.txt", vocabulary=vocab)
    np.testing.assert_array_equal(
        glove_embedding.idx_to_vec.asnumpy(),
        np.array([[0, 0, 0], WORDS["good"], WORDS["great"], [0, 0, 0]], dtype=np.float32),
    )

    class BiRNN(nn.Block):
        def __init__(self, vocab, embed_size, num_hiddens, num_layers, **kwargs):
            super(BiRNN, self).__init__(**kwargs)
            self.embedding = nn.Embedding(len(vocab), embed_size)
            self.encoder = rnn.LSTM(num_hiddens, num_layers=num_layers, bidirectional=True, input_size=embed_size)
            self.decoder = nn.Dense(2)

        def forward(self, inputs):
            embeddings = self.embedding(inputs.T)
            outputs = self.encoder(embeddings)
            encoding = nd.concat(outputs[0], outputs[-1])
            return self.decoder(encoding)

    net = BiRNN(vocab, 3, 4, 1)
    net.initialize(mx.init.Xavier())
    net.embedding.weight.set_data(glove_embedding.idx_to_vec)
    net.embedding.collect_params().setattr("grad_req", "null")
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    x, y = features[:4, :8], labels[:4]
    with mx.autograd.record():
        lval = loss(net(x), y)
    lval.backward()
    trainer.step(4)
    np.testing.assert_array_equal(net.embedding.weight.data().asnumpy(), glove_embedding.idx_to_vec.asnumpy())
