"""Boundary checks: every bad argument is refused at the public API with a message that
says what was expected and what came, raised by the package (not from deep inside numpy).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnn

PACKAGE = Path(rnn.__file__).resolve().parent
LAYERS = [rnn.RNN, rnn.GRU, rnn.LSTM]
CELLS = [rnn.RNNCell, rnn.GRUCell, rnn.LSTMCell]


@contextlib.contextmanager
def refused(kind: type[Exception], message: str) -> Iterator[None]:
    """Expect exactly `message`, raised by a frame of the `rnn` package itself."""
    with pytest.raises(kind, match=f"^{re.escape(message)}$") as info:
        yield
    origin = Path(info.traceback[-1].path).resolve()
    assert origin.parent == PACKAGE, f"raised from {origin}, not at the package boundary"


def states(model, batch: int | None):
    """Zero initial states of the right shapes for `model` (None batch: unbatched)."""
    rows = model.num_layers * (2 if model.bidirectional else 1)
    widths = [model.proj_size or model.hidden_size, model.hidden_size]
    shapes = [(rows, w) if batch is None else (rows, batch, w) for w in widths]
    if isinstance(model, rnn.LSTM):
        return tuple(np.zeros(s) for s in shapes)
    return np.zeros(shapes[0])


# --- input ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("shape", [(3,), (2, 5, 2, 3)])
def test_layer_input_rank(cls, shape):
    model = cls(3, 4, seed=0)
    message = f"{cls.__name__}: Expected input to be 2D or 3D, got {len(shape)}D array instead"
    with refused(ValueError, message):
        model(np.zeros(shape))


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("shape", [(), (1, 2, 3)])
def test_cell_input_rank(cls, shape):
    cell = cls(3, 4, seed=0)
    message = f"{cls.__name__}: Expected input to be 1D or 2D, got {len(shape)}D array instead"
    with refused(ValueError, message):
        cell(np.zeros(shape))


@pytest.mark.parametrize("cls", LAYERS + CELLS)
@pytest.mark.parametrize("batched", [True, False])
def test_feature_size(cls, batched):
    model = cls(3, 4, seed=0)
    leading = ((5, 2) if batched else (5,)) if cls in LAYERS else ((2,) if batched else ())
    shape = (*leading, 7)
    with refused(ValueError, "input.shape[-1] must be equal to input_size. Expected 3, got 7"):
        model(np.zeros(shape))


@pytest.mark.parametrize("cls", LAYERS)
def test_zero_steps(cls):
    with refused(ValueError, "input must hold at least one time step; got shape (0, 2, 3)"):
        cls(3, 4, seed=0)(np.zeros((0, 2, 3)))


@pytest.mark.parametrize(
    ("kwargs", "shape"), [({"batch_first": True}, (2, 0, 3)), ({}, (0, 3))], ids=["bf", "unb"]
)
def test_zero_steps_other_layouts(kwargs, shape):
    # The shape in the message is the internal (L, N, H_in) one, hence only the prefix.
    with pytest.raises(ValueError, match=r"^input must hold at least one time step; got shape"):
        rnn.GRU(3, 4, seed=0, **kwargs)(np.zeros(shape))


BAD_ARRAYS = {
    "complex": (np.zeros((5, 2, 3), complex), "complex128"),
    "bool": (np.zeros((5, 2, 3), bool), "bool"),
    "object": (np.zeros((5, 2, 3), object), "object"),
    "string": (np.full((5, 2, 3), "a"), "<U1"),
}


@pytest.mark.parametrize("cls", LAYERS + CELLS)
@pytest.mark.parametrize("case", BAD_ARRAYS)
def test_input_dtype(cls, case):
    value, dtype = BAD_ARRAYS[case]
    if cls in CELLS:
        value = value[0]
    message = f"input must be a real (integer or floating-point) array; got dtype {dtype}"
    with refused(TypeError, message):
        cls(3, 4, seed=0)(value)


def test_string_scalar_input():
    with refused(
        TypeError, "input must be a real (integer or floating-point) array; got dtype <U3"
    ):
        rnn.RNN(3, 4, seed=0)("abc")


@pytest.mark.parametrize("cls", LAYERS)
def test_integer_input_is_cast(cls):
    model = cls(3, 4, dtype=np.float64, seed=0)
    x = np.arange(30).reshape(5, 2, 3) % 4 - 2
    out_int, _ = model(x)
    out_float, _ = model(x.astype(np.float64))
    assert out_int.dtype == np.float64
    np.testing.assert_array_equal(out_int, out_float)


# --- initial states -------------------------------------------------------------------


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.GRU])
def test_h0_shape_batched(cls):
    model = cls(3, 4, num_layers=2, bidirectional=True, seed=0)
    x = np.zeros((5, 2, 3))
    with refused(ValueError, "Expected h0 of shape (4, 2, 4), got (4, 3, 4)"):
        model(x, np.zeros((4, 3, 4)))
    with refused(ValueError, "Expected h0 of shape (4, 2, 4), got (2, 2, 4)"):
        model(x, np.zeros((2, 2, 4)))
    with refused(ValueError, "For batched 3-D input, h0 should also be 3-D but got 2-D array"):
        model(x, np.zeros((4, 4)))
    with refused(ValueError, "For batched 3-D input, h0 should also be 3-D but got 4-D array"):
        model(x, np.zeros((1, 4, 2, 4)))


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.GRU])
def test_h0_shape_unbatched(cls):
    model = cls(3, 4, num_layers=2, seed=0)
    x = np.zeros((5, 3))
    with refused(ValueError, "Expected h0 of shape (2, 4), got (2, 5)"):
        model(x, np.zeros((2, 5)))
    with refused(ValueError, "For unbatched 2-D input, h0 should also be 2-D but got 3-D array"):
        model(x, np.zeros((2, 1, 4)))
    with refused(ValueError, "For unbatched 2-D input, h0 should also be 2-D but got 1-D array"):
        model(x, np.zeros(4))


def test_h0_batch_first_is_not_transposed():
    model = rnn.RNN(3, 4, batch_first=True, seed=0)
    with refused(ValueError, "Expected h0 of shape (1, 2, 4), got (2, 1, 4)"):
        model(np.zeros((2, 5, 3)), np.zeros((2, 1, 4)))


def test_h0_dtype():
    model = rnn.RNN(3, 4, seed=0)
    with refused(TypeError, "h0 must be a real (integer or floating-point) array; got dtype bool"):
        model(np.zeros((5, 2, 3)), np.zeros((1, 2, 4), bool))


def test_lstm_states_shapes():
    model = rnn.LSTM(3, 4, proj_size=2, seed=0)
    x = np.zeros((5, 2, 3))
    h0, c0 = np.zeros((1, 2, 2)), np.zeros((1, 2, 4))
    with refused(ValueError, "Expected h0 of shape (1, 2, 2), got (1, 2, 4)"):
        model(x, (np.zeros((1, 2, 4)), c0))
    with refused(ValueError, "Expected c0 of shape (1, 2, 4), got (1, 2, 2)"):
        model(x, (h0, np.zeros((1, 2, 2))))
    with refused(ValueError, "For batched 3-D input, c0 should also be 3-D but got 2-D array"):
        model(x, (h0, np.zeros((1, 4))))
    with refused(ValueError, "For unbatched 2-D input, c0 should also be 2-D but got 3-D array"):
        model(x[:, 0], (h0[:, 0], c0))
    with refused(ValueError, "Expected c0 of shape (1, 4), got (1, 2)"):
        model(x[:, 0], (h0[:, 0], np.zeros((1, 2))))
    with refused(
        TypeError, "c0 must be a real (integer or floating-point) array; got dtype object"
    ):
        model(x, (h0, None))


@pytest.mark.parametrize(
    ("hx", "got"),
    [
        ([np.zeros((1, 2, 4))] * 2, "list"),
        (np.zeros((2, 1, 2, 4)), "ndarray"),
        ((np.zeros((1, 2, 4)),) * 3, "a tuple of 3"),
        ((np.zeros((1, 2, 4)),), "a tuple of 1"),
    ],
    ids=["list", "array", "triple", "single"],
)
def test_lstm_hx_not_a_pair(hx, got):
    with refused(TypeError, f"LSTM expects hx as a tuple (h0, c0); got {got}"):
        rnn.LSTM(3, 4, seed=0)(np.zeros((5, 2, 3)), hx)


@pytest.mark.parametrize("cls", [rnn.RNNCell, rnn.GRUCell])
def test_cell_hx(cls):
    cell = cls(3, 4, seed=0)
    with refused(ValueError, "Expected hx of shape (2, 4), got (3, 4)"):
        cell(np.zeros((2, 3)), np.zeros((3, 4)))
    with refused(ValueError, "For batched 2-D input, hx should also be 2-D but got 1-D array"):
        cell(np.zeros((2, 3)), np.zeros(4))
    with refused(ValueError, "For unbatched 1-D input, hx should also be 1-D but got 2-D array"):
        cell(np.zeros(3), np.zeros((1, 4)))
    with refused(ValueError, "Expected hx of shape (4,), got (5,)"):
        cell(np.zeros(3), np.zeros(5))


def test_lstm_cell_hx():
    cell = rnn.LSTMCell(3, 4, seed=0)
    h = np.zeros((2, 4))
    with refused(ValueError, "Expected cx of shape (2, 4), got (2, 3)"):
        cell(np.zeros((2, 3)), (h, np.zeros((2, 3))))
    with refused(ValueError, "For unbatched 1-D input, cx should also be 1-D but got 2-D array"):
        cell(np.zeros(3), (np.zeros(4), h))
    with refused(TypeError, "LSTMCell expects hx as a tuple (h, c); got ndarray"):
        cell(np.zeros((2, 3)), h)


# --- constructor arguments -------------------------------------------------------------


def construct(cls, **overrides):
    """`cls` with small valid arguments, some replaced by `overrides`."""
    args = {"input_size": 3, "hidden_size": 4} | overrides
    return cls(args.pop("input_size"), args.pop("hidden_size"), **args)


SIZE_ARGS = [(cls, name) for cls in LAYERS for name in ("input_size", "hidden_size", "num_layers")]
SIZE_ARGS += [(cls, name) for cls in CELLS for name in ("input_size", "hidden_size")]


@pytest.mark.parametrize(("cls", "name"), SIZE_ARGS)
@pytest.mark.parametrize("value", [0, -1])
def test_size_not_positive(cls, name, value):
    with refused(ValueError, f"{name} must be greater than zero; got {value}"):
        construct(cls, **{name: value})


@pytest.mark.parametrize(("cls", "name"), SIZE_ARGS)
@pytest.mark.parametrize("value", [2.5, True, "3", None, 3.0])
def test_size_not_int(cls, name, value):
    with refused(TypeError, f"{name} must be an int; got {type(value).__name__} {value!r}"):
        construct(cls, **{name: value})


def test_numpy_sizes_accepted():
    model = rnn.LSTM(np.int64(3), np.int32(4), num_layers=np.uint8(2), proj_size=np.int16(2))
    assert (model.input_size, model.hidden_size, model.num_layers, model.proj_size) == (3, 4, 2, 2)
    assert all(type(v) is int for v in (model.input_size, model.hidden_size, model.proj_size))


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.RNNCell])
@pytest.mark.parametrize("value", ["sigmoid", "TANH", None])
def test_nonlinearity(cls, value):
    with refused(ValueError, f"Unknown nonlinearity {value!r}. Select from 'tanh' or 'relu'."):
        construct(cls, nonlinearity=value)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("value", [-0.1, 1.5, "x", True, None, float("nan")])
def test_dropout(cls, value):
    message = (
        "dropout should be a number in range [0, 1] representing the probability of an "
        f"element being zeroed; got {value!r}"
    )
    with refused(ValueError, message):
        construct(cls, dropout=value)


@pytest.mark.parametrize("value", [0, 1, 0.5, np.float32(0.25)])
def test_dropout_accepted(value):
    model = rnn.GRU(3, 4, num_layers=2, dropout=value)
    assert model.dropout == float(value)
    assert type(model.dropout) is float


@pytest.mark.parametrize("cls", LAYERS)
def test_dropout_with_one_layer_warns(cls):
    message = (
        "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
        "expects num_layers greater than 1, but got dropout=0.5 and num_layers=1"
    )
    with pytest.warns(UserWarning, match=f"^{re.escape(message)}$") as record:
        cls(3, 4, dropout=0.5)
    assert Path(record[0].filename).resolve() == Path(__file__).resolve()  # the caller's line


def test_proj_size():
    with refused(
        ValueError, "proj_size has to be smaller than hidden_size; got proj_size=4, hidden_size=4"
    ):
        rnn.LSTM(3, 4, proj_size=4)
    with refused(
        ValueError, "proj_size has to be smaller than hidden_size; got proj_size=9, hidden_size=4"
    ):
        rnn.LSTM(3, 4, proj_size=9)
    with refused(ValueError, "proj_size should be a positive integer or zero to disable; got -1"):
        rnn.LSTM(3, 4, proj_size=-1)
    with refused(TypeError, "proj_size must be an int; got float 2.0"):
        rnn.LSTM(3, 4, proj_size=2.0)
    with refused(TypeError, "proj_size must be an int; got bool True"):
        rnn.LSTM(3, 4, proj_size=True)
    with pytest.raises(TypeError, match="proj_size"):
        rnn.GRU(3, 4, proj_size=2)


FLAG_ARGS = [(cls, name) for cls in LAYERS for name in ("bias", "batch_first", "bidirectional")]
FLAG_ARGS += [(cls, "bias") for cls in CELLS]


@pytest.mark.parametrize(("cls", "name"), FLAG_ARGS)
@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_flag_not_bool(cls, name, value):
    with refused(TypeError, f"{name} must be a bool; got {type(value).__name__} {value!r}"):
        construct(cls, **{name: value})


def test_numpy_bool_accepted():
    model = rnn.RNN(3, 4, bias=np.bool_(False), bidirectional=np.bool_(True))
    assert model.bias is False
    assert model.bidirectional is True
    names = ["weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse"]
    assert list(model.state_dict()) == names


@pytest.mark.parametrize("cls", LAYERS + CELLS)
@pytest.mark.parametrize("value", [np.int32, np.float16, "complex64", "float", object])
def test_dtype(cls, value):
    if value == "float":  # numpy reads "float" as float64: accepted
        assert construct(cls, dtype=value).dtype == np.float64
        return
    with refused(TypeError, f"dtype must be numpy.float32 or numpy.float64; got {value!r}"):
        construct(cls, dtype=value)


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.GRUCell])
def test_dtype_unknown_name(cls):
    with refused(TypeError, "dtype must be numpy.float32 or numpy.float64; got 'nope'"):
        construct(cls, dtype="nope")


@pytest.mark.parametrize("value", [np.float32, "float32", np.dtype("float64"), "f8"])
def test_dtype_accepted(value):
    model = rnn.GRU(3, 4, dtype=value, seed=0)
    assert model.dtype == np.dtype(value)
    assert all(p.dtype == np.dtype(value) for p in model.parameters())


# --- lengths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lengths", "bad", "where"),
    [([5, 0, 2], [0], [1]), ([6, 1, 1], [6], [0]), ([-1, 5, 9], [-1, 9], [0, 2])],
)
def test_lengths_out_of_range(lengths, bad, where):
    message = (
        f"every length must lie in 1..5 (the input's sequence length); got {bad} at index {where}"
    )
    with refused(ValueError, message):
        rnn.GRU(3, 4, seed=0)(np.zeros((5, 3, 3)), lengths=lengths)


def test_lengths_batch_first_uses_axis_1():
    model = rnn.LSTM(3, 4, batch_first=True, seed=0)
    x = np.zeros((3, 5, 3))  # (N, L, H_in)
    model(x, lengths=[5, 1, 3])
    with refused(
        ValueError,
        "every length must lie in 1..5 (the input's sequence length); got [6] at index [0]",
    ):
        model(x, lengths=[6, 1, 3])


@pytest.mark.parametrize(
    ("lengths", "kind", "message"),
    [
        ([5, 2], ValueError, "lengths must have one entry per sequence: expected 3, got 2"),
        ([5, 2, 1, 1], ValueError, "lengths must have one entry per sequence: expected 3, got 4"),
        ([5.0, 2.0, 1.0], TypeError, "lengths must be integers; got dtype float64"),
        ([True, True, True], TypeError, "lengths must be integers; got dtype bool"),
        (["5", "2", "1"], TypeError, "lengths must be integers; got dtype <U1"),
        ([[5, 2, 1]], ValueError, "lengths must be 1-D, one entry per sequence; got shape (1, 3)"),
        (3, ValueError, "lengths must be 1-D, one entry per sequence; got shape ()"),
    ],
    ids=["short", "long", "float", "bool", "str", "2d", "scalar"],
)
def test_lengths_malformed(lengths, kind, message):
    with refused(kind, message):
        rnn.RNN(3, 4, seed=0)(np.zeros((5, 3, 3)), lengths=lengths)


def test_lengths_unbatched():
    with refused(ValueError, "lengths requires batched 3-D input; got unbatched 2-D input"):
        rnn.RNN(3, 4, seed=0)(np.zeros((5, 3)), lengths=[5])


# --- state_dict -----------------------------------------------------------------------


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    model = rnn.RNN(3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    before = model.state_dict()
    out_before, h_before = model(x)
    bad = rnn.RNN(3, 4, seed=1).state_dict()
    del bad["bias_hh_l0"], bad["weight_hh_l0"]
    bad["weight_ih_l0"] = np.zeros((3, 4))
    bad["bias_ih_l0"] = np.zeros((1, 4))
    bad["foo"] = np.zeros(1)
    bad["weight_ih_l1"] = np.zeros((4, 4))
    message = (
        "Error(s) in loading state_dict for RNN: "
        "missing keys: ['weight_hh_l0', 'bias_hh_l0']; "
        "unexpected keys: ['foo', 'weight_ih_l1']; "
        "weight_ih_l0: expected shape (4, 3), got (3, 4); "
        "bias_ih_l0: expected shape (4,), got (1, 4)"
    )
    with refused(ValueError, message):
        model.load_state_dict(bad)
    after = model.state_dict()
    assert list(after) == list(before)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
    out_after, h_after = model(x)
    np.testing.assert_array_equal(out_after, out_before)
    np.testing.assert_array_equal(h_after, h_before)


def test_load_state_dict_bad_entry_changes_nothing():
    model = rnn.LSTM(3, 4, seed=0)
    before = model.state_dict()
    bad = rnn.LSTM(3, 4, seed=1).state_dict()  # every entry differs from the model's
    bad["bias_ih_l0"] = np.full(16, "a")
    message = (
        "state_dict['bias_ih_l0'] must be a real (integer or floating-point) array; got dtype <U1"
    )
    with refused(TypeError, message):
        model.load_state_dict(bad)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("value", [[("weight_ih", np.zeros((4, 3)))], None, np.zeros(3)])
def test_load_state_dict_not_a_mapping(value):
    with refused(TypeError, f"state_dict must be a mapping; got {type(value).__name__}"):
        rnn.RNNCell(3, 4, seed=0).load_state_dict(value)


def test_load_state_dict_cell_names():
    cell = rnn.GRUCell(3, 4, seed=0)
    sd = {f"{k}_l0": v for k, v in cell.state_dict().items()}
    message = (
        "Error(s) in loading state_dict for GRUCell: "
        "missing keys: ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']; "
        "unexpected keys: ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']"
    )
    with refused(ValueError, message):
        cell.load_state_dict(sd)


@pytest.mark.parametrize("cls", LAYERS + CELLS)
def test_parameters_are_read_only(cls):
    model = cls(3, 4, seed=0)
    name = "weight_ih" if cls in CELLS else "weight_ih_l0"
    before = model.state_dict()[name]
    with pytest.raises(ValueError, match="read-only"):
        getattr(model, name)[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        getattr(model, name)[...] += 1.0
    for _, p in model.named_parameters():
        with pytest.raises(ValueError, match="read-only"):
            p.fill(0.0)
    for p in model.parameters():
        with pytest.raises(ValueError, match="read-only"):
            p[...] = 0.0
    np.testing.assert_array_equal(model.state_dict()[name], before)


def test_state_dict_returns_copies():
    model = rnn.LSTM(3, 4, proj_size=2, seed=0)
    x = np.ones((5, 2, 3))
    out, _ = model(x)
    sd = model.state_dict()
    for value in sd.values():
        assert value.flags.writeable
        value[...] = 7.0
    np.testing.assert_array_equal(model(x)[0], out)
    assert not np.any(model.weight_hr_l0 == 7.0)


def test_load_state_dict_copies():
    model = rnn.GRU(3, 4, seed=0)
    source = rnn.GRU(3, 4, seed=1).state_dict()
    model.load_state_dict(source)
    x = np.ones((5, 2, 3))
    out, _ = model(x)
    for value in source.values():
        value[...] = 7.0
    np.testing.assert_array_equal(model(x)[0], out)
    assert not model.weight_ih_l0.flags.writeable


def test_load_state_dict_casts_float32_into_float64():
    model = rnn.LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0)
    source = rnn.LSTM(3, 4, num_layers=2, dtype=np.float32, seed=1).state_dict()
    model.load_state_dict(source)
    for name, value in model.state_dict().items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, source[name].astype(np.float64))


def test_load_state_dict_accepts_nested_lists():
    cell = rnn.RNNCell(2, 1, dtype=np.float64, seed=0)
    cell.load_state_dict(
        {"weight_ih": [[1, 2]], "weight_hh": [[0.5]], "bias_ih": [0], "bias_hh": [-1]}
    )
    assert cell.weight_ih.dtype == np.float64
    np.testing.assert_allclose(cell(np.array([1.0, 1.0]), np.array([2.0])), np.tanh([3.0]))


# --- backward -------------------------------------------------------------------------

BACKWARD_ERROR = (
    "backward() needs a forward pass in training mode first: call model.train(), "
    "then model(x), then model.backward(...); each forward pass allows one backward"
)


@pytest.mark.parametrize("cls", LAYERS + CELLS)
def test_backward_without_forward(cls):
    with refused(RuntimeError, BACKWARD_ERROR):
        cls(3, 4, seed=0).backward()


@pytest.mark.parametrize("cls", LAYERS)
def test_backward_after_eval(cls):
    model = cls(3, 4, seed=0)
    x = np.ones((5, 2, 3))
    model(x)
    model.eval()
    with refused(RuntimeError, BACKWARD_ERROR):
        model.backward()
    model(x)
    with refused(RuntimeError, BACKWARD_ERROR):
        model.backward()
    model.train()
    model(x)
    assert set(model.backward()) >= {"input", "h0"}


@pytest.mark.parametrize("cls", LAYERS + CELLS)
def test_backward_twice(cls):
    model = cls(3, 4, seed=0)
    model(np.ones((2, 3)))
    model.backward()
    with refused(RuntimeError, BACKWARD_ERROR):
        model.backward()


@pytest.mark.parametrize(
    ("kwargs", "x_shape", "expected"),
    [
        ({}, (5, 2, 3), (5, 2, 4)),
        ({"batch_first": True}, (2, 5, 3), (2, 5, 4)),
        ({"bidirectional": True}, (5, 2, 3), (5, 2, 8)),
        ({}, (5, 3), (5, 4)),
    ],
    ids=["batched", "batch_first", "bidirectional", "unbatched"],
)
def test_grad_output_shape(kwargs, x_shape, expected):
    model = rnn.RNN(3, 4, seed=0, **kwargs)
    model(np.ones(x_shape))
    wrong = (*expected[:-1], expected[-1] + 1)
    with refused(ValueError, f"Expected grad_output of shape {expected}, got {wrong}"):
        model.backward(np.ones(wrong))


def test_grad_h_n_shape():
    model = rnn.GRU(3, 4, num_layers=2, batch_first=True, seed=0)
    model(np.ones((2, 5, 3)))
    with refused(ValueError, "Expected grad_h_n of shape (2, 2, 4), got (2, 5, 4)"):
        model.backward(None, np.ones((2, 5, 4)))


def test_grad_c_n_shape():
    model = rnn.LSTM(3, 4, proj_size=2, seed=0)
    model(np.ones((5, 3)))
    with refused(ValueError, "Expected grad_c_n of shape (1, 4), got (1, 2)"):
        model.backward(None, (np.ones((1, 2)), np.ones((1, 2))))


def test_grad_output_dtype():
    model = rnn.RNN(3, 4, seed=0)
    model(np.ones((5, 2, 3)))
    message = "grad_output must be a real (integer or floating-point) array; got dtype complex128"
    with refused(TypeError, message):
        model.backward(np.ones((5, 2, 4), complex))


def test_cell_grad_shape():
    cell = rnn.LSTMCell(3, 4, seed=0)
    cell(np.ones((2, 3)))
    with refused(ValueError, "Expected grad_c of shape (2, 4), got (4,)"):
        cell.backward((None, np.ones(4)))


def test_refused_backward_keeps_the_forward_record():
    model = rnn.RNN(3, 4, seed=0)
    model(np.ones((5, 2, 3)))
    with pytest.raises(ValueError, match="grad_output"):
        model.backward(np.ones((5, 2, 5)))
    assert set(model.backward(np.ones((5, 2, 4)))) >= {"input", "h0"}


@pytest.mark.parametrize("grad_hx", [(np.ones((1, 2, 4)),), np.ones((1, 2, 4))], ids=["1", "arr"])
def test_lstm_grad_hx_not_a_pair(grad_hx):
    model = rnn.LSTM(3, 4, seed=0)
    model(np.ones((5, 2, 3)))
    got = "a tuple of 1" if isinstance(grad_hx, tuple) else "ndarray"
    message = f"LSTM expects grad_hx as a tuple (grad_h_n, grad_c_n); got {got}"
    with refused(TypeError, message):
        model.backward(None, grad_hx)
    assert set(model.backward(None, (None, None))) >= {"input", "h0", "c0"}


def test_lstm_cell_grad_not_a_pair():
    cell = rnn.LSTMCell(3, 4, seed=0)
    cell(np.ones((2, 3)))
    message = "LSTMCell expects grad as a tuple (grad_h, grad_c); got ndarray"
    with refused(TypeError, message):
        cell.backward(np.ones((2, 4)))


@pytest.mark.parametrize("cls", LAYERS)
def test_empty_batch_is_accepted(cls):
    # as in torch: N = 0 gives empty outputs (and empty gradients)
    model = cls(3, 4, num_layers=2, bidirectional=True, seed=0)
    out, final = model(np.zeros((5, 0, 3)), lengths=np.array([], dtype=int))
    assert out.shape == (5, 0, 8)
    for f in final if isinstance(final, tuple) else (final,):
        assert f.shape == (4, 0, 4)
    grads = model.backward(np.zeros((5, 0, 8)))
    assert grads["input"].shape == (5, 0, 3)
    assert not np.any(grads["weight_hh_l1_reverse"])


def test_assigning_a_parameter_is_refused():
    model = rnn.RNN(3, 4, seed=0)
    before = model.state_dict()
    message = (
        "cannot assign to parameter 'weight_ih_l0': parameters are read-only; "
        "use load_state_dict to change them"
    )
    with refused(AttributeError, message):
        model.weight_ih_l0 = np.zeros((4, 3))
    np.testing.assert_array_equal(model.weight_ih_l0, before["weight_ih_l0"])


def test_nonlinearity_array_is_refused():
    with refused(
        ValueError,
        "Unknown nonlinearity array(['tanh'], dtype='<U4'). Select from 'tanh' or 'relu'.",
    ):
        rnn.RNN(3, 4, nonlinearity=np.array(["tanh"]))


def test_ragged_input_is_refused():
    with pytest.raises(ValueError, match=r"^input must be a rectangular array; got ") as info:
        rnn.GRU(3, 4, seed=0)([[[1.0, 2.0, 3.0]], [[1.0, 2.0]]])
    assert Path(info.traceback[-1].path).resolve().parent == PACKAGE


@pytest.mark.parametrize(("batch_first", "shape"), [(False, (0, 2, 3)), (True, (2, 0, 3))])
def test_zero_steps_names_the_callers_shape(batch_first, shape):
    model = rnn.RNN(3, 4, batch_first=batch_first, seed=0)
    with refused(ValueError, f"input must hold at least one time step; got shape {shape}"):
        model(np.zeros(shape))


def test_changing_the_input_after_forward_leaves_the_gradients_alone():
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    model = rnn.RNN(3, 4, num_layers=2, dtype=np.float64, seed=0)
    grad = np.ones((4, 2, 4))
    model(x)
    expected = model.backward(grad)
    model(x)
    x[:] = 0  # the caller reuses its buffer before calling backward
    for name, value in model.backward(grad).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


# --- numbers: one set of checks for every numeric argument -------------------------------

from rnn._validation import check_float, check_int  # noqa: E402

INTEGERS = [3, np.int8(3), np.int64(3), np.uint16(3), np.array(3), np.array(3, np.uint8)]
REALS = [0.5, np.float32(0.5), np.float64(0.5), np.array(0.5), np.array(0.5, np.float32)]


@pytest.mark.parametrize("value", INTEGERS, ids=repr)
def test_check_int_accepts_python_and_numpy_integers(value):
    result = check_int("k", value, minimum=1)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (True, "bool True"),
        (np.bool_(False), "bool np.False_"),
        (np.array(True), "ndarray array(True)"),
        (3.0, "float 3.0"),
        (np.float64(3.0), "float64 np.float64(3.0)"),
        (np.array([3]), "ndarray array([3])"),
        ("3", "str '3'"),
        (None, "NoneType None"),
    ],
    ids=repr,
)
def test_check_int_refuses_non_integers(value, got):
    with refused(TypeError, f"k must be an int; got {got}"):
        check_int("k", value)


def test_check_int_minimum():
    with refused(ValueError, "k must be an int >= 1; got 0"):
        check_int("k", np.int64(0), minimum=1)
    assert check_int("k", -5) == -5  # no minimum, no bound


@pytest.mark.parametrize("value", REALS + INTEGERS, ids=repr)
def test_check_float_accepts_python_and_numpy_numbers(value):
    result = check_float("lr", value, 0)
    assert result == float(value) and type(result) is float


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (True, "bool True"),
        (np.bool_(True), "bool np.True_"),
        ("0.1", "str '0.1'"),
        (1j, "complex 1j"),
    ],
    ids=repr,
)
def test_check_float_refuses_non_numbers(value, got):
    with refused(TypeError, f"lr must be a number; got {got}"):
        check_float("lr", value, 0)


@pytest.mark.parametrize(
    ("value", "bounds", "rule"),
    [
        (-0.1, {"low": 0}, ">= 0"),
        (0, {"low": 0, "closed": "neither"}, "> 0"),
        (1.0, {"low": 0, "high": 1, "closed": "left"}, "in [0, 1)"),
        (-1e-9, {"low": 0, "high": 1}, "in [0, 1]"),
        (2, {"high": 1}, "<= 1"),
        (1, {"high": 1, "closed": "left"}, "< 1"),
        (float("nan"), {"low": 0}, ">= 0"),
        (float("nan"), {}, "(not NaN)"),
    ],
    ids=repr,
)
def test_check_float_bounds(value, bounds, rule):
    message = (
        f"x must be a number {rule}; got {value!r}"
        if rule
        else f"x must be a number ; got {value!r}"
    )
    with pytest.raises(ValueError) as info:
        check_float("x", value, **bounds)
    assert str(info.value) == message


def test_check_float_inclusive_ends():
    assert check_float("x", 0, 0, 1) == 0.0
    assert check_float("x", 1, 0, 1) == 1.0
    assert check_float("x", 0, 0, 1, closed="left") == 0.0
    assert check_float("x", float("inf"), 0) == float("inf")


def test_layer_sizes_accept_0d_arrays():
    model = rnn.GRU(np.array(3), np.array(4), num_layers=np.int64(2), seed=0)
    assert (model.input_size, model.hidden_size, model.num_layers) == (3, 4, 2)
    assert all(type(v) is int for v in (model.input_size, model.hidden_size, model.num_layers))


@pytest.mark.parametrize(
    "make",
    [
        lambda m: rnn.SGD(m, lr=np.float32(0.5), momentum=np.array(0.5), weight_decay=np.int64(0)),
        lambda m: rnn.Adam(
            m, lr=np.array(0.5), betas=(np.float32(0.5), np.array(0.25)), eps=np.float64(1e-8)
        ),
    ],
    ids=["sgd", "adam"],
)
def test_optimizers_accept_numpy_scalars(make):
    model = rnn.RNNCell(2, 3, seed=0)
    hyperparameters = make(model).state_dict()["param_groups"][0]
    assert all(type(v) is float for k, v in hyperparameters.items() if k not in ("params", "betas"))
    assert hyperparameters["lr"] == 0.5


@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (lambda m: rnn.SGD(m, lr=True), TypeError, "lr must be a number; got bool True"),
        (
            lambda m: rnn.SGD(m, lr=0.1, momentum=np.bool_(True)),
            TypeError,
            "momentum must be a number; got bool np.True_",
        ),
        (lambda m: rnn.Adam(m, eps=-1.0), ValueError, "eps must be a number >= 0; got -1.0"),
        (
            lambda m: rnn.Adam(m, betas=(True, 0.9)),
            ValueError,
            "betas must be two numbers in [0, 1); got (True, 0.9)",
        ),
        (
            lambda m: rnn.Adam(m, betas=0.9),
            ValueError,
            "betas must be two numbers in [0, 1); got 0.9",
        ),
    ],
    ids=["lr-bool", "momentum-bool", "eps", "betas-bool", "betas-scalar"],
)
def test_optimizers_refuse_bad_numbers(make, kind, message):
    with refused(kind, message):
        make(rnn.RNNCell(2, 3, seed=0))


def test_clip_grad_norm_accepts_numpy_scalars():
    grads = {"w": np.array([3.0, 4.0])}
    for max_norm in (np.float32(1.0), np.array(1.0), np.int64(1)):
        clipped, norm = rnn.clip_grad_norm(grads, max_norm)
        assert norm == 5.0
        np.testing.assert_allclose(clipped["w"], [0.6, 0.8], rtol=1e-6)
    with refused(TypeError, "max_norm must be a number; got bool True"):
        rnn.clip_grad_norm(grads, True)


# The layers' numeric options take numpy scalars and 0-d arrays as Python numbers are.
@pytest.mark.parametrize("box", [np.float64, np.float32, np.array], ids=["f64", "f32", "0-d"])
def test_layer_numbers_accept_numpy_scalars(box: Any) -> None:
    model = rnn.GRU(
        3,
        4,
        num_layers=np.int64(2),
        dropout=box(0.25),
        clip=box(2.0),
        activations=["Elu", "Tanh"],
        activation_alpha=[box(0.5)],
    )
    assert (model.num_layers, model.dropout, model.clip) == (2, 0.25, 2.0)
    assert model.activation_alpha == [0.5]
    model.eval()
    output, _ = model(np.zeros((2, 1, 3)), lengths=[1], padding_value=box(9.0))
    assert output[1, 0, 0] == 9.0


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"dropout": np.True_}, ValueError, "dropout should be a number in range"),
        ({"clip": True}, ValueError, "clip must be None or a positive number"),
        ({"activations": ["Elu", "Tanh"], "activation_alpha": [np.True_]}, TypeError, "real"),
        ({"num_layers": np.array(True)}, TypeError, "num_layers must be an int"),
    ],
)
def test_layer_numbers_refuse_bool(options: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        rnn.GRU(3, 4, **options)


def test_padding_value_must_be_a_number() -> None:
    with pytest.raises(TypeError, match="padding_value must be a number"):
        rnn.GRU(3, 4)(np.zeros((2, 1, 3)), lengths=[1], padding_value="0")
