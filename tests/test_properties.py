"""Hypothesis over shapes and configurations: documented shapes, and the model as its cells.

The reference here runs one `rnn.RNNCell` / `rnn.GRUCell` / `rnn.LSTMCell` per layer and
direction, one sequence and one step at a time, over each sequence's valid steps only,
and stacks layers by concatenating directions. It shares no loop with the package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import rnn

SETTINGS = settings(max_examples=40, deadline=None, database=None)


@st.composite
def configurations(draw: st.DrawFn, kinds: tuple[str, ...]) -> dict[str, Any]:
    kind = draw(st.sampled_from(kinds))
    hidden = draw(st.integers(2 if kind == "lstm_proj" else 1, 6))
    batched = draw(st.booleans())
    steps = draw(st.integers(1, 6))
    batch = draw(st.integers(0, 4)) if batched else 1
    lengths = None
    if batched and batch and draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return {
        "kind": kind,
        "steps": steps,
        "batch": batch,
        "input_size": draw(st.integers(1, 5)),
        "hidden_size": hidden,
        "proj_size": draw(st.integers(1, hidden - 1)) if kind == "lstm_proj" else 0,
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "batched": batched,
        "h0": draw(st.booleans()),
        "lengths": lengths,
        "seed": draw(st.integers(0, 2**16)),
    }


def build(config: dict[str, Any]) -> Any:
    kind = config["kind"]
    kwargs = {
        "num_layers": config["num_layers"],
        "bidirectional": config["bidirectional"],
        "batch_first": config["batch_first"],
        "dtype": np.float64,
        "seed": config["seed"],
    }
    if kind.startswith("rnn_"):
        return rnn.RNN(config["input_size"], config["hidden_size"], nonlinearity=kind[4:], **kwargs)
    if kind == "gru":
        return rnn.GRU(config["input_size"], config["hidden_size"], **kwargs)
    return rnn.LSTM(
        config["input_size"], config["hidden_size"], proj_size=config["proj_size"], **kwargs
    )


def inputs(config: dict[str, Any]) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
    """The caller-side input and states (None unless config["h0"])."""
    rng = np.random.default_rng(config["seed"])
    steps, batch = config["steps"], config["batch"]
    if not config["batched"]:
        lead: tuple[int, ...] = (steps,)
    else:
        lead = (batch, steps) if config["batch_first"] else (steps, batch)
    x = rng.standard_normal((*lead, config["input_size"]))
    if not config["h0"]:
        return x, None
    rows = config["num_layers"] * (2 if config["bidirectional"] else 1)
    state_lead = (rows, batch) if config["batched"] else (rows,)
    widths = [config["proj_size"] or config["hidden_size"]]
    if config["kind"].startswith("lstm"):
        widths.append(config["hidden_size"])
    return x, tuple(0.5 * rng.standard_normal((*state_lead, w)) for w in widths)


def run(model: Any, x: Any, states: Any, lengths: Any) -> tuple[np.ndarray, tuple[Any, ...]]:
    if isinstance(model, rnn.LSTM):
        return model(x, states, lengths=lengths)
    output, h_n = model(x, None if states is None else states[0], lengths=lengths)
    return output, (h_n,)


@SETTINGS
@given(configurations(("rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj")))
def test_shapes_are_as_documented(config: dict[str, Any]) -> None:
    model = build(config)
    x, states = inputs(config)
    output, finals = run(model, x, states, config["lengths"])
    steps, batch = config["steps"], config["batch"]
    directions = 2 if config["bidirectional"] else 1
    width = config["proj_size"] or config["hidden_size"]
    rows = directions * config["num_layers"]
    if not config["batched"]:
        assert output.shape == (steps, directions * width)
        expected = [(rows, width), (rows, config["hidden_size"])]
    else:
        lead = (batch, steps) if config["batch_first"] else (steps, batch)
        assert output.shape == (*lead, directions * width)
        expected = [(rows, batch, width), (rows, batch, config["hidden_size"])]
    assert [f.shape for f in finals] == expected[: len(finals)]
    assert output.dtype == np.float64
    assert all(f.dtype == np.float64 for f in finals)

    # The top layer's rows of h_n are its last valid outputs: the forward direction's at
    # step length - 1, the reverse direction's at step 0.
    if config["batched"]:
        out = output.swapaxes(0, 1) if config["batch_first"] else output  # (L, N, D*P)
        h_n = finals[0]
    else:
        out, h_n = output[:, None], finals[0][:, None]
    lengths = config["lengths"] or [steps] * out.shape[1]
    for b, length in enumerate(lengths):
        np.testing.assert_array_equal(h_n[-directions, b], out[length - 1, b, :width])
        if directions == 2:
            np.testing.assert_array_equal(h_n[-1, b], out[0, b, width:])


def cell_for(model: Any, kind: str, layer: int, direction: int) -> Any:
    """The cell holding one layer-direction's parameters."""
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    params = {k[: -len(suffix)]: v for k, v in model.state_dict().items() if k.endswith(suffix)}
    input_size = params["weight_ih"].shape[1]
    if kind.startswith("rnn_"):
        cell = rnn.RNNCell(input_size, model.hidden_size, nonlinearity=kind[4:], dtype=np.float64)
    else:
        cell_class = rnn.GRUCell if kind == "gru" else rnn.LSTMCell
        cell = cell_class(input_size, model.hidden_size, dtype=np.float64)
    cell.load_state_dict(params)
    return cell


def unrolled(
    model: Any, kind: str, x: np.ndarray, states: tuple[np.ndarray, ...], lengths: list[int]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The model computed with cells, one sequence and one step at a time.

    x : (L, N, H_in); states : each (D*num_layers, N, width). Returns output (L, N, D*H)
    with zeros at padded steps, and the final states shaped like `states`.
    """
    steps, batch = x.shape[:2]
    directions = 2 if model.bidirectional else 1
    finals = [np.empty_like(s) for s in states]
    layer_input = x
    for layer in range(model.num_layers):
        halves = []
        for d in range(directions):
            cell = cell_for(model, kind, layer, d)
            row = layer * directions + d
            half = np.zeros((steps, batch, model.hidden_size))
            for b in range(batch):
                state = tuple(s[row, b] for s in states)
                for t in reversed(range(lengths[b])) if d else range(lengths[b]):
                    if kind == "lstm":
                        state = cell(layer_input[t, b], state)
                    else:
                        state = (cell(layer_input[t, b], state[0]),)
                    half[t, b] = state[0]
                for final, s in zip(finals, state):
                    final[row, b] = s
            halves.append(half)
        layer_input = np.concatenate(halves, axis=-1)
    return layer_input, finals


@SETTINGS
@given(configurations(("rnn_tanh", "rnn_relu", "gru", "lstm")))
def test_model_equals_its_cells_unrolled(config: dict[str, Any]) -> None:
    model = build(config)
    x, states = inputs(config)
    output, finals = run(model, x, states, config["lengths"])

    # Bring everything to (L, N, ...) with explicit states and lengths.
    if not config["batched"]:
        x, output = x[:, None], output[:, None]
        finals = tuple(f[:, None] for f in finals)
        states = None if states is None else tuple(s[:, None] for s in states)
    elif config["batch_first"]:
        x, output = x.swapaxes(0, 1), output.swapaxes(0, 1)
    steps, batch = x.shape[:2]
    if states is None:
        rows = model.num_layers * (2 if model.bidirectional else 1)
        count = 2 if config["kind"] == "lstm" else 1
        states = tuple(np.zeros((rows, batch, model.hidden_size)) for _ in range(count))
    lengths = config["lengths"] or [steps] * batch

    expected, expected_finals = unrolled(model, config["kind"], x, states, lengths)
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-12)
    for f, e in zip(finals, expected_finals):
        np.testing.assert_allclose(f, e, rtol=0, atol=1e-12)
