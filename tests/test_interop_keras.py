"""rnn.from_keras / rnn.to_keras against Keras 3 on its torch backend (no TensorFlow).

Forward and, through torch autograd under Keras, gradients. On the torch backend,
``keras.ops.matmul`` of a float64 tensor and a float64 Keras variable returns float32 (Keras
3.15), so Keras' generic cell code is float32-accurate in float64: ``SimpleRNN``, and GRU and
LSTM with a non-default option (``reset_after=False``, other activations), measured 1e-8 to
1e-7 from the float64 answer; they are compared to float32 tolerance. The default GRU and LSTM
take another path and agree to 1e-16. Skipped without keras.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np
import pytest
from interop_support import F32, import_keras, tolerance

import rnn

keras = import_keras()
torch = pytest.importorskip("torch")

CONFIGS = [
    dict(num_layers=k, bidirectional=b, bias=bias)
    for k, b, bias in itertools.product([1, 2], [False, True], [True, False])
]
KINDS = {"RNN": rnn.RNN, "GRU": rnn.GRU, "LSTM": rnn.LSTM}


def keras_tolerance(model: Any) -> dict[str, float]:
    """Float32 tolerance where Keras runs its generic cell code (see the module docstring)."""
    generic = (
        isinstance(model, rnn.RNN) or model.activations or not getattr(model, "reset_after", True)
    )
    return F32 if generic else tolerance(model.dtype)


def numpy(value: Any) -> np.ndarray:
    """A Keras result (a torch tensor on this backend) as an array."""
    return value.detach().cpu().numpy()


def keras_outputs(layer: Any, x: np.ndarray, model: Any) -> list[np.ndarray]:
    """A converted layer's outputs in our order: output, then h_n (and c_n) as (D, N, H)."""
    result = layer(x)
    if model.num_layers > 1:
        return [numpy(result)]
    output, *finals = (numpy(v) for v in result)
    per_state = 2 if isinstance(model, rnn.LSTM) else 1
    directions = [
        finals[i * per_state : (i + 1) * per_state] for i in range(len(finals) // per_state)
    ]
    stacked = [np.stack([d[s] for d in directions]) for s in range(per_state)]
    return [output, *stacked]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("kind", list(KINDS))
def test_to_keras_matches_forward(kind: str, config: dict, dtype: Any) -> None:
    model = KINDS[kind](3, 4, batch_first=True, dtype=dtype, seed=1, **config)
    layer = rnn.to_keras(model)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(dtype)
    output, finals = model(x)
    mine = [output, *(finals if isinstance(finals, tuple) else (finals,))]
    theirs = keras_outputs(layer, x, model)
    for a, b in zip(mine, theirs):
        assert b.dtype == dtype
        np.testing.assert_allclose(a, b, **keras_tolerance(model))


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("kind", list(KINDS))
def test_from_keras_of_to_keras_computes_the_same(kind: str, config: dict) -> None:
    model = KINDS[kind](3, 4, batch_first=True, dtype=np.float64, seed=1, **config)
    again = rnn.from_keras(rnn.to_keras(model))
    assert repr(again) == repr(model)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    for a, b in zip(model(x), again(x)):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            np.testing.assert_allclose(u, v, **tolerance(np.float64))


def test_to_keras_dropout_becomes_dropout_layers_and_back() -> None:
    model = rnn.GRU(3, 4, num_layers=3, dropout=0.25, dtype=np.float64, seed=0)
    stack = rnn.to_keras(model)
    names = [type(layer).__name__ for layer in stack.layers]
    assert names == ["GRU", "Dropout", "GRU", "Dropout", "GRU"]
    assert [layer.rate for layer in stack.layers if names[0] != type(layer).__name__] == [0.25] * 2
    assert rnn.from_keras(stack).dropout == 0.25


GRADIENT_CASES = [
    *((kind, {"bidirectional": b}) for kind in KINDS for b in (False, True)),
    ("GRU", {"reset_after": False}),
    ("GRU", {"bidirectional": True, "merge_mode": "sum"}),
    (
        "LSTM",
        {
            "activations": ["HardSigmoid", "Softsign", "Softsign"],
            "activation_alpha": [1 / 6],
            "activation_beta": [0.5],
        },
    ),
]


@pytest.mark.parametrize(("kind", "options"), GRADIENT_CASES, ids=str)
def test_gradients_match_keras_autograd(kind: str, options: dict) -> None:
    model = KINDS[kind](3, 4, batch_first=True, dtype=np.float64, seed=3, **options)
    layer = rnn.to_keras(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3))
    output, _ = model(x)
    grad_output = rng.standard_normal(output.shape)
    x_t = torch.from_numpy(x).requires_grad_()
    theirs = layer(x_t)[0]
    (theirs * torch.from_numpy(grad_output)).sum().backward()
    grads = model.backward(grad_output, None)
    np.testing.assert_allclose(grads["input"], x_t.grad.numpy(), **keras_tolerance(model))
    # Our parameter gradients in Keras' layout: a model holding them, converted. Keras has one
    # bias where we have two (for all but the reset-after GRU), whose gradients are equal:
    # keep one of them.
    single_bias = kind != "GRU" or not options.get("reset_after", True)
    state = {k: (0 * v if single_bias and "bias_hh" in k else v) for k, v in grads.items()}
    holder = KINDS[kind](3, 4, batch_first=True, dtype=np.float64, **options)
    holder.load_state_dict({k: state[k] for k in model.state_dict()})
    expected = [numpy(w.value) for w in rnn.to_keras(holder).weights]
    got = [w.value.grad.numpy() for w in layer.weights]
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, **keras_tolerance(model))


def built(layer: Any, width: int = 3) -> Any:
    layer.build((None, None, width))
    return layer


def test_from_keras_reads_keras_initialised_layers() -> None:
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    layers = [
        keras.layers.LSTM(4, return_sequences=True, dtype="float64"),
        keras.layers.GRU(5, return_sequences=True, dtype="float64"),
        keras.layers.SimpleRNN(4, activation="relu", return_sequences=True, dtype="float64"),
        keras.layers.Bidirectional(
            keras.layers.LSTM(4, return_sequences=True, dtype="float64"), dtype="float64"
        ),
    ]
    for layer in layers:
        expected = numpy(layer(x))
        model = rnn.from_keras(layer)
        assert model.batch_first is True
        np.testing.assert_allclose(model(x)[0], expected, **keras_tolerance(model))
    assert rnn.from_keras(layers[2]).nonlinearity == "relu"


def test_from_keras_stack_becomes_layers() -> None:
    stack = keras.Sequential(
        [
            keras.Input((None, 3), dtype="float64"),
            keras.layers.LSTM(4, return_sequences=True, dtype="float64"),
            keras.layers.Dropout(0.1, dtype="float64"),
            keras.layers.LSTM(4, return_sequences=True, dtype="float64"),
        ]
    )
    model = rnn.from_keras(stack)
    assert (model.num_layers, model.dropout) == (2, 0.1)
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    np.testing.assert_allclose(model(x)[0], numpy(stack(x)), **tolerance(np.float64))


def test_hard_sigmoid_in_keras_3_is_x_over_6_plus_one_half() -> None:
    x = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(numpy(keras.activations.hard_sigmoid(x)), np.clip(x / 6 + 0.5, 0, 1))


def test_from_keras_refusals() -> None:
    with pytest.raises(ValueError, match=r"recurrent_dropout=0.2 has no equivalent"):
        rnn.from_keras(built(keras.layers.GRU(2, recurrent_dropout=0.2)))
    with pytest.raises(ValueError, match=r"dropout=0.3 has no equivalent"):
        rnn.from_keras(built(keras.layers.LSTM(2, dropout=0.3)))
    with pytest.raises(ValueError, match="activation 'selu' has no equivalent"):
        rnn.from_keras(built(keras.layers.SimpleRNN(2, activation="selu")))
    with pytest.raises(ValueError, match="is not built yet"):
        rnn.from_keras(keras.layers.GRU(2))
    with pytest.raises(TypeError, match="got Dense"):
        rnn.from_keras(built(keras.layers.Dense(2)))
    mixed = keras.Sequential(
        [keras.Input((None, 3)), keras.layers.GRU(4, return_sequences=True), keras.layers.GRU(5)]
    )
    with pytest.raises(ValueError, match=r"layer 1 of the Sequential differs from layer 0"):
        rnn.from_keras(mixed)
    mixed_dtypes = keras.layers.Bidirectional(keras.layers.GRU(2, dtype="float64"))
    with pytest.raises(ValueError, match="computes in float32 while its layers hold float64"):
        rnn.from_keras(built(mixed_dtypes))
    trailing = keras.Sequential(
        [keras.Input((None, 3)), keras.layers.GRU(4), keras.layers.Dropout(0.5)]
    )
    with pytest.raises(ValueError, match="must end with a recurrent layer"):
        rnn.from_keras(trailing)


def test_to_keras_refusals() -> None:
    with pytest.raises(ValueError, match=r"Keras has no proj_size=2"):
        rnn.to_keras(rnn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match=r"Keras has no peephole=True"):
        rnn.to_keras(rnn.LSTMCell(3, 4, peephole=True))
    with pytest.raises(TypeError, match=r"RNNCell, GRUCell or LSTMCell; got object"):
        rnn.to_keras(object())


def test_missing_keras_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(
        ImportError,
        match=r"rnn.to_keras needs keras: pip install keras torch",
    ):
        rnn.to_keras(rnn.GRU(2, 3))
    with pytest.raises(ImportError, match=r"rnn.from_keras needs keras"):
        rnn.from_keras(object())


# -- the variants Keras has and PyTorch has not -----------------------------------------
@pytest.mark.parametrize(
    "layer",
    [
        lambda: keras.layers.GRU(4, reset_after=False, return_sequences=True, dtype="float64"),
        lambda: keras.layers.LSTM(
            4, recurrent_activation="hard_sigmoid", return_sequences=True, dtype="float64"
        ),
        lambda: keras.layers.GRU(
            4,
            activation="softsign",
            recurrent_activation="hard_sigmoid",
            return_sequences=True,
            dtype="float64",
        ),
        lambda: keras.layers.SimpleRNN(4, activation="elu", return_sequences=True, dtype="float64"),
        lambda: keras.layers.LSTM(4, activation="linear", return_sequences=True, dtype="float64"),
        lambda: keras.layers.GRU(
            4, activation="leaky_relu", return_sequences=True, dtype="float64"
        ),
        lambda: keras.layers.LSTM(4, activation="softplus", return_sequences=True, dtype="float64"),
    ],
)
def test_from_keras_variants_forward(layer: Any) -> None:
    layer = layer()
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    expected = numpy(layer(x))
    model = rnn.from_keras(layer)
    np.testing.assert_allclose(model(x)[0], expected, **keras_tolerance(model))
    again = rnn.to_keras(model)
    np.testing.assert_allclose(numpy(again(x)[0]), expected, **keras_tolerance(model))


@pytest.mark.parametrize("kind", list(KINDS))
def test_go_backwards_outputs_are_in_time_order_here(kind: str) -> None:
    model = KINDS[kind](3, 4, batch_first=True, go_backwards=True, dtype=np.float64, seed=0)
    layer = rnn.to_keras(model)
    assert layer.go_backwards is True
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    output, _ = model(x)
    theirs = numpy(layer(x)[0])
    np.testing.assert_allclose(
        output, theirs[:, ::-1], **keras_tolerance(model)
    )  # Keras: processing order
    assert rnn.from_keras(layer).go_backwards is True


@pytest.mark.parametrize(
    ("merge_mode", "num_layers"),
    [(m, k) for m in ("concat", "sum", "mul", "ave", None) for k in (1, 2) if m or k == 1],
)
def test_merge_modes_forward(merge_mode: str | None, num_layers: int) -> None:
    model = rnn.GRU(
        3,
        4,
        num_layers,
        batch_first=True,
        bidirectional=True,
        merge_mode=merge_mode,
        dtype=np.float64,
        seed=0,
    )
    layer = rnn.to_keras(model)
    assert rnn.from_keras(layer).merge_mode == merge_mode
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    output, _ = model(x)
    result = layer(x)
    if num_layers == 1:
        result = result[:2] if merge_mode is None else result[0]
    if merge_mode is None:
        for mine, theirs in zip(output, result):
            np.testing.assert_allclose(mine, numpy(theirs), **tolerance(np.float64))
    else:
        np.testing.assert_allclose(output, numpy(result), **tolerance(np.float64))


# -- cells, and the generic keras.layers.RNN around one ----------------------------------
CELLS = {"RNN": rnn.RNNCell, "GRU": rnn.GRUCell, "LSTM": rnn.LSTMCell}


def our_step(cell: Any, x: np.ndarray, states: list[np.ndarray]) -> list[np.ndarray]:
    """One step of an `rnn` cell: the new states (h, then c)."""
    result = cell(x, tuple(states) if len(states) == 2 else states[0])
    return list(result) if isinstance(result, tuple) else [result]


def cell_step(cell: Any, x: np.ndarray, states: list[np.ndarray]) -> list[np.ndarray]:
    """One step of a Keras cell: the new states, in our order (h, then c)."""
    _, new = cell(x, states)
    return [numpy(v) for v in (new if isinstance(new, (list, tuple)) else [new])]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_to_keras_cell_computes_a_step(kind: str, bias: bool, dtype: Any) -> None:
    cell = CELLS[kind](3, 4, bias, dtype=dtype, seed=2)
    theirs = rnn.to_keras(cell)
    assert type(theirs).__name__ == {"RNN": "SimpleRNNCell"}.get(kind, f"{kind}Cell")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3)).astype(dtype)
    states = [rng.standard_normal((5, 4)).astype(dtype) for _ in range(2 if kind == "LSTM" else 1)]
    assert {np.dtype(w.dtype) for w in theirs.weights} == {np.dtype(dtype)}
    mine = our_step(cell, x, states)
    for a, b in zip(mine, cell_step(theirs, x, states), strict=True):
        # Keras' generic cell code; it may answer in float32 (the module docstring)
        np.testing.assert_allclose(a, b, **F32)
    again = rnn.from_keras(theirs)
    assert repr(again) == repr(cell)
    for a, b in zip(mine, our_step(again, x, states), strict=True):
        np.testing.assert_allclose(a, b, **tolerance(dtype))


@pytest.mark.parametrize(
    "cell",
    [
        lambda: keras.layers.GRUCell(4, reset_after=False, dtype="float64"),
        lambda: keras.layers.LSTMCell(4, activation="softsign", dtype="float64"),
        lambda: keras.layers.SimpleRNNCell(4, activation="relu", use_bias=False, dtype="float64"),
    ],
)
def test_from_keras_reads_a_keras_cell(cell: Any) -> None:
    cell = cell()
    cell.build((None, 3))
    model = rnn.from_keras(cell)
    assert type(model).__name__ == type(cell).__name__.removeprefix("Simple")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3))
    states = [rng.standard_normal((5, 4)) for _ in range(2 if type(model) is rnn.LSTMCell else 1)]
    for a, b in zip(our_step(model, x, states), cell_step(cell, x, states), strict=True):
        np.testing.assert_allclose(a, b, **F32)


def generic(cell: Any, **options: Any) -> Any:
    """``keras.layers.RNN`` around `cell`, in float64, returning every step's output."""
    return keras.layers.RNN(cell, return_sequences=True, dtype="float64", **options)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: generic(keras.layers.GRUCell(4, dtype="float64")),
        lambda: generic(keras.layers.SimpleRNNCell(4, dtype="float64"), go_backwards=True),
        lambda: keras.layers.Bidirectional(
            generic(keras.layers.LSTMCell(4, dtype="float64")), merge_mode="sum", dtype="float64"
        ),
        lambda: keras.Sequential(
            [
                keras.Input((None, 3), dtype="float64"),
                generic(keras.layers.LSTMCell(4, dtype="float64")),
                generic(keras.layers.LSTMCell(4, dtype="float64")),
            ]
        ),
    ],
)
def test_from_keras_reads_the_generic_rnn_layer(layer: Any) -> None:
    layer = layer()
    if not isinstance(layer, keras.Sequential):
        layer.build((None, None, 3))
    x = np.random.default_rng(4).standard_normal((2, 6, 3))
    expected = numpy(layer(x))
    model = rnn.from_keras(layer)
    output = model(x)[0]
    if getattr(layer, "go_backwards", False):
        output = output[:, ::-1]  # Keras: processing order
    np.testing.assert_allclose(output, expected, **F32)


KERAS_CELLS = {
    "RNN": keras.layers.SimpleRNNCell,
    "GRU": keras.layers.GRUCell,
    "LSTM": keras.layers.LSTMCell,
}


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_from_keras_reads_stacked_cells_as_layers(kind: str, go_backwards: bool) -> None:
    cells = [KERAS_CELLS[kind](4, dtype="float64") for _ in range(3)]
    layer = keras.layers.RNN(
        keras.layers.StackedRNNCells(cells, dtype="float64"),
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        dtype="float64",
    )
    layer.build((None, None, 3))
    x = np.random.default_rng(5).standard_normal((2, 6, 3))
    output_keras, *per_cell = layer(x)  # each cell's states: [h] or [h, c]
    theirs = numpy(output_keras)
    h_keras = np.stack([numpy(s[0] if isinstance(s, (list, tuple)) else s) for s in per_cell])
    model = rnn.from_keras(layer)
    assert (model.num_layers, model.go_backwards) == (3, go_backwards)
    output, state = model(x)
    h_n = state[0] if isinstance(state, tuple) else state
    if go_backwards:
        output = output[:, ::-1]  # Keras: processing order
    np.testing.assert_allclose(output, theirs, **F32)  # Keras' generic cell code
    np.testing.assert_allclose(h_n, h_keras, **F32)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_backwards_stack_reverses_once_in_keras_too(kind: str) -> None:
    model = KINDS[kind](
        3, 4, num_layers=3, dropout=0.1, batch_first=True, go_backwards=True, dtype=np.float64
    ).eval()
    stack = rnn.to_keras(model)
    recurrent = [sub for sub in stack.layers if type(sub) is not keras.layers.Dropout]
    assert [r.go_backwards for r in recurrent] == [True, False, False]
    x = np.random.default_rng(6).standard_normal((2, 6, 3))
    output = model(x)[0]
    theirs = numpy(stack(x))
    np.testing.assert_allclose(output[:, ::-1], theirs, **keras_tolerance(model))
    again = rnn.from_keras(stack).eval()
    assert (again.go_backwards, again.dropout) == (True, 0.1)
    np.testing.assert_allclose(again(x)[0], output, **keras_tolerance(model))


def test_from_keras_refuses_stacks_it_cannot_express() -> None:
    twice = keras.Sequential(
        [
            keras.Input((None, 3)),
            keras.layers.GRU(4, return_sequences=True, go_backwards=True),
            keras.layers.GRU(4, return_sequences=True, go_backwards=True),
        ]
    )
    with pytest.raises(ValueError, match="layer 1 of the Sequential has go_backwards=True"):
        rnn.from_keras(twice)
    later = keras.Sequential(
        [
            keras.Input((None, 3)),
            keras.layers.GRU(4, return_sequences=True),
            keras.layers.GRU(4, return_sequences=True, go_backwards=True),
        ]
    )
    with pytest.raises(ValueError, match="only the first layer of a stack may go backwards"):
        rnn.from_keras(later)
    stacked = keras.layers.RNN([keras.layers.GRUCell(4), keras.layers.GRUCell(4)])
    with pytest.raises(ValueError, match=r"Bidirectional around RNN\(StackedRNNCells\)"):
        rnn.from_keras(built(keras.layers.Bidirectional(stacked)))
    mixed = keras.layers.RNN([keras.layers.GRUCell(4), keras.layers.GRUCell(5)])
    with pytest.raises(
        ValueError, match=r"layer 1 of the StackedRNNCells differs from layer 0 \(GRUCell\(5\)"
    ):
        rnn.from_keras(built(mixed))
    kinds = keras.layers.RNN([keras.layers.GRUCell(4), keras.layers.LSTMCell(4)])
    with pytest.raises(ValueError, match="layer 1 of the StackedRNNCells differs"):
        rnn.from_keras(built(kinds))
    with pytest.raises(ValueError, match=r"the RNN\(StackedRNNCells\) is not built yet"):
        rnn.from_keras(keras.layers.RNN([keras.layers.GRUCell(4)]))
    for stateful in (
        keras.layers.GRU(4, stateful=True),
        keras.layers.RNN([keras.layers.GRUCell(4)], stateful=True),
    ):
        stateful.build((2, None, 3))  # Keras: a stateful layer needs a fixed batch size
        with pytest.raises(ValueError, match="stateful=True has no equivalent"):
            rnn.from_keras(stateful)
    with pytest.raises(ValueError, match="the StackedRNNCells holds no cell"):
        rnn.from_keras(built(keras.layers.RNN(keras.layers.StackedRNNCells([]))))
    inner = keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.GRUCell(4)]))
    in_a_stack = keras.Sequential([keras.Input((None, 3)), inner])
    with pytest.raises(ValueError, match=r"layer 0 of the Sequential is an RNN\(Stacked"):
        rnn.from_keras(in_a_stack)


def test_from_keras_refuses_what_a_cell_cannot_say() -> None:
    class Custom(keras.layers.GRUCell):  # type: ignore[misc]
        pass

    with pytest.raises(TypeError, match="got Custom"):
        rnn.from_keras(Custom(4))
    with pytest.raises(ValueError, match=r"dropout=0.3 has no equivalent"):
        cell = keras.layers.LSTMCell(4, dropout=0.3)
        cell.build((None, 3))
        rnn.from_keras(cell)
    with pytest.raises(ValueError, match="the GRUCell is not built yet"):
        rnn.from_keras(keras.layers.GRUCell(4))
