"""Forward pass of `rnn.RNN`, `rnn.GRU` and `rnn.LSTM`: parity with PyTorch and behaviour.

Parity runs twice: against the golden fixtures in ``tests/fixtures/`` (no torch needed;
regenerate with ``python tests/fixtures/make_fixtures.py``) and live against torch over a
broader grid when torch is installed. The rest checks values computed by hand, dtypes,
that inputs are never written to, batch size 0, NaN containment, repr, train/eval and
dropout.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from layer_kinds import KINDS, make

import rnn

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LAYER_FILES = ["rnn.npz", "gru.npz", "lstm.npz"]
TOLERANCE = {np.dtype(np.float64): {"atol": 1e-12, "rtol": 0.0}}
TOLERANCE[np.dtype(np.float32)] = {"atol": 1e-5, "rtol": 1e-5}


def run(model: Any, x: Any, states: tuple[Any, ...] | None = None, **kwargs: Any) -> Any:
    """``(output, (h_n,))`` or ``(output, (h_n, c_n))``, whatever the model."""
    if isinstance(model, rnn.LSTM):
        return model(x, states, **kwargs)
    output, h_n = model(x, None if states is None else states[0], **kwargs)
    return output, (h_n,)


def state_shapes(model: Any, batch: int | None) -> list[tuple[int, ...]]:
    """Shapes of h0 (and c0); ``batch=None`` for unbatched input."""
    rows = model.num_layers * (2 if model.bidirectional else 1)
    lead = (rows,) if batch is None else (rows, batch)
    widths = [model.proj_size or model.hidden_size]
    if isinstance(model, rnn.LSTM):
        widths.append(model.hidden_size)
    return [(*lead, w) for w in widths]


def random_states(model: Any, batch: int | None, rng: np.random.Generator) -> tuple[Any, ...]:
    return tuple(rng.standard_normal(s).astype(model.dtype) for s in state_shapes(model, batch))


# --- golden fixtures (no torch) ---------------------------------------------------------


def fixture_cases(files: list[str]) -> list[Any]:
    params = []
    for filename in files:
        with np.load(FIXTURES / filename) as data:
            names = sorted({key.split("/")[0] for key in data.files})
        params += [pytest.param(filename, name, id=name) for name in names]
    return params


def load_case(filename: str, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(FIXTURES / filename) as data:
        arrays = {k[len(name) + 1 :]: data[k] for k in data.files if k.startswith(name + "/")}
    return json.loads(str(arrays.pop("config"))), arrays


def build_from_config(config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    kwargs = {
        key: config[key]
        for key in ("num_layers", "bias", "batch_first", "bidirectional", "nonlinearity")
        if key in config
    }
    if config["model"] == "LSTM":
        kwargs["proj_size"] = config["proj_size"]
    model_class = getattr(rnn, config["model"])
    model = model_class(
        config["input_size"], config["hidden_size"], **kwargs, dtype=config["dtype"], seed=0
    )
    model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("param/")})
    return model


@pytest.mark.parametrize(("filename", "name"), fixture_cases(LAYER_FILES))
def test_matches_torch_fixture(filename: str, name: str) -> None:
    config, arrays = load_case(filename, name)
    model = build_from_config(config, arrays)
    states = tuple(arrays[k] for k in ("h0", "c0") if k in arrays) or None
    kwargs: dict[str, Any] = {"padding_value": config["padding_value"]}
    if "lengths" in arrays:
        kwargs["lengths"] = arrays["lengths"]
    output, finals = run(model, arrays["input"], states, **kwargs)
    tolerance = TOLERANCE[np.dtype(config["dtype"])]
    np.testing.assert_allclose(output, arrays["output"], **tolerance)
    for key, final in zip(("h_n", "c_n"), finals):
        np.testing.assert_allclose(final, arrays[key], **tolerance)
    assert output.dtype == config["dtype"]
    assert all(f.dtype == config["dtype"] for f in finals)


def test_fixtures_cover_every_pair_of_axis_values() -> None:
    """For each model kind, every value of every axis meets every value of every other."""
    axes = ["num_layers", "bidirectional", "bias", "batch_first", "batched", "h0", "dtype"]
    axes.append("lengths")
    values = {"num_layers": [1, 2, 3], "dtype": ["float32", "float64"]}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for param in fixture_cases(LAYER_FILES):
        config, _ = load_case(*param.values)
        config["lengths"] = config["lengths"] is not None
        by_kind.setdefault(config["kind"], []).append(config)
    assert sorted(by_kind) == sorted(KINDS)
    for configs in by_kind.values():
        for a, b in itertools.combinations(axes, 2):
            for va in values.get(a, [False, True]):
                for vb in values.get(b, [False, True]):
                    if {a: va, b: vb} == {"batched": False, "lengths": True}:
                        continue  # unbatched input takes no lengths
                    assert any(c[a] == va and c[b] == vb for c in configs), (a, va, b, vb)


# --- live parity with torch --------------------------------------------------------------


VARIANTS = {
    "plain": {},
    "nobias-h0": {"bias": False, "h0": True},
    "lengths": {"lengths": True},
    "batchfirst-lengths-h0": {"batch_first": True, "lengths": True, "h0": True},
    "batchfirst-unbatched-h0": {"batch_first": True, "batched": False, "h0": True},
}
SIZES = {"L1-N1-Hin1-H1": (1, 1, 1, 1), "L5-N3-Hin4-H6": (5, 3, 4, 6)}


def live_case(
    reference: ModuleType,
    kind: str,
    num_layers: int,
    bidirectional: bool,
    variant: str,
    dtype: Any,
    sizes: tuple[int, int, int, int],
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Run one grid point in rnn and in torch; returns (ours, theirs)."""
    options = VARIANTS[variant]
    steps, batch, input_size, hidden_size = sizes
    if kind == "lstm_proj":
        hidden_size = max(hidden_size, 2)
    model = make(
        kind,
        input_size,
        hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        bias=options.get("bias", True),
        batch_first=options.get("batch_first", False),
        dtype=dtype,
        seed=0,
    )
    rng = np.random.default_rng(7)
    batched = options.get("batched", True)
    shape = (batch, steps) if model.batch_first else (steps, batch)
    x = rng.standard_normal((*shape, input_size) if batched else (steps, input_size))
    x = x.astype(dtype)
    states = random_states(model, batch if batched else None, rng) if "h0" in options else None
    lengths = None
    if options.get("lengths"):
        lengths = np.array([max(1, steps - 2), steps, 1, 2][:batch])
    output, finals = run(model, x, states, lengths=lengths)
    hx = None if states is None else (states if isinstance(model, rnn.LSTM) else states[0])
    theirs = reference.torch_forward_backward(model, x, hx, lengths)
    names = ("output", "h_n", "c_n")[: 1 + len(finals)]
    return (output, *finals), tuple(theirs[n] for n in names)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidir", "bidir"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_live(
    reference: ModuleType,
    kind: str,
    num_layers: int,
    bidirectional: bool,
    variant: str,
    sizes: tuple[int, int, int, int],
    dtype: Any,
) -> None:
    ours, theirs = live_case(reference, kind, num_layers, bidirectional, variant, dtype, sizes)
    for a, b in zip(ours, theirs):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **TOLERANCE[np.dtype(dtype)])


@pytest.mark.parametrize("kind", KINDS)
def test_batch_size_zero_matches_torch_live(reference: ModuleType, kind: str) -> None:
    model = make(kind, 3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    x = np.zeros((5, 0, 3))
    output, finals = run(model, x)
    theirs = reference.torch_forward_backward(model, x)
    assert output.shape == theirs["output"].shape
    for final, name in zip(finals, ("h_n", "c_n")):
        assert final.shape == theirs[name].shape


# --- values computed by hand -------------------------------------------------------------


def test_elman_relu_two_steps_by_hand() -> None:
    model = rnn.RNN(2, 2, nonlinearity="relu", dtype=np.float64)
    model.load_state_dict(
        {
            "weight_ih_l0": [[0.5, -0.25], [0.1, 0.2]],
            "weight_hh_l0": [[0.3, 0.0], [-0.2, 0.4]],
            "bias_ih_l0": [0.1, -0.1],
            "bias_hh_l0": [0.05, 0.0],
        }
    )
    x = np.array([[[1.0, 2.0]], [[0.0, 0.0]]])  # (L=2, N=1, H_in=2)
    h0 = np.array([[[0.5, -0.5]]])
    output, h_n = model(x, h0)
    # step 1: W_ih x = [0.5 - 0.5, 0.1 + 0.4] = [0, 0.5]; W_hh h0 = [0.15, -0.1 - 0.2]
    #         pre = [0 + 0.1 + 0.15 + 0.05, 0.5 - 0.1 - 0.3 + 0] = [0.3, 0.1] -> relu = same
    # step 2: W_hh h1 = [0.09, -0.06 + 0.04]; pre = [0.15 + 0.09, -0.1 - 0.02] = [0.24, -0.12]
    np.testing.assert_allclose(output[:, 0], [[0.3, 0.1], [0.24, 0.0]], atol=1e-15)
    np.testing.assert_allclose(h_n, [[[0.24, 0.0]]], atol=1e-15)


def test_lstm_projection_step_by_hand() -> None:
    """One step of an LSTM with proj_size=1: h = (o * tanh(c)) W_hr^T, gates i | f | g | o."""
    rng = np.random.default_rng(3)
    hidden, proj, inp = 2, 1, 3
    w_ih = rng.uniform(-1, 1, (4 * hidden, inp))
    w_hh = rng.uniform(-1, 1, (4 * hidden, proj))
    b_ih, b_hh = rng.uniform(-1, 1, 4 * hidden), rng.uniform(-1, 1, 4 * hidden)
    w_hr = rng.uniform(-1, 1, (proj, hidden))
    model = rnn.LSTM(inp, hidden, proj_size=proj, dtype=np.float64)
    model.load_state_dict(
        {
            "weight_ih_l0": w_ih,
            "weight_hh_l0": w_hh,
            "bias_ih_l0": b_ih,
            "bias_hh_l0": b_hh,
            "weight_hr_l0": w_hr,
        }
    )
    x, h, c = rng.standard_normal(inp), rng.standard_normal(proj), rng.standard_normal(hidden)

    def sigmoid(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    def gate(k: int) -> np.ndarray:
        rows = slice(k * hidden, (k + 1) * hidden)
        return w_ih[rows] @ x + b_ih[rows] + w_hh[rows] @ h + b_hh[rows]

    i, f, g, o = sigmoid(gate(0)), sigmoid(gate(1)), np.tanh(gate(2)), sigmoid(gate(3))
    c_new = f * c + i * g
    h_new = w_hr @ (o * np.tanh(c_new))
    output, (h_n, c_n) = model(x[None], (h[None], c[None]))  # unbatched: (L=1, H_in)
    np.testing.assert_allclose(output, h_new[None], atol=1e-15)
    np.testing.assert_allclose(h_n, h_new[None], atol=1e-15)
    np.testing.assert_allclose(c_n, c_new[None], atol=1e-15)


# --- dtypes --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_float32_is_the_default(kind: str) -> None:
    model = make(kind, 3, 4, seed=0)
    assert model.dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.parameters())
    output, finals = run(model, np.ones((2, 1, 3)))  # float64 input
    assert output.dtype == np.float32
    assert all(f.dtype == np.float32 for f in finals)


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_dtype", [np.int64, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_inputs_are_cast_to_the_model_dtype(kind: str, input_dtype: Any, model_dtype: Any) -> None:
    model = make(kind, 3, 4, num_layers=2, dtype=model_dtype, seed=0)
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (4, 2, 3))
    states = tuple(rng.integers(-1, 2, s) for s in state_shapes(model, 2))
    output, finals = run(model, x.astype(input_dtype), tuple(s.astype(input_dtype) for s in states))
    expected, expected_finals = run(
        model, x.astype(model_dtype), tuple(s.astype(model_dtype) for s in states)
    )
    assert output.dtype == model_dtype
    assert all(f.dtype == model_dtype for f in finals)
    np.testing.assert_array_equal(output, expected)
    for f, e in zip(finals, expected_finals):
        np.testing.assert_array_equal(f, e)


# --- inputs are never written to ------------------------------------------------------------


@pytest.mark.parametrize("same_dtype", [True, False], ids=["dtype-matches", "dtype-cast"])
@pytest.mark.parametrize("options", [{}, {"batch_first": True}], ids=["timefirst", "batchfirst"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["nolengths", "lengths"])
@pytest.mark.parametrize("kind", KINDS)
def test_inputs_are_not_mutated(
    kind: str, with_lengths: bool, options: dict[str, Any], same_dtype: bool
) -> None:
    dtype = np.float64
    model = make(kind, 3, 4, num_layers=2, bidirectional=True, dtype=dtype, seed=0, **options)
    rng = np.random.default_rng(1)
    caller_dtype = dtype if same_dtype else np.float32
    x = rng.standard_normal((3, 5, 3) if model.batch_first else (5, 3, 3)).astype(caller_dtype)
    states = tuple(s.astype(caller_dtype) for s in random_states(model, 3, rng))
    lengths = np.array([2, 5, 4]) if with_lengths else None
    copies = [a.copy() for a in (x, *states)]
    lengths_copy = None if lengths is None else lengths.copy()
    output, finals = run(model, x, states, lengths=lengths)
    grad_output = rng.standard_normal(output.shape)
    grad_finals = tuple(rng.standard_normal(f.shape) for f in finals)
    grad_copies = [g.copy() for g in (grad_output, *grad_finals)]
    if isinstance(model, rnn.LSTM):
        model.backward(grad_output, grad_finals)
    else:
        model.backward(grad_output, grad_finals[0])
    for array, copy in zip((x, *states, grad_output, *grad_finals), [*copies, *grad_copies]):
        assert array.dtype == copy.dtype
        np.testing.assert_array_equal(array, copy)
    if lengths is not None:
        np.testing.assert_array_equal(lengths, lengths_copy)


# --- batch size 0 ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_batch_size_zero(kind: str, bidirectional: bool, batch_first: bool) -> None:
    """torch accepts N = 0: output (L, 0, D*P), h_n (D*num_layers, 0, P), c_n (..., 0, H)."""
    model = make(
        kind, 3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first, seed=0
    )
    directions = 2 if bidirectional else 1
    width = model.proj_size or 4
    x = np.zeros((0, 5, 3) if batch_first else (5, 0, 3))
    output, finals = run(model, x, random_states(model, 0, np.random.default_rng(0)))
    assert output.shape == (
        (0, 5, directions * width) if batch_first else (5, 0, directions * width)
    )
    assert [f.shape for f in finals] == state_shapes(model, 0)
    if isinstance(model, rnn.LSTM):
        grads = model.backward(np.zeros(output.shape), (None, None))
    else:
        grads = model.backward(np.zeros(output.shape))
    assert grads["input"].shape == x.shape
    assert grads["h0"].shape == finals[0].shape
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(grads[name], np.zeros_like(p))


# --- NaN stays in its sequence ------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidir", "bidir"])
@pytest.mark.parametrize("kind", KINDS)
def test_nan_propagates_along_its_sequence_only(kind: str, bidirectional: bool) -> None:
    model = make(kind, 3, 4, num_layers=2, bidirectional=bidirectional, dtype=np.float64, seed=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4, 3))
    states = random_states(model, 4, rng)
    bad, t = 1, 2
    x[t, bad, 0] = np.nan
    output, finals = run(model, x, states)
    clean, clean_finals = run(
        model, np.delete(x, bad, axis=1), tuple(np.delete(s, bad, axis=1) for s in states)
    )
    np.testing.assert_allclose(np.delete(output, bad, axis=1), clean, rtol=0, atol=1e-14)
    for f, c in zip(finals, clean_finals):
        np.testing.assert_allclose(np.delete(f, bad, axis=1), c, rtol=0, atol=1e-14)
        assert np.isnan(f[-1, bad]).all()
    if bidirectional:
        # Layer 1's reverse direction carries the NaN back to step 0, so layer 2 reads NaN
        # at every step.
        assert np.isnan(output[:, bad]).all()
    else:
        assert np.isfinite(output[:t, bad]).all()
        assert np.isnan(output[t:, bad]).all()


# --- repr, train/eval -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "text"),
    [
        (rnn.RNN(10, 20), "RNN(10, 20)"),
        (
            rnn.RNN(3, 4, 2, "relu", False, True, 0.5, True),
            "RNN(3, 4, num_layers=2, nonlinearity='relu', bias=False, batch_first=True, "
            "dropout=0.5, bidirectional=True)",
        ),
        (rnn.GRU(1, 1, num_layers=3), "GRU(1, 1, num_layers=3)"),
        (rnn.LSTM(10, 20, proj_size=5), "LSTM(10, 20, proj_size=5)"),
        (rnn.LSTM(2, 3, bidirectional=True), "LSTM(2, 3, bidirectional=True)"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_repr(model: Any, text: str) -> None:
    assert repr(model) == text
    again = eval(text, {"RNN": rnn.RNN, "GRU": rnn.GRU, "LSTM": rnn.LSTM})
    assert repr(again) == text
    assert model.state_dict().keys() == again.state_dict().keys()


@pytest.mark.parametrize("kind", KINDS)
def test_train_and_eval(kind: str) -> None:
    model = make(kind, 3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    assert model.training is True
    trained, _ = run(model, x)
    assert model.eval() is model
    assert model.training is False
    evaluated, _ = run(model, x)
    np.testing.assert_array_equal(evaluated, trained)  # without dropout, modes compute alike
    with pytest.raises(RuntimeError, match="training mode"):
        model.backward(np.ones_like(evaluated))
    assert model.train() is model
    assert model.training is True
    model.train(False)
    assert model.training is False


# --- dropout ------------------------------------------------------------------------------


def with_dropout(kind: str, dropout: float, seed: int, **kwargs: Any) -> Any:
    return make(kind, 3, 4, num_layers=3, dropout=dropout, dtype=np.float64, seed=seed, **kwargs)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidir", "bidir"])
@pytest.mark.parametrize("kind", KINDS)
def test_dropout_has_no_effect_in_eval_mode(kind: str, bidirectional: bool) -> None:
    model = with_dropout(kind, 0.5, 0, bidirectional=bidirectional).eval()
    plain = with_dropout(kind, 0.0, 1, bidirectional=bidirectional)
    plain.load_state_dict(model.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    states = random_states(model, 2, rng)
    output, finals = run(model, x, states)
    expected, expected_finals = run(plain, x, states)
    np.testing.assert_array_equal(output, expected)
    for f, e in zip(finals, expected_finals):
        np.testing.assert_array_equal(f, e)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidir", "bidir"])
@pytest.mark.parametrize("kind", KINDS)
def test_dropout_one_feeds_zeros_to_the_next_layer(kind: str, bidirectional: bool) -> None:
    """With p = 1 in training mode, layer 2 runs on zeros: it equals a model fed zeros."""
    model = make(
        kind, 3, 4, num_layers=2, dropout=1.0, bidirectional=bidirectional, dtype=np.float64
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    states = random_states(model, 2, rng)
    output, finals = run(model, x, states)
    top = make(
        kind,
        (2 if bidirectional else 1) * (model.proj_size or 4),
        4,
        bidirectional=bidirectional,
        dtype=np.float64,
    )
    top.load_state_dict(
        {k.replace("_l1", "_l0"): v for k, v in model.state_dict().items() if "_l1" in k}
    )
    rows = slice(2, 4) if bidirectional else slice(1, 2)
    zeros = np.zeros((5, 2, top.input_size))
    expected, expected_finals = run(top, zeros, tuple(s[rows] for s in states))
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-15)
    for f, e in zip(finals, expected_finals):
        np.testing.assert_allclose(f[rows], e, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_masks_come_from_the_seed(kind: str) -> None:
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    first, _ = run(with_dropout(kind, 0.5, 11), x)
    again, _ = run(with_dropout(kind, 0.5, 11), x)
    np.testing.assert_array_equal(first, again)
    other = with_dropout(kind, 0.5, 12)
    other.load_state_dict(with_dropout(kind, 0.5, 11).state_dict())  # same weights, other masks
    different, _ = run(other, x)
    assert not np.allclose(first, different)
    model = with_dropout(kind, 0.5, 11)
    run(model, x)
    second_call, _ = run(model, x)  # the generator moves on: fresh masks each call
    assert not np.allclose(first, second_call)
