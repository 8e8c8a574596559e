"""The time loop, checked against itself: no torch, no fixtures.

A layer equals its cell unrolled; stacked 1-layer models equal one deep model; the reverse
direction equals a forward run on the flipped input; with ``lengths``, each sequence comes
out as if it had been run alone, cut to its length.
"""

from __future__ import annotations

from typing import Any

import layer_kinds
import numpy as np
import pytest
from layer_kinds import KINDS

import rnn

CELL_KINDS = ["rnn_tanh", "rnn_relu", "gru", "lstm"]  # the cells have no projection
EXACT = {"rtol": 0.0, "atol": 1e-13}  # float64, same sums in a different batch grouping


def make(kind: str, input_size: int, hidden_size: int, **kwargs: Any) -> Any:
    """A float64 layer of `kind` (see `layer_kinds.make`)."""
    return layer_kinds.make(kind, input_size, hidden_size, **({"dtype": np.float64} | kwargs))


def make_cell(kind: str, input_size: int, hidden_size: int, **kwargs: Any) -> Any:
    kwargs.setdefault("dtype", np.float64)
    if kind.startswith("rnn_"):
        return rnn.RNNCell(input_size, hidden_size, nonlinearity=kind[4:], **kwargs)
    return {"gru": rnn.GRUCell, "lstm": rnn.LSTMCell}[kind](input_size, hidden_size, **kwargs)


def run(model: Any, x: Any, states: tuple[Any, ...] | None = None, **kwargs: Any) -> Any:
    """``(output, (h_n,))`` or ``(output, (h_n, c_n))``, whatever the model."""
    if isinstance(model, rnn.LSTM):
        return model(x, states, **kwargs)
    output, h_n = model(x, None if states is None else states[0], **kwargs)
    return output, (h_n,)


def random_states(model: Any, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    rows = model.num_layers * (2 if model.bidirectional else 1)
    widths = [model.proj_size or model.hidden_size]
    if isinstance(model, rnn.LSTM):
        widths.append(model.hidden_size)
    return tuple(rng.standard_normal((rows, batch, w)) for w in widths)


def sub_model(model: Any, kind: str, layer: int, input_size: int, reverse: bool = False) -> Any:
    """A 1-layer, 1-direction model holding layer `layer` (direction 1 if `reverse`)."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    single = make(kind, input_size, model.hidden_size)
    single.load_state_dict(
        {k[: -len(suffix)] + "_l0": v for k, v in model.state_dict().items() if k.endswith(suffix)}
    )
    return single


# --- a layer is its cell unrolled ---------------------------------------------------------

SIZES = {
    "L1-N1-Hin1-H1": (1, 1, 1, 1),
    "L6-N3-Hin5-H4": (6, 3, 5, 4),
    "L4-N0-Hin2-H3": (4, 0, 2, 3),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["noh0", "h0"])
@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", CELL_KINDS)
def test_layer_equals_its_cell_unrolled(
    kind: str, bias: bool, sizes: tuple[int, ...], with_h0: bool, dtype: Any
) -> None:
    steps, batch, input_size, hidden = sizes
    layer = make(kind, input_size, hidden, bias=bias, dtype=dtype, seed=3)
    cell = make_cell(kind, input_size, hidden, bias=bias, dtype=dtype)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, input_size)).astype(dtype)
    states = tuple(s.astype(dtype) for s in random_states(layer, batch, rng)) if with_h0 else None
    output, finals = run(layer, x, states)

    lstm = kind == "lstm"
    state = (
        tuple(np.zeros((batch, hidden), dtype) for _ in range(1 + lstm))
        if states is None
        else tuple(s[0] for s in states)
    )
    for t in range(steps):
        state = cell(x[t], state) if lstm else (cell(x[t], state[0]),)
        np.testing.assert_allclose(output[t], state[0], rtol=1e-6, atol=1e-14)
    for final, s in zip(finals, state):
        np.testing.assert_allclose(final[0], s, rtol=1e-6, atol=1e-14)


# --- stacking -------------------------------------------------------------------------------


@pytest.mark.parametrize("num_layers", [2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidir", "bidir"])
@pytest.mark.parametrize("kind", KINDS)
def test_stacked_single_layers_equal_one_deep_model(
    kind: str, bidirectional: bool, num_layers: int
) -> None:
    """Layer k reads layer k-1's output: with two directions, their concatenation."""
    deep = make(kind, 3, 4, num_layers=num_layers, bidirectional=bidirectional, seed=1)
    directions = 2 if bidirectional else 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    states = random_states(deep, 2, rng)
    output, finals = run(deep, x, states)

    hidden, layer_input = x, 3
    for layer in range(num_layers):
        single = make(kind, layer_input, 4, bidirectional=bidirectional)
        suffix = f"_l{layer}"
        single.load_state_dict(
            {
                k.replace(suffix, "_l0"): v
                for k, v in deep.state_dict().items()
                if k.endswith(suffix) or k.endswith(suffix + "_reverse")
            }
        )
        rows = slice(layer * directions, (layer + 1) * directions)
        hidden, layer_finals = run(single, hidden, tuple(s[rows] for s in states))
        for final, layer_final in zip(finals, layer_finals):
            np.testing.assert_allclose(final[rows], layer_final, **EXACT)
        layer_input = hidden.shape[-1]
    np.testing.assert_allclose(output, hidden, **EXACT)


# --- the reverse direction -------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("kind", KINDS)
def test_reverse_direction_is_a_forward_run_on_the_flipped_input(kind: str, steps: int) -> None:
    model = make(kind, 3, 4, bidirectional=True, seed=2)
    width = model.proj_size or 4
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, 2, 3))
    states = random_states(model, 2, rng)
    output, finals = run(model, x, states)

    forward = sub_model(model, kind, 0, 3)
    backward = sub_model(model, kind, 0, 3, reverse=True)
    out_f, finals_f = run(forward, x, tuple(s[:1] for s in states))
    out_b, finals_b = run(backward, x[::-1], tuple(s[1:] for s in states))
    np.testing.assert_allclose(output[..., :width], out_f, **EXACT)
    np.testing.assert_allclose(output[..., width:], out_b[::-1], **EXACT)
    for final, f, b in zip(finals, finals_f, finals_b):
        np.testing.assert_allclose(final[:1], f, **EXACT)
        np.testing.assert_allclose(final[1:], b, **EXACT)
    # h_n's reverse row is the state after reading x[0]: output[0], not output[-1].
    np.testing.assert_allclose(finals[0][1], output[0, :, width:], **EXACT)


# --- lengths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True], ids=["timefirst", "batchfirst"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidir", "bidir"])
@pytest.mark.parametrize("kind", KINDS)
def test_all_lengths_full_is_no_lengths(kind: str, bidirectional: bool, batch_first: bool) -> None:
    model = make(
        kind, 3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first, seed=4
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 3))  # (L, N) = (3, 5) or, batch first, (N, L) = (3, 5)
    batch = 3 if batch_first else 5
    steps = 5 if batch_first else 3
    states = random_states(model, batch, rng)
    output, finals = run(model, x, states, lengths=[steps] * batch)
    expected, expected_finals = run(model, x, states)
    np.testing.assert_array_equal(output, expected)
    for f, e in zip(finals, expected_finals):
        np.testing.assert_array_equal(f, e)


LENGTHS = {"5-2-4": [5, 2, 4], "1-6-3-1": [1, 6, 3, 1], "2-3-1": [2, 3, 1], "1": [1]}


@pytest.mark.parametrize("lengths", LENGTHS.values(), ids=LENGTHS.keys())
@pytest.mark.parametrize("batch_first", [False, True], ids=["timefirst", "batchfirst"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidir", "bidir"])
@pytest.mark.parametrize("kind", KINDS)
def test_lengths_equal_each_sequence_run_alone(
    kind: str, bidirectional: bool, batch_first: bool, lengths: list[int]
) -> None:
    """Each sequence as if run by itself, cut to its length; padding holds padding_value.

    ``L = 6`` always, so ``[5, 2, 4]`` leaves every sequence padded at the end.
    """
    model = make(
        kind, 3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first, seed=5
    )
    steps, batch = 6, len(lengths)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, 3) if batch_first else (steps, batch, 3))
    states = random_states(model, batch, rng)
    output, finals = run(model, x, states, lengths=lengths, padding_value=-7.5)
    if batch_first:
        x, output = x.swapaxes(0, 1), output.swapaxes(0, 1)  # (L, N, ...) from here on
    for b, length in enumerate(lengths):
        alone = make(kind, 3, 4, num_layers=2, bidirectional=bidirectional)
        alone.load_state_dict(model.state_dict())
        out_b, finals_b = run(alone, x[:length, b : b + 1], tuple(s[:, b : b + 1] for s in states))
        np.testing.assert_allclose(output[:length, b : b + 1], out_b, **EXACT)
        assert (output[length:, b] == -7.5).all()
        for final, final_b in zip(finals, finals_b):
            np.testing.assert_allclose(final[:, b : b + 1], final_b, **EXACT)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_value_defaults_to_zero(kind: str) -> None:
    model = make(kind, 2, 3, bidirectional=True, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    output, _ = run(model, x, lengths=[1, 4, 2])
    marked, _ = run(model, x, lengths=[1, 4, 2], padding_value=-3.0)
    padded = np.arange(4)[:, None] >= np.array([1, 4, 2])  # (L, N)
    assert (marked[padded] == -3.0).all()
    assert (output[padded] == 0).all()
    np.testing.assert_array_equal(output[~padded], marked[~padded])


@pytest.mark.parametrize("kind", KINDS)
def test_padded_steps_are_never_read(kind: str) -> None:
    model = make(kind, 2, 3, num_layers=2, bidirectional=True, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 2))
    lengths = [2, 5, 3]
    expected, expected_finals = run(model, x, lengths=lengths)
    x[2:, 0] = np.nan
    x[3:, 2] = 1e300
    output, finals = run(model, x, lengths=lengths)
    np.testing.assert_array_equal(output, expected)
    for f, e in zip(finals, expected_finals):
        np.testing.assert_array_equal(f, e)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("filler", [np.nan, np.inf, -np.inf, 1e308], ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
def test_padding_reaches_no_output_state_or_gradient(
    kind: str, filler: float, batch_first: bool
) -> None:
    """Whatever sits past a sequence's length (NaN, +-inf, huge values) changes no output,
    state or gradient, and raises no warning (warnings are errors in this suite). The
    gradient passed for padded positions of the output is ignored too."""
    rng = np.random.default_rng(1)
    lengths = [2, 5, 3]
    x = rng.standard_normal((5, 3, 2))
    d_out = rng.standard_normal((5, 3, 6 if kind != "lstm_proj" else 1))
    results = []
    for fill in (0.0, filler):
        model = make(
            kind,
            2,
            3,
            num_layers=2,
            bidirectional=kind != "lstm_proj",
            batch_first=batch_first,
            dtype=np.float64,
            seed=0,
        )
        padded, grad = x.copy(), d_out.copy()
        for b, n in enumerate(lengths):
            padded[n:, b] = fill
            grad[n:, b] = fill
        if batch_first:
            padded, grad = padded.swapaxes(0, 1), grad.swapaxes(0, 1)
        output, final = run(model, padded, lengths=lengths)
        grads = model.backward(grad)
        results.append((output, final, grads))
    (out0, final0, grads0), (out1, final1, grads1) = results
    np.testing.assert_array_equal(out1, out0)
    for got, want in zip(final1, final0):
        np.testing.assert_array_equal(got, want)
    for key, value in grads0.items():
        np.testing.assert_array_equal(grads1[key], value, err_msg=key)


@pytest.mark.parametrize("kind", KINDS)
def test_permuting_the_batch_permutes_the_results(kind: str) -> None:
    """h_n (and output) come back in the caller's order, whatever order lengths sort to."""
    model = make(kind, 2, 3, num_layers=2, bidirectional=True, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4, 2))
    states = random_states(model, 4, rng)
    lengths = np.array([2, 5, 1, 3])
    output, finals = run(model, x, states, lengths=lengths)
    perm = np.array([3, 0, 2, 1])
    out_p, finals_p = run(
        model, x[:, perm], tuple(s[:, perm] for s in states), lengths=lengths[perm]
    )
    np.testing.assert_allclose(out_p, output[:, perm], **EXACT)
    for f, fp in zip(finals, finals_p):
        np.testing.assert_allclose(fp, f[:, perm], **EXACT)


@pytest.mark.parametrize(
    "lengths",
    [[3, 1], (3, 1), np.array([3, 1], dtype=np.int32), np.array([3, 1], dtype=np.uint8)],
    ids=["list", "tuple", "int32", "uint8"],
)
def test_lengths_accept_any_integer_sequence(lengths: Any) -> None:
    model = make("gru", 2, 3, seed=0)
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    output, h_n = model(x, lengths=lengths)
    expected, expected_h_n = model(x, lengths=np.array([3, 1]))
    np.testing.assert_array_equal(output, expected)
    np.testing.assert_array_equal(h_n, expected_h_n)


@pytest.mark.parametrize("kind", KINDS)
def test_all_lengths_one(kind: str) -> None:
    model = make(kind, 2, 3, num_layers=2, bidirectional=True, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    output, finals = run(model, x, lengths=[1, 1, 1])
    first, first_finals = run(model, x[:1])
    np.testing.assert_allclose(output[:1], first, **EXACT)
    assert (output[1:] == 0).all()
    for f, e in zip(finals, first_finals):
        np.testing.assert_allclose(f, e, **EXACT)
