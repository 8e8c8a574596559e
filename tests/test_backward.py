"""Backpropagation through time: gradients against torch's autograd and against central
finite differences, for the layers and the cells, with dropout, and the forward record.

The loss throughout is ``sum(output * R_out) + sum(h_n * R_h) (+ sum(c_n * R_c))`` for
fixed random ``R``: its gradient with respect to the outputs is exactly the ``R`` passed to
``backward``.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import rnn

LAYERS = (rnn.RNN, rnn.GRU, rnn.LSTM)
CELLS = (rnn.RNNCell, rnn.GRUCell, rnn.LSTMCell)
STEPS, BATCH, LENGTHS = 5, 3, [3, 5, 1]  # unsorted, with 1 and L


def is_lstm(model) -> bool:
    return isinstance(model, (rnn.LSTM, rnn.LSTMCell))


def state_shapes(model, batch: int | None) -> list[tuple[int, ...]]:
    """Shapes of the initial states (h0[, c0], or hx[, cx]); None batch: unbatched."""
    if isinstance(model, CELLS):
        shape = (model.hidden_size,) if batch is None else (batch, model.hidden_size)
        return [shape] * (2 if is_lstm(model) else 1)
    rows = model.num_layers * (2 if model.bidirectional else 1)
    widths = [model.proj_size or model.hidden_size, model.hidden_size][: 1 + is_lstm(model)]
    return [(rows, w) if batch is None else (rows, batch, w) for w in widths]


def pack(model, states):
    """The states as the model takes them: one array, a tuple for LSTMs, or None."""
    if states is None:
        return None
    return tuple(states) if is_lstm(model) else states[0]


def call(model, x, states, lengths=None) -> list[np.ndarray]:
    """Run `model`; every array it returns, outputs first (both, with merge_mode=None)."""
    if isinstance(model, CELLS):
        result = model(x, pack(model, states))
        return list(result) if isinstance(result, tuple) else [result]
    output, final = model(x, pack(model, states), lengths=lengths)
    outputs = output if isinstance(output, tuple) else (output,)
    return [*outputs, *(final if isinstance(final, tuple) else (final,))]


def split_outputs(model) -> int:
    """How many of `call`'s arrays are outputs: 2 for directions kept apart, else 1."""
    return 2 if getattr(model, "merge_mode", "concat") is None and model.bidirectional else 1


def backward(model, weights):
    """``model.backward`` with the gradient of the weighted-sum loss (`weights`, or None)."""
    if isinstance(model, CELLS):
        return model.backward(tuple(weights) if is_lstm(model) else weights[0])
    k = split_outputs(model)
    grad_output = tuple(weights[:k]) if k == 2 else weights[0]
    if is_lstm(model):
        return model.backward(grad_output, (weights[k], weights[k + 1]))
    return model.backward(grad_output, weights[k])


def state_keys(model) -> list[str]:
    """Layers and cells alike key the initial states' gradients "h0" and "c0"."""
    return ["h0", "c0"][: 1 + is_lstm(model)]


def input_shape(model, batched: bool, steps: int = STEPS, batch: int = BATCH):
    if isinstance(model, CELLS):
        return (batch, model.input_size) if batched else (model.input_size,)
    if not batched:
        return (steps, model.input_size)
    return (
        (batch, steps, model.input_size) if model.batch_first else (steps, batch, model.input_size)
    )


# --- against torch's autograd ------------------------------------------------------------

KINDS = {
    "rnn-tanh": lambda **kw: rnn.RNN(3, 4, nonlinearity="tanh", **kw),
    "rnn-relu": lambda **kw: rnn.RNN(3, 4, nonlinearity="relu", **kw),
    "gru": lambda **kw: rnn.GRU(3, 4, **kw),
    "lstm": lambda **kw: rnn.LSTM(3, 4, **kw),
    "lstm-proj": lambda **kw: rnn.LSTM(3, 4, proj_size=2, **kw),
}
FORMS = ["batched", "unbatched", "lengths"]


def torch_gradients(reference, model, x, states, lengths, weights):
    """torch's answers for the weighted-sum loss, keyed like ``model.backward``'s."""
    rows = 1 + is_lstm(model)
    found = reference.torch_forward_backward(
        model,
        x,
        pack(model, states),
        lengths,
        (weights[0], tuple(weights[1:]) if is_lstm(model) else weights[1]),
    )
    result = {"output": found["output"], "h_n": found["h_n"], "input": found["grad_input"]}
    for name in ("h0", "c0")[:rows]:
        result[name] = found[f"grad_{name}"]
    for name in model.state_dict():
        result[name] = found[f"grad_{name}"]
    return result


def compare_with_torch(reference, model, batched, with_states, lengths, seed=0):
    """Largest absolute difference from torch for every gradient (and output, h_n)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape(model, batched))
    shapes = state_shapes(model, BATCH if batched else None)
    states = [rng.standard_normal(s) for s in shapes] if with_states else None
    arrays = call(model, x, states, lengths)
    weights = [rng.standard_normal(a.shape) for a in arrays]
    grads = backward(model, weights)
    assert set(grads) == {"input", *state_keys(model), *model.state_dict()}
    expected = torch_gradients(
        reference,
        model,
        x,
        states if with_states else [np.zeros(s) for s in shapes],
        lengths,
        weights,
    )
    ours = {"output": arrays[0], "h_n": arrays[1], **grads}
    errors = {}
    for key, value in expected.items():
        assert ours[key].shape == value.shape, key
        assert ours[key].dtype == model.dtype, key
        errors[key] = float(np.max(np.abs(ours[key] - value), initial=0.0))
    return errors


GRID = list(itertools.product(KINDS, [1, 2, 3], [False, True], [True, False], [False, True], FORMS))


@pytest.mark.parametrize(
    ("kind", "num_layers", "bidirectional", "bias", "batch_first", "form"),
    GRID,
    ids=[
        f"{k}-L{n}-{'bi' if b else 'uni'}-{'bias' if s else 'nobias'}-{'bf' if f else 'tf'}-{form}"
        for k, n, b, s, f, form in GRID
    ],
)
def test_against_torch(reference, kind, num_layers, bidirectional, bias, batch_first, form):
    model = KINDS[kind](
        num_layers=num_layers,
        bidirectional=bidirectional,
        bias=bias,
        batch_first=batch_first,
        dtype=np.float64,
        seed=num_layers,
    )
    lengths = LENGTHS if form == "lengths" else None
    # Initial states in every other case: each value of every axis meets both.
    with_states = GRID.index((kind, num_layers, bidirectional, bias, batch_first, form)) % 2 == 0
    errors = compare_with_torch(reference, model, form != "unbatched", with_states, lengths)
    assert max(errors.values()) < 1e-10, errors


@pytest.mark.parametrize("kind", KINDS)
def test_against_torch_sorted_and_full_lengths(reference, kind):
    model = KINDS[kind](num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    for lengths in ([5, 3, 1], [5, 5, 5], [2, 2, 2]):
        errors = compare_with_torch(reference, model, True, True, lengths)
        assert max(errors.values()) < 1e-10, (lengths, errors)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_against_torch(reference, kind):
    model = KINDS[kind](num_layers=2, bidirectional=True, dtype=np.float32, seed=0)
    errors = compare_with_torch(reference, model, True, True, LENGTHS)
    assert max(errors.values()) < 1e-5, errors


def zero_gradient_cases(model):
    """(what backward receives, the same with zeros) for every None-bearing form."""
    shapes = [a.shape for a in call(model, np.zeros(input_shape(model, True)), None)]
    rng = np.random.default_rng(1)
    g = [rng.standard_normal(s) for s in shapes]
    z = [np.zeros(s) for s in shapes]
    if is_lstm(model):
        return [
            ((None, (g[1], g[2])), (z[0], (g[1], g[2]))),
            ((g[0], None), (g[0], (z[1], z[2]))),
            ((g[0], (None, g[2])), (g[0], (z[1], g[2]))),
            ((g[0], (g[1], None)), (g[0], (g[1], z[2]))),
            ((None, None), (z[0], (z[1], z[2]))),
        ]
    return [
        ((None, g[1]), (z[0], g[1])),
        ((g[0], None), (g[0], z[1])),
        ((None, None), (z[0], z[1])),
    ]


@pytest.mark.parametrize("cls", LAYERS)
def test_none_means_zero(reference, cls):
    model = cls(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(input_shape(model, True))
    for given, zeros in zero_gradient_cases(model):
        model(x, lengths=LENGTHS)
        with_none = model.backward(*given)
        model(x, lengths=LENGTHS)
        with_zeros = model.backward(*zeros)
        assert set(with_none) == set(with_zeros)
        for key in with_none:
            np.testing.assert_array_equal(with_none[key], with_zeros[key])
        # and torch agrees with the zeros
        flat = [zeros[0], *(zeros[1] if isinstance(zeros[1], tuple) else (zeros[1],))]
        expected = torch_gradients(
            reference, model, x, [np.zeros(s) for s in state_shapes(model, BATCH)], LENGTHS, flat
        )
        for key in with_none:
            np.testing.assert_allclose(with_none[key], expected[key], rtol=0, atol=1e-10)
    model(x)
    assert all(not np.any(g) for g in model.backward().values())


# --- central finite differences ----------------------------------------------------------

FD_EPS = 1e-6


def check_finite_differences(make, batched=True, lengths=None, with_states=True, entries=None):
    """Every gradient (input, states, each parameter) against central differences of the
    weighted-sum loss: every entry, or `entries` random ones of each array. `make` builds
    the model afresh (same seed, so the same dropout masks) and is given the parameters.
    """
    model = make()
    params = model.state_dict()
    rng = np.random.default_rng(7)
    x = rng.standard_normal(input_shape(model, batched, steps=4))
    shapes = state_shapes(model, BATCH if batched else None)
    states = [rng.standard_normal(s) for s in shapes] if with_states else None
    arrays = call(model, x, states, lengths)
    weights = [rng.standard_normal(a.shape) for a in arrays]
    grads = backward(model, weights)

    def loss(params, x, states):
        fresh = make()
        fresh.load_state_dict(params)
        return sum(np.sum(a * w) for a, w in zip(call(fresh, x, states, lengths), weights))

    if states is None:  # the gradient at zero states; perturbing needs them explicit
        states = [np.zeros(s) for s in shapes]
    targets = {"input": x, **dict(zip(state_keys(model), states)), **params}
    assert set(grads) == set(targets)
    for key, array in targets.items():
        indices = list(np.ndindex(array.shape))
        if entries is not None and entries < len(indices):
            indices = [indices[i] for i in rng.choice(len(indices), entries, replace=False)]
        numeric = grads[key].copy()
        for index in indices:
            saved = array[index]
            array[index] = saved + FD_EPS
            up = loss(params, x, states)
            array[index] = saved - FD_EPS
            down = loss(params, x, states)
            array[index] = saved
            numeric[index] = (up - down) / (2 * FD_EPS)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-6, atol=1e-8, err_msg=key)
    return grads


F64 = {"dtype": np.float64, "seed": 3}
FD_CASES = {
    "rnn-tanh": (lambda: rnn.RNN(2, 3, **F64), {}),
    "rnn-tanh-3layers-nobias": (lambda: rnn.RNN(2, 3, num_layers=3, bias=False, **F64), {}),
    "rnn-relu-bidir-2-lengths": (
        lambda: rnn.RNN(2, 3, num_layers=2, nonlinearity="relu", bidirectional=True, **F64),
        {"lengths": [2, 4, 1]},
    ),
    "gru": (lambda: rnn.GRU(2, 3, **F64), {"with_states": False}),
    "gru-bidir-2-lengths-bf": (
        lambda: rnn.GRU(2, 3, num_layers=2, bidirectional=True, batch_first=True, **F64),
        {"lengths": [4, 1, 3]},
    ),
    "gru-nobias-unbatched": (lambda: rnn.GRU(2, 3, bias=False, **F64), {"batched": False}),
    "lstm": (lambda: rnn.LSTM(2, 3, **F64), {}),
    "lstm-proj-bidir-2-lengths": (
        lambda: rnn.LSTM(2, 3, num_layers=2, proj_size=2, bidirectional=True, **F64),
        {"lengths": [3, 4, 2]},
    ),
    "lstm-proj-nobias-bf-unbatched": (
        lambda: rnn.LSTM(2, 3, proj_size=1, bias=False, batch_first=True, **F64),
        {"batched": False},
    ),
}


# The variants other frameworks define (tests/test_variants.py checks their forward
# against onnxruntime): every parameter, the input and the states against central
# differences, through layers, directions and lengths.
VARIANT_CASES = {
    "gru-reset-before-bidir-2-lengths": (
        lambda: rnn.GRU(2, 3, num_layers=2, bidirectional=True, reset_after=False, **F64),
        {"lengths": [2, 4, 1]},
    ),
    "gru-reset-before-nobias-clip-activations": (
        lambda: rnn.GRU(
            2, 3, bias=False, reset_after=False, clip=0.6, activations=["Softsign", "Elu"], **F64
        ),
        {},
    ),
    "lstm-peephole-bidir-2-lengths": (
        lambda: rnn.LSTM(2, 3, num_layers=2, bidirectional=True, peephole=True, **F64),
        {"lengths": [3, 4, 2]},
    ),
    "lstm-peephole-input-forget-proj": (
        lambda: rnn.LSTM(2, 3, proj_size=2, peephole=True, input_forget=True, **F64),
        {},
    ),
    "lstm-clip-activations-alpha-beta": (
        lambda: rnn.LSTM(
            2,
            3,
            clip=0.7,
            activations=["HardSigmoid", "ScaledTanh", "Softplus"],
            activation_alpha=[0.3, 1.5],
            activation_beta=[0.4, 0.8],
            **F64,
        ),
        {},
    ),
    "rnn-per-direction-activations": (
        lambda: rnn.RNN(
            2,
            3,
            bidirectional=True,
            activations=["LeakyRelu", "Affine"],
            activation_alpha=[0.2, 0.5],
            activation_beta=[0.1],
            **F64,
        ),
        {"lengths": [4, 2, 3]},
    ),
    "rnn-go-backwards-2-lengths": (
        lambda: rnn.RNN(2, 3, num_layers=2, go_backwards=True, **F64),
        {"lengths": [2, 4, 1]},
    ),
    "lstm-go-backwards-peephole-bf": (
        lambda: rnn.LSTM(2, 3, go_backwards=True, peephole=True, batch_first=True, **F64),
        {"lengths": [4, 1, 3]},
    ),
    "gru-merge-sum-2": (
        lambda: rnn.GRU(2, 3, num_layers=2, bidirectional=True, merge_mode="sum", **F64),
        {"lengths": [3, 4, 2]},
    ),
    "rnn-merge-mul-2": (
        lambda: rnn.RNN(2, 3, num_layers=2, bidirectional=True, merge_mode="mul", **F64),
        {},
    ),
    "lstm-merge-ave-proj": (
        lambda: rnn.LSTM(2, 3, bidirectional=True, proj_size=2, merge_mode="ave", **F64),
        {"batched": False},
    ),
    "gru-merge-none": (
        lambda: rnn.GRU(2, 3, bidirectional=True, merge_mode=None, **F64),
        {"lengths": [1, 4, 3]},
    ),
}
FD_CASES |= VARIANT_CASES


@pytest.mark.parametrize("case", FD_CASES)
def test_finite_differences(case):
    make, kwargs = FD_CASES[case]
    check_finite_differences(make, **kwargs)


CELL_CASES = {
    "rnncell-tanh": lambda: rnn.RNNCell(2, 3, **F64),
    "rnncell-relu-nobias": lambda: rnn.RNNCell(2, 3, bias=False, nonlinearity="relu", **F64),
    "grucell": lambda: rnn.GRUCell(2, 3, **F64),
    "grucell-nobias": lambda: rnn.GRUCell(2, 3, bias=False, **F64),
    "lstmcell": lambda: rnn.LSTMCell(2, 3, **F64),
    "lstmcell-nobias": lambda: rnn.LSTMCell(2, 3, bias=False, **F64),
}
CELL_CASES_VARIANTS = {
    "grucell-reset-before-clip": lambda: rnn.GRUCell(2, 3, reset_after=False, clip=0.5, **F64),
    "lstmcell-peephole-input-forget": lambda: rnn.LSTMCell(
        2, 3, peephole=True, input_forget=True, **F64
    ),
    "rnncell-elu": lambda: rnn.RNNCell(2, 3, activations=["Elu"], activation_alpha=[0.7], **F64),
}


@pytest.mark.parametrize("case", CELL_CASES | CELL_CASES_VARIANTS)
@pytest.mark.parametrize(("batched", "with_states"), [(True, True), (False, True), (True, False)])
def test_cell_finite_differences(case, batched, with_states):
    make = (CELL_CASES | CELL_CASES_VARIANTS)[case]
    check_finite_differences(make, batched=batched, with_states=with_states)


@pytest.mark.parametrize("case", CELL_CASES)
@pytest.mark.parametrize(("batched", "with_states"), [(True, True), (False, True), (True, False)])
def test_cell_against_torch(reference, case, batched, with_states):
    import torch

    cell = CELL_CASES[case]()
    rng = np.random.default_rng(2)
    x = rng.standard_normal(input_shape(cell, batched))
    shapes = state_shapes(cell, BATCH if batched else None)
    states = [rng.standard_normal(s) for s in shapes]
    outputs = call(cell, x, states if with_states else None)
    weights = [rng.standard_normal(a.shape) for a in outputs]
    grads = backward(cell, weights)
    assert set(grads) == {"input", *state_keys(cell), *cell.state_dict()}

    twin = reference.torch_twin(cell)
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s if with_states else np.zeros_like(s), requires_grad=True) for s in states]
    result = twin(xt, tuple(st) if is_lstm(cell) else st[0])
    results = result if isinstance(result, tuple) else (result,)
    sum((r * torch.as_tensor(w)).sum() for r, w in zip(results, weights)).backward()
    for ours, theirs in zip(outputs, results):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=1e-12)
    expected = {"input": xt.grad, **dict(zip(state_keys(cell), (s.grad for s in st)))}
    expected |= {name: p.grad for name, p in twin.named_parameters()}
    for key, value in expected.items():
        np.testing.assert_allclose(grads[key], value.numpy(), rtol=0, atol=1e-12, err_msg=key)


# --- dropout --------------------------------------------------------------------------

DROPOUT_CASES = {
    "rnn-3layers": (lambda p: rnn.RNN(2, 3, num_layers=3, dropout=p, **F64), {}),
    "gru-bidir-lengths": (
        lambda p: rnn.GRU(2, 3, num_layers=2, bidirectional=True, dropout=p, **F64),
        {"lengths": [2, 4, 3]},
    ),
    "lstm-proj-bidir": (
        lambda p: rnn.LSTM(2, 3, num_layers=2, proj_size=2, bidirectional=True, dropout=p, **F64),
        {},
    ),
}


@pytest.mark.parametrize("case", DROPOUT_CASES)
def test_dropout_finite_differences(case):
    make, kwargs = DROPOUT_CASES[case]
    grads = check_finite_differences(lambda: make(0.5), entries=8, **kwargs)
    # The masks matter: the same check without dropout gives other gradients.
    plain = check_finite_differences(lambda: make(0.0), entries=1, **kwargs)
    assert not np.allclose(grads["weight_ih_l0"], plain["weight_ih_l0"])
    assert not np.allclose(grads["input"], plain["input"])


def test_dropout_only_in_training_mode():
    model = rnn.GRU(2, 3, num_layers=2, dropout=0.5, **F64)
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    trained = model(x)[0]
    model.eval()
    evaluated = model(x)[0]
    plain = rnn.GRU(2, 3, num_layers=2, **F64)
    np.testing.assert_array_equal(evaluated, plain(x)[0])
    assert not np.allclose(trained, evaluated)


# --- the forward record ---------------------------------------------------------------

RECORD_ERROR = re.escape("backward() needs a forward pass in training mode first")


@pytest.mark.parametrize("cls", LAYERS + CELLS)
def test_eval_forward_keeps_no_record(cls):
    model = cls(2, 3, seed=0)
    x = np.ones(input_shape(model, True))
    model.eval()
    model(x)
    with pytest.raises(RuntimeError, match=RECORD_ERROR):
        model.backward()
    # a record from training mode is dropped by eval() and by an eval-mode forward
    model.train()
    model(x)
    model.eval()
    with pytest.raises(RuntimeError, match=RECORD_ERROR):
        model.backward()
    model.train()
    model(x)
    model.train(False)
    model(x)
    model.train(True)
    with pytest.raises(RuntimeError, match=RECORD_ERROR):
        model.backward()


@pytest.mark.parametrize("cls", LAYERS)
def test_backward_uses_the_last_forward(cls):
    model = cls(2, 3, num_layers=2, bidirectional=True, **F64)
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 4, 3, 2))
    weights = [rng.standard_normal(a.shape) for a in call(model, x2, None)]
    call(model, x2, None, [4, 1, 2])
    expected = backward(model, weights)
    call(model, x1, None)
    call(model, x2, None, [4, 1, 2])
    found = backward(model, weights)
    for key in expected:
        np.testing.assert_array_equal(found[key], expected[key])


@pytest.mark.parametrize("cls", LAYERS)
def test_backward_changes_nothing(cls):
    model = cls(2, 3, num_layers=2, **F64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2))
    x_copy = x.copy()
    arrays = call(model, x, None)
    weights = [rng.standard_normal(a.shape) for a in arrays]
    weights_copy = [w.copy() for w in weights]
    params = model.state_dict()
    backward(model, weights)
    np.testing.assert_array_equal(x, x_copy)
    for w, c in zip(weights, weights_copy):
        np.testing.assert_array_equal(w, c)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, params[key])
    for a, b in zip(call(model, x, None), arrays):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_dtypes_and_shapes(dtype):
    model = rnn.LSTM(2, 3, num_layers=2, proj_size=1, bidirectional=True, dtype=dtype, seed=0)
    x = np.ones((4, 3, 2))  # float64 input into a float32 model is cast
    grads = backward(model, [np.ones(a.shape) for a in call(model, x, None)])
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    shapes |= {"input": x.shape, "h0": (4, 3, 1), "c0": (4, 3, 3)}
    assert {k: v.shape for k, v in grads.items()} == shapes
    assert all(v.dtype == dtype for v in grads.values())


@pytest.mark.parametrize("cls", LAYERS)
def test_editing_the_output_leaves_the_gradients(cls):
    model = cls(2, 3, **F64)
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    arrays = call(model, x, None)
    weights = [np.ones(a.shape) for a in arrays]
    expected = backward(model, weights)
    output = call(model, x, None)[0]
    output *= 10.0  # e.g. computing a loss gradient in place
    found = backward(model, weights)
    for key in expected:
        np.testing.assert_array_equal(found[key], expected[key], err_msg=key)
