"""The helpers behind the Learn pages (docs/examples/learn_*.py) and their data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import rnn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "examples"))

import learn_char_lm  # noqa: E402
import learn_seq2seq  # noqa: E402


def test_sunspots_csv_is_the_yearly_series() -> None:
    data = np.loadtxt(ROOT / "docs" / "data" / "sunspots.csv", delimiter=",")
    assert data.shape == (309, 2)
    np.testing.assert_array_equal(data[:, 0], np.arange(1700, 2009))
    assert np.all(data[:, 1] >= 0)


def test_encode_maps_unknown_characters_to_question_mark() -> None:
    codes = learn_char_lm.encode("a\n“b”")
    assert learn_char_lm.decode(codes) == "a\n?b?"
    assert len(learn_char_lm.VOCAB) == 96


def test_ngram_bits_by_hand() -> None:
    """Unigram and bigram add-k probabilities, computed from the counts by hand."""
    k, v = 0.5, len(learn_char_lm.VOCAB)
    train = np.array([0, 0, 1])
    test = np.array([0, 1])
    p0, p1 = (2 + k) / (3 + k * v), (1 + k) / (3 + k * v)
    expected = -(np.log2(p0) + np.log2(p1)) / 2
    assert learn_char_lm.ngram_bits(train, test, 1, k) == pytest.approx(expected)
    # bigram: after 0, train has 0 -> 0 once and 0 -> 1 once; test asks 0 -> 1.
    p = (1 + k) / (2 + k * v)
    assert learn_char_lm.ngram_bits(train, test, 2, k) == pytest.approx(-np.log2(p))


@pytest.mark.parametrize("cell", [rnn.GRU, rnn.LSTM, rnn.RNN])
def test_seq2seq_gradient_crosses_from_decoder_to_encoder(cell: type) -> None:
    """Seq2Seq.backward against central differences, encoder parameters included."""

    def cell64(*args: object, **kwargs: object) -> object:
        return cell(*args, dtype=np.float64, **kwargs)

    model = learn_seq2seq.Seq2Seq(cell64, 3, seed=0)
    model.head = {k: v.astype(np.float64) for k, v in model.head.items()}
    source, target = learn_seq2seq.reversal(np.random.default_rng(0), 2)
    weights = np.random.default_rng(1).standard_normal(
        (learn_seq2seq.LENGTH, 2, learn_seq2seq.DIGITS)
    )

    def loss(state: dict[str, np.ndarray]) -> float:
        model.load_state_dict(state)
        return float(np.sum(model(source, target) * weights))

    params = model.state_dict()
    loss(params)
    grads = model.backward(weights)
    assert sorted(grads) == sorted(params)
    eps = 1e-6
    for name in ["encoder.weight_ih_l0", "encoder.bias_hh_l0", "head.weight"]:
        value = params[name]
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            up, down = value.copy(), value.copy()
            up[i] += eps
            down[i] -= eps
            numeric[i] = (loss(params | {name: up}) - loss(params | {name: down})) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8)


def test_char_lm_fixture_fits_the_page_model() -> None:
    """The stored GRU and readout are what docs/learn/train_char_lm.py writes."""
    data = ROOT / "docs" / "data"
    layer = rnn.load(data / "char_lm_gru.npz")
    assert isinstance(layer, rnn.GRU)
    assert (layer.input_size, layer.hidden_size) == (len(learn_char_lm.VOCAB), 128)
    with np.load(data / "char_lm_head.npz") as saved:
        assert saved["head.weight"].shape == (len(learn_char_lm.VOCAB), 128)
        assert saved["head.bias"].shape == (len(learn_char_lm.VOCAB),)
        losses = saved["losses"]
    assert losses.shape == (3000,)
    assert losses[-100:].mean() < losses[:100].mean() / 2
