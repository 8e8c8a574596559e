"""One step: `rnn.RNNCell`, `rnn.GRUCell` and `rnn.LSTMCell`, against PyTorch and by hand.

Parity runs against the golden fixtures in ``tests/fixtures/cells.npz`` (no torch needed)
and live against torch when it is installed. Each cell also gets one step computed here
from its equations, gate by gate, in plain numpy.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import rnn

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOLERANCE = {np.dtype(np.float64): {"atol": 1e-12, "rtol": 0.0}}
TOLERANCE[np.dtype(np.float32)] = {"atol": 1e-5, "rtol": 1e-5}
KINDS = ["rnncell_tanh", "rnncell_relu", "grucell", "lstmcell"]


def make(kind: str, input_size: int, hidden_size: int, **kwargs: Any) -> Any:
    if kind.startswith("rnncell_"):
        return rnn.RNNCell(input_size, hidden_size, nonlinearity=kind[8:], **kwargs)
    if kind == "grucell":
        return rnn.GRUCell(input_size, hidden_size, **kwargs)
    return rnn.LSTMCell(input_size, hidden_size, **kwargs)


def step(cell: Any, x: Any, states: tuple[Any, ...] | None = None) -> tuple[np.ndarray, ...]:
    """``(h',)`` or ``(h', c')``, whatever the cell."""
    if isinstance(cell, rnn.LSTMCell):
        return cell(x, states)
    return (cell(x, None if states is None else states[0]),)


def random_states(
    cell: Any, lead: tuple[int, ...], rng: np.random.Generator, dtype: Any = None
) -> tuple[np.ndarray, ...]:
    count = 2 if isinstance(cell, rnn.LSTMCell) else 1
    shape = (*lead, cell.hidden_size)
    return tuple(rng.standard_normal(shape).astype(dtype or cell.dtype) for _ in range(count))


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


# --- golden fixtures (no torch) ---------------------------------------------------------


def fixture_cases() -> list[Any]:
    with np.load(FIXTURES / "cells.npz") as data:
        names = sorted({key.split("/")[0] for key in data.files})
    return [pytest.param(name, id=name) for name in names]


def load_case(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(FIXTURES / "cells.npz") as data:
        arrays = {k[len(name) + 1 :]: data[k] for k in data.files if k.startswith(name + "/")}
    return json.loads(str(arrays.pop("config"))), arrays


@pytest.mark.parametrize("name", fixture_cases())
def test_matches_torch_fixture(name: str) -> None:
    config, arrays = load_case(name)
    kwargs = {"nonlinearity": config["nonlinearity"]} if "nonlinearity" in config else {}
    cell = getattr(rnn, config["model"])(
        config["input_size"],
        config["hidden_size"],
        config["bias"],
        **kwargs,
        dtype=config["dtype"],
        seed=0,
    )
    cell.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("param/")})
    states = tuple(arrays[k] for k in ("h0", "c0") if k in arrays) or None
    result = step(cell, arrays["input"], states)
    for value, key in zip(result, ("h", "c")):
        assert value.dtype == config["dtype"]
        np.testing.assert_allclose(value, arrays[key], **TOLERANCE[np.dtype(config["dtype"])])


def test_fixtures_cover_every_pair_of_axis_values() -> None:
    axes = ["batched", "hx", "bias", "dtype"]
    values = {"dtype": ["float32", "float64"]}
    configs = [load_case(*p.values)[0] for p in fixture_cases()]
    for kind in KINDS:
        mine = [c for c in configs if c["kind"] == kind]
        for i, a in enumerate(axes):
            for b in axes[i + 1 :]:
                for va in values.get(a, [False, True]):
                    for vb in values.get(b, [False, True]):
                        assert any(c[a] == va and c[b] == vb for c in mine), (kind, a, va, b, vb)


# --- live parity with torch --------------------------------------------------------------


VARIANTS = {
    "plain": {},
    "hx": {"hx": True},
    "nobias-hx": {"bias": False, "hx": True},
    "unbatched": {"batched": False},
    "unbatched-hx": {"batched": False, "hx": True},
}
SIZES = {"N1-Hin1-H1": (1, 1, 1), "N3-Hin4-H5": (3, 4, 5), "N0-Hin2-H3": (0, 2, 3)}


def live_case(
    reference: ModuleType, kind: str, variant: str, dtype: Any, sizes: tuple[int, int, int]
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Run one grid point in rnn and in torch (float64); returns (ours, theirs)."""
    import torch

    options = VARIANTS[variant]
    batch, input_size, hidden_size = sizes
    cell = make(kind, input_size, hidden_size, bias=options.get("bias", True), dtype=dtype, seed=0)
    rng = np.random.default_rng(5)
    lead = (batch,) if options.get("batched", True) else ()
    x = rng.standard_normal((*lead, input_size)).astype(dtype)
    states = random_states(cell, lead, rng) if options.get("hx") else None
    ours = step(cell, x, states)
    twin = reference.torch_twin(cell)
    hx = None
    if states is not None:
        tensors = tuple(torch.from_numpy(s.astype(np.float64)) for s in states)
        hx = tensors if isinstance(cell, rnn.LSTMCell) else tensors[0]
    with torch.no_grad():
        result = twin(torch.from_numpy(x.astype(np.float64)), hx)
    theirs = result if isinstance(cell, rnn.LSTMCell) else (result,)
    return ours, tuple(t.numpy() for t in theirs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_live(
    reference: ModuleType, kind: str, variant: str, sizes: tuple[int, int, int], dtype: Any
) -> None:
    ours, theirs = live_case(reference, kind, variant, dtype, sizes)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == dtype
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **TOLERANCE[np.dtype(dtype)])


# --- one step by hand ---------------------------------------------------------------------

ELMAN = {
    "weight_ih": [[0.5, -0.25], [0.1, 0.2]],
    "weight_hh": [[0.3, 0.0], [-0.2, 0.4]],
    "bias_ih": [0.1, -0.1],
    "bias_hh": [0.05, 0.0],
}


def test_elman_tanh_step_by_hand() -> None:
    cell = rnn.RNNCell(2, 2, dtype=np.float64)
    cell.load_state_dict(ELMAN)
    h = cell(np.array([1.0, 2.0]), np.array([0.5, -0.5]))
    # W_ih x = [0.5 - 0.5, 0.1 + 0.4] = [0, 0.5];  W_hh h = [0.15, -0.1 - 0.2] = [0.15, -0.3]
    # pre = [0 + 0.1 + 0.15 + 0.05, 0.5 - 0.1 - 0.3 + 0] = [0.3, 0.1]
    np.testing.assert_allclose(h, np.tanh([0.3, 0.1]), rtol=0, atol=1e-15)


def test_elman_relu_step_by_hand() -> None:
    cell = rnn.RNNCell(2, 2, nonlinearity="relu", dtype=np.float64)
    cell.load_state_dict(ELMAN)
    h = cell(np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.5, -0.5], [0.3, 0.1]]))
    # row 0: pre = [0.3, 0.1] as above; row 1: pre = b + W_hh h = [0.15 + 0.09, -0.1 - 0.02]
    np.testing.assert_allclose(h, [[0.3, 0.1], [0.24, 0.0]], rtol=0, atol=1e-15)


GRU_WEIGHTS = {
    # rows r | z | n, two each (H = 2); two inputs
    "weight_ih": [[0.2, -0.4], [0.6, 0.1], [-0.3, 0.5], [0.7, -0.2], [0.4, 0.4], [-0.6, 0.3]],
    "weight_hh": [[0.1, 0.3], [-0.5, 0.2], [0.4, -0.1], [0.2, 0.6], [-0.7, 0.5], [0.3, -0.4]],
    "bias_ih": [0.1, -0.2, 0.3, 0.0, -0.1, 0.2],
    "bias_hh": [-0.3, 0.1, 0.2, -0.2, 0.5, -0.4],
}


def test_gru_step_by_hand() -> None:
    cell = rnn.GRUCell(2, 2, dtype=np.float64)
    cell.load_state_dict(GRU_WEIGHTS)
    w_ih, w_hh = np.array(GRU_WEIGHTS["weight_ih"]), np.array(GRU_WEIGHTS["weight_hh"])
    b_ih, b_hh = np.array(GRU_WEIGHTS["bias_ih"]), np.array(GRU_WEIGHTS["bias_hh"])
    w_ir, w_iz, w_in = w_ih[0:2], w_ih[2:4], w_ih[4:6]
    w_hr, w_hz, w_hn = w_hh[0:2], w_hh[2:4], w_hh[4:6]
    b_ir, b_iz, b_in = b_ih[0:2], b_ih[2:4], b_ih[4:6]
    b_hr, b_hz, b_hn = b_hh[0:2], b_hh[2:4], b_hh[4:6]
    x, h = np.array([1.0, -2.0]), np.array([0.5, -0.3])

    r = sigmoid(w_ir @ x + b_ir + w_hr @ h + b_hr)
    z = sigmoid(w_iz @ x + b_iz + w_hz @ h + b_hz)
    n = np.tanh(w_in @ x + b_in + r * (w_hn @ h + b_hn))
    expected = (1 - z) * n + z * h
    np.testing.assert_allclose(cell(x, h), expected, rtol=0, atol=1e-15)

    # The reset-before-matmul variant (Keras reset_after=False) gives another answer.
    n_before = np.tanh(w_in @ x + b_in + w_hn @ (r * h) + b_hn)
    assert not np.allclose(n_before, n, atol=1e-3)


LSTM_WEIGHTS = {
    # rows i | f | g | o, two each (H = 2); two inputs
    "weight_ih": [
        [0.2, -0.4],
        [0.6, 0.1],
        [-0.3, 0.5],
        [0.7, -0.2],
        [0.4, 0.4],
        [-0.6, 0.3],
        [0.1, 0.8],
        [-0.5, -0.1],
    ],
    "weight_hh": [
        [0.1, 0.3],
        [-0.5, 0.2],
        [0.4, -0.1],
        [0.2, 0.6],
        [-0.7, 0.5],
        [0.3, -0.4],
        [0.6, 0.2],
        [-0.2, -0.3],
    ],
    "bias_ih": [0.1, -0.2, 0.3, 0.0, -0.1, 0.2, 0.4, -0.3],
    "bias_hh": [-0.3, 0.1, 0.2, -0.2, 0.5, -0.4, 0.0, 0.1],
}


def test_lstm_step_by_hand() -> None:
    cell = rnn.LSTMCell(2, 2, dtype=np.float64)
    cell.load_state_dict(LSTM_WEIGHTS)
    w_ih, w_hh = np.array(LSTM_WEIGHTS["weight_ih"]), np.array(LSTM_WEIGHTS["weight_hh"])
    b = np.array(LSTM_WEIGHTS["bias_ih"]) + np.array(LSTM_WEIGHTS["bias_hh"])
    x, h, c = np.array([1.0, -2.0]), np.array([0.5, -0.3]), np.array([-1.0, 0.8])

    i = sigmoid(w_ih[0:2] @ x + w_hh[0:2] @ h + b[0:2])
    f = sigmoid(w_ih[2:4] @ x + w_hh[2:4] @ h + b[2:4])
    g = np.tanh(w_ih[4:6] @ x + w_hh[4:6] @ h + b[4:6])
    o = sigmoid(w_ih[6:8] @ x + w_hh[6:8] @ h + b[6:8])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    h_out, c_out = cell(x, (h, c))
    np.testing.assert_allclose(h_out, h_new, rtol=0, atol=1e-15)
    np.testing.assert_allclose(c_out, c_new, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_absent_state_means_zeros(kind: str) -> None:
    cell = make(kind, 3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3))
    zeros = tuple(np.zeros((2, 4)) for _ in step(cell, x))
    for a, b in zip(step(cell, x), step(cell, x, zeros)):
        np.testing.assert_array_equal(a, b)


# --- dtypes, inputs, batch 0, NaN, repr, train/eval -----------------------------------------


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_dtype", [np.int64, np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_inputs_are_cast_to_the_model_dtype(kind: str, input_dtype: Any, model_dtype: Any) -> None:
    cell = make(kind, 3, 4, dtype=model_dtype, seed=0)
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (2, 3))
    states = tuple(rng.integers(-1, 2, (2, 4)) for _ in step(cell, x))
    result = step(cell, x.astype(input_dtype), tuple(s.astype(input_dtype) for s in states))
    expected = step(cell, x.astype(model_dtype), tuple(s.astype(model_dtype) for s in states))
    for a, b in zip(result, expected):
        assert a.dtype == model_dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_is_the_default(kind: str) -> None:
    cell = make(kind, 3, 4, seed=0)
    assert cell.dtype == np.float32
    assert all(p.dtype == np.float32 for p in cell.parameters())
    assert all(r.dtype == np.float32 for r in step(cell, np.ones(3)))


@pytest.mark.parametrize("lead", [(3,), ()], ids=["batched", "unbatched"])
@pytest.mark.parametrize("same_dtype", [True, False], ids=["dtype-matches", "dtype-cast"])
@pytest.mark.parametrize("kind", KINDS)
def test_inputs_are_not_mutated(kind: str, same_dtype: bool, lead: tuple[int, ...]) -> None:
    cell = make(kind, 3, 4, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    caller = np.float64 if same_dtype else np.float32
    x = rng.standard_normal((*lead, 3)).astype(caller)
    states = random_states(cell, lead, rng, caller)
    grads = random_states(cell, lead, rng, caller)
    before = [a.copy() for a in (x, *states, *grads)]
    step(cell, x, states)
    cell.backward(grads if isinstance(cell, rnn.LSTMCell) else grads[0])
    for array, copy in zip((x, *states, *grads), before):
        assert array.dtype == copy.dtype
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_size_zero(kind: str) -> None:
    cell = make(kind, 3, 4, seed=0)
    result = step(cell, np.zeros((0, 3)))
    assert [r.shape for r in result] == [(0, 4)] * len(result)
    grads = cell.backward((None, None) if isinstance(cell, rnn.LSTMCell) else None)
    assert grads["input"].shape == (0, 3)
    assert grads["h0"].shape == (0, 4)
    for name, p in cell.named_parameters():
        np.testing.assert_array_equal(grads[name], np.zeros_like(p))


@pytest.mark.parametrize("kind", KINDS)
def test_nan_stays_in_its_row(kind: str) -> None:
    cell = make(kind, 3, 4, dtype=np.float64, seed=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3))
    states = random_states(cell, (4,), rng)
    x[2, 1] = np.nan
    result = step(cell, x, states)
    clean = step(cell, np.delete(x, 2, axis=0), tuple(np.delete(s, 2, axis=0) for s in states))
    for r, c in zip(result, clean):
        assert np.isnan(r[2]).all()
        np.testing.assert_allclose(np.delete(r, 2, axis=0), c, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (rnn.RNNCell(3, 4), "RNNCell(3, 4)"),
        (rnn.RNNCell(3, 4, False, "relu"), "RNNCell(3, 4, bias=False, nonlinearity='relu')"),
        (rnn.RNNCell(1, 1, nonlinearity="relu"), "RNNCell(1, 1, nonlinearity='relu')"),
        (rnn.GRUCell(10, 20), "GRUCell(10, 20)"),
        (rnn.LSTMCell(3, 4, bias=False), "LSTMCell(3, 4, bias=False)"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_repr(cell: Any, text: str) -> None:
    assert repr(cell) == text
    again = eval(text, {"RNNCell": rnn.RNNCell, "GRUCell": rnn.GRUCell, "LSTMCell": rnn.LSTMCell})
    assert repr(again) == text


@pytest.mark.parametrize("kind", KINDS)
def test_train_and_eval(kind: str) -> None:
    cell = make(kind, 3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3))
    assert cell.training is True
    trained = step(cell, x)
    assert cell.eval() is cell
    assert cell.training is False
    for a, b in zip(step(cell, x), trained):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="training mode"):
        cell.backward()
    assert cell.train() is cell
    assert cell.training is True
