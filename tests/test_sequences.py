"""`pad_sequence` / `unpad_sequence`: shapes, values, the round trip, and that a padded
batch with its lengths runs through a model exactly like each sequence alone.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import rnn


def sequences(lengths, trailing=(3,), seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, *trailing)).astype(dtype) for n in lengths]


@pytest.mark.parametrize("trailing", [(), (3,), (2, 4)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_shapes_and_values(trailing, batch_first):
    seqs = sequences([2, 5, 1, 5], trailing)
    padded, lengths = rnn.pad_sequence(seqs, batch_first=batch_first, padding_value=-3.5)
    assert padded.shape == ((4, 5) if batch_first else (5, 4)) + trailing
    assert padded.dtype == np.float64
    assert lengths.tolist() == [2, 5, 1, 5]
    assert lengths.dtype.kind == "i"
    by_seq = padded if batch_first else padded.swapaxes(0, 1)  # (N, L, *F)
    for b, s in enumerate(seqs):
        np.testing.assert_array_equal(by_seq[b, : len(s)], s)
        assert np.all(by_seq[b, len(s) :] == -3.5)


def test_pad_single_sequence():
    (s,) = seqs = sequences([4])
    padded, lengths = rnn.pad_sequence(seqs)
    np.testing.assert_array_equal(padded, s[:, None])
    assert lengths.tolist() == [4]


def test_pad_copies():
    seqs = sequences([2, 3])
    padded, _ = rnn.pad_sequence(seqs)
    padded[...] = 0
    assert np.all(seqs[1] != 0)


def test_pad_accepts_nested_lists():
    padded, lengths = rnn.pad_sequence([[1, 2, 3], [4]], padding_value=9)
    np.testing.assert_array_equal(padded, [[1, 4], [2, 9], [3, 9]])
    assert lengths.tolist() == [3, 1]


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        ((np.float32, np.float32), np.float32),
        ((np.float32, np.float64), np.float64),
        ((np.int32, np.float32), np.float64),
        ((np.int64, np.int64), np.int64),
        ((np.int8, np.int16), np.int16),
    ],
)
def test_pad_dtype_promotion(dtypes, expected):
    seqs = [np.ones((n, 2), dt) for n, dt in zip((3, 1), dtypes)]
    padded, _ = rnn.pad_sequence(seqs)
    assert padded.dtype == expected


@pytest.mark.parametrize("batch_first", [False, True])
def test_round_trip(batch_first):
    seqs = sequences([3, 1, 4, 4, 2], (2, 3))
    padded, lengths = rnn.pad_sequence(seqs, batch_first=batch_first)
    back = rnn.unpad_sequence(padded, lengths, batch_first=batch_first)
    assert len(back) == len(seqs)
    for a, b in zip(back, seqs):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_unpad_returns_copies():
    padded, lengths = rnn.pad_sequence(sequences([2, 3]))
    back = rnn.unpad_sequence(padded, lengths)
    back[0][...] = 7.0
    assert not np.any(padded == 7.0)


def test_unpad_any_lengths():
    padded = np.arange(12).reshape(4, 3)  # (L, N) with scalar features
    back = rnn.unpad_sequence(padded, [1, 4, 2])
    assert [b.tolist() for b in back] == [[0], [1, 4, 7, 10], [2, 5]]


@pytest.mark.parametrize("batch_first", [False, True])
def test_against_torch(batch_first):
    torch = pytest.importorskip("torch")
    seqs = sequences([3, 5, 1, 2], (2,))
    padded, lengths = rnn.pad_sequence(seqs, batch_first=batch_first, padding_value=0.25)
    expected = torch.nn.utils.rnn.pad_sequence(
        [torch.from_numpy(s) for s in seqs], batch_first=batch_first, padding_value=0.25
    )
    np.testing.assert_array_equal(padded, expected.numpy())
    back = rnn.unpad_sequence(padded, lengths, batch_first=batch_first)
    torch_back = torch.nn.utils.rnn.unpad_sequence(
        torch.from_numpy(padded), torch.as_tensor(lengths), batch_first=batch_first
    )
    for a, b in zip(back, torch_back, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


F64 = {"dtype": np.float64, "seed": 0}
MODELS = [
    lambda bf: rnn.RNN(3, 4, num_layers=2, bidirectional=True, batch_first=bf, **F64),
    lambda bf: rnn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=bf, **F64),
    lambda bf: rnn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=True, batch_first=bf, **F64),
]


@pytest.mark.parametrize("make", MODELS, ids=["rnn", "gru", "lstm"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_padded_batch_equals_each_sequence_alone(make, batch_first):
    model = make(batch_first)
    seqs = sequences([3, 6, 1, 4], (3,), seed=1)
    padded, lengths = rnn.pad_sequence(seqs, batch_first=batch_first)
    output, final = model(padded, lengths=lengths)
    finals = final if isinstance(final, tuple) else (final,)
    outputs = rnn.unpad_sequence(output, lengths, batch_first=batch_first)
    for b, s in enumerate(seqs):
        alone, alone_final = model(s)
        alone_finals = alone_final if isinstance(alone_final, tuple) else (alone_final,)
        np.testing.assert_allclose(outputs[b], alone, rtol=0, atol=1e-13)
        for f, g in zip(finals, alone_finals, strict=True):
            np.testing.assert_allclose(f[:, b], g, rtol=0, atol=1e-13)
    by_seq = output if batch_first else output.swapaxes(0, 1)
    for b, n in enumerate(lengths):
        assert np.all(by_seq[b, n:] == 0)


def test_pad_errors():
    with pytest.raises(ValueError, match=r"^pad_sequence needs at least one sequence; got none$"):
        rnn.pad_sequence([])
    message = (
        "every sequence must have trailing shape (3,) (that of sequence 0); sequence 2 has (4,)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnn.pad_sequence([np.ones((2, 3)), np.ones((1, 3)), np.ones((2, 4))])
    message = "sequence 1 must have shape (L_b, ...) with L_b >= 1; got (0, 3)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnn.pad_sequence([np.ones((2, 3)), np.ones((0, 3))])
    message = "sequence 0 must have shape (L_b, ...) with L_b >= 1; got ()"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnn.pad_sequence([1.0, 2.0])


RANGE = "every length must lie in 1..3 (the input's sequence length); "


@pytest.mark.parametrize(
    ("lengths", "kind", "message"),
    [
        ([3, 0], ValueError, f"{RANGE}got [0] at index [1]"),
        ([4, -1], ValueError, f"{RANGE}got [4, -1] at index [0, 1]"),
        ([3], ValueError, "lengths must have one entry per sequence: expected 2, got 1"),
        ([3.0, 1.0], TypeError, "lengths must be integers; got dtype float64"),
        ([[3, 1]], ValueError, "lengths must be 1-D, one entry per sequence; got shape (1, 2)"),
    ],
    ids=["zero", "long", "count", "float", "2d"],
)
def test_unpad_bad_lengths(lengths, kind, message):
    with pytest.raises(kind, match=f"^{re.escape(message)}$"):
        rnn.unpad_sequence(np.zeros((3, 2, 1)), lengths)


def test_unpad_batch_first_reads_lengths_along_axis_1():
    padded = np.zeros((2, 3, 1))  # (N, L, F)
    assert [len(s) for s in rnn.unpad_sequence(padded, [3, 1], batch_first=True)] == [3, 1]
    with pytest.raises(ValueError, match=re.escape("every length must lie in 1..3")):
        rnn.unpad_sequence(padded, [4, 1], batch_first=True)


def test_unpad_needs_two_dimensions():
    message = "padded must have at least 2 dimensions (L, N, ...); got (3,)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnn.unpad_sequence(np.zeros(3), [1, 1, 1])
