"""rnn.to_onnx / rnn.from_onnx against onnxruntime, on every configuration.

onnxruntime's RNN, GRU and LSTM kernels run float32 only (and refuse ``layout=1``), so
graphs made of those nodes are checked in float32 (to ~1e-5); an LSTM with ``proj_size``
is exported as ``Loop``s of standard operators, which run in float64 (to ~1e-12).
Skipped without onnx and onnxruntime.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from interop_support import (
    as_hx,
    flat_finals,
    run_onnxruntime,
    sequence,
    states,
    tolerance,
)
from layer_kinds import KINDS, make

import rnn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
helper = onnx.helper

CONFIGS = [
    dict(num_layers=k, bidirectional=b, batch_first=f, bias=bias)
    for k, b, f, bias in itertools.product([1, 2], [False, True], [False, True], [True, False])
]
LENGTHS = np.array([5, 2, 4], dtype=np.int32)  # batch of 3, longest first is not required


def feeds_for(model: Any, x: np.ndarray, initial: tuple[np.ndarray, ...] | None, lengths: Any):
    feeds = {"input": x}
    if lengths is not None:
        feeds["lengths"] = lengths
    if initial is not None:
        feeds |= dict(zip(("h0", "c0"), initial))
    return feeds


def check_against_onnxruntime(
    model: Any, *, lengths: bool, initial_states: bool, loop: bool = False
) -> None:
    """The exported graph, run by onnxruntime, gives the model's output and final states."""
    rng = np.random.default_rng(0)
    proto = rnn.to_onnx(model, None, lengths=lengths, initial_states=initial_states, loop=loop)
    x = sequence(model, 5, 3, rng)
    initial = states(model, 3, rng) if initial_states else None
    lens = LENGTHS if lengths else None
    output, finals = model(x, None if initial is None else as_hx(model, initial), lengths=lens)
    got = run_onnxruntime(proto, feeds_for(model, x, initial, lens))
    mine = [*(output if isinstance(output, tuple) else (output,)), *flat_finals(finals)]
    assert len(got) == len(mine)
    for a, b in zip(mine, got):
        assert a.shape == b.shape and b.dtype == model.dtype
        np.testing.assert_allclose(a, b, **tolerance(model.dtype))


@pytest.mark.parametrize("options", [(False, False), (True, True), (True, False)], ids=str)
@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("kind", KINDS)
def test_to_onnx_runs_in_onnxruntime_as_the_model(kind: str, config: dict, options: tuple) -> None:
    dtype = np.float64 if kind == "lstm_proj" else np.float32  # see the module docstring
    model = make(kind, 3, 4, dtype=dtype, seed=1, **config)
    check_against_onnxruntime(model, lengths=options[0], initial_states=options[1])


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("kind", KINDS)
def test_to_onnx_loops_run_in_float64(kind: str, config: dict) -> None:
    model = make(kind, 3, 4, dtype=np.float64, seed=1, **config)
    check_against_onnxruntime(model, lengths=True, initial_states=True, loop=True)
    ops = {n.op_type for n in rnn.to_onnx(model, None, loop=True).graph.node}
    assert "Loop" in ops and not ops & {"RNN", "GRU", "LSTM"}


@pytest.mark.parametrize(
    ("cls", "variant"),
    [
        (rnn.GRU, {"reset_after": False}),
        (rnn.GRU, {"reset_after": False, "bias": False, "clip": 0.4}),
        (rnn.GRU, {"activations": ["HardSigmoid", "Softsign"] * 2, "activation_beta": [0.4]}),
        (rnn.RNN, {"activations": ["Elu", "ScaledTanh"], "activation_alpha": [0.5, 1.5]}),
        (rnn.RNN, {"go_backwards": True, "bidirectional": False, "clip": 0.5}),
        (rnn.LSTM, {"peephole": True, "input_forget": True}),
        (rnn.LSTM, {"merge_mode": "ave", "activations": ["Sigmoid", "Affine", "Softplus"] * 2}),
        (rnn.GRU, {"merge_mode": "mul", "reset_after": False}),
    ],
    ids=str,
)
def test_to_onnx_loops_run_variants_in_float64(cls: type, variant: dict) -> None:
    kwargs = {"num_layers": 2, "bidirectional": True, **variant}
    model = cls(3, 4, dtype=np.float64, seed=0, **kwargs)
    check_against_onnxruntime(model, lengths=True, initial_states=True, loop=True)


def test_to_onnx_projection_in_float32_too() -> None:
    model = rnn.LSTM(3, 6, num_layers=2, proj_size=2, bidirectional=True, seed=0)
    check_against_onnxruntime(model, lengths=True, initial_states=True)


def test_to_onnx_uses_one_node_per_layer_and_transposes_batch_first() -> None:
    model = rnn.GRU(3, 4, num_layers=3, batch_first=True, bidirectional=True, seed=0)
    graph = rnn.to_onnx(model, None).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("GRU") == 3 and ops[0] == "Transpose"
    for node in graph.node:
        if node.op_type == "GRU":
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            assert attributes["linear_before_reset"] == 1  # PyTorch's GRU
            assert attributes["direction"] == b"bidirectional"
            assert "layout" not in attributes  # 0: onnxruntime refuses 1
    projected = rnn.to_onnx(rnn.LSTM(3, 4, proj_size=2, bidirectional=True), None).graph
    assert [n.op_type for n in projected.node].count("Loop") == 2
    assert "LSTM" not in [n.op_type for n in projected.node]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("kind", KINDS)
def test_from_onnx_reads_back_what_to_onnx_wrote(kind: str, config: dict) -> None:
    model = make(
        kind, 3, 4, dtype=np.float64, seed=2, dropout=0.5 * (config["num_layers"] > 1), **config
    )
    again = rnn.from_onnx(rnn.to_onnx(model, None))
    assert type(again) is type(model) and repr(again) == repr(model)
    assert again.dtype == model.dtype
    mine, theirs = model.state_dict(), again.state_dict()
    assert list(mine) == list(theirs)
    for name in mine:
        np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)


def test_to_onnx_writes_the_file_whole_and_from_onnx_reads_a_path(tmp_path: Path) -> None:
    model = rnn.LSTM(2, 3, dtype=np.float64, seed=0)
    path = tmp_path / "lstm.onnx"
    proto = rnn.to_onnx(model, path)
    assert path.read_bytes() == proto.SerializeToString()
    assert [p.name for p in tmp_path.iterdir()] == ["lstm.onnx"]  # no temporary left
    assert repr(rnn.from_onnx(path)) == repr(model)
    assert repr(rnn.from_onnx(str(path))) == repr(model)
    with pytest.raises(FileNotFoundError):
        rnn.to_onnx(model, tmp_path / "missing" / "lstm.onnx")
    assert not (tmp_path / "missing").exists()


CELLS = {
    "rnn": lambda **o: rnn.RNNCell(3, 4, **o),
    "rnn_relu": lambda **o: rnn.RNNCell(3, 4, nonlinearity="relu", **o),
    "gru": lambda **o: rnn.GRUCell(3, 4, **o),
    "gru_reset_before": lambda **o: rnn.GRUCell(3, 4, reset_after=False, clip=0.5, **o),
    "lstm": lambda **o: rnn.LSTMCell(3, 4, **o),
    "lstm_peephole": lambda **o: rnn.LSTMCell(3, 4, peephole=True, input_forget=True, **o),
    "lstm_softsign": lambda **o: rnn.LSTMCell(
        3, 4, activations=["HardSigmoid", "Softsign", "Softsign"], activation_alpha=[0.3], **o
    ),
}


@pytest.mark.parametrize("loop", [False, True], ids=["nodes", "loops"])
@pytest.mark.parametrize("initial_states", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", CELLS)
def test_a_cell_in_onnx_is_one_step(kind: str, bias: bool, initial_states: bool, loop: bool):
    dtype = np.float64 if loop else np.float32  # onnxruntime's nodes: float32 only
    cell = CELLS[kind](bias=bias, dtype=dtype, seed=2)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3)).astype(dtype)
    widths = [4, 4] if isinstance(cell, rnn.LSTMCell) else [4]
    initial = [rng.standard_normal((5, w)).astype(dtype) for w in widths]
    proto = rnn.to_onnx(cell, None, initial_states=initial_states, loop=loop)
    assert [i.name for i in proto.graph.input] == ["input", "h0", "c0"][
        : 1 + initial_states * len(widths)
    ]
    feeds = {"input": x} | (dict(zip(("h0", "c0"), initial)) if initial_states else {})
    got = run_onnxruntime(proto, feeds)
    hx = (tuple(initial) if len(initial) == 2 else initial[0]) if initial_states else None
    mine = cell(x, hx)
    mine = list(mine) if isinstance(mine, tuple) else [mine]
    assert [o.name for o in proto.graph.output] == ["h_n", "c_n"][: len(widths)]
    for a, b in zip(mine, got, strict=True):
        assert a.shape == b.shape == (5, 4) and b.dtype == dtype
        np.testing.assert_allclose(a, b, **tolerance(dtype))
    again = rnn.from_onnx(proto)
    assert type(again) is type(cell) and repr(again) == repr(cell)
    theirs = again.state_dict()
    assert all(np.array_equal(v, theirs[k]) for k, v in cell.state_dict().items())


def test_to_onnx_refuses_lengths_for_a_cell_and_other_objects() -> None:
    with pytest.raises(ValueError, match=r"to_onnx: a GRUCell runs one step; it has no lengths"):
        rnn.to_onnx(rnn.GRUCell(2, 3), None, lengths=True)
    with pytest.raises(TypeError, match=r"rnn.to_onnx expects an rnn.RNN.*got list"):
        rnn.to_onnx([], None)


# -- graphs with one node, as other tools write them ------------------------------------


GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def node_graph(
    op: str,
    arrays: dict[str, np.ndarray],
    *,
    feed: tuple[str, ...] = (),
    layout: int = 0,
    **attributes: Any,
) -> Any:
    """One `op` node reading X, W, R, [B], sequence_lens, initial_h, [initial_c], [P].

    Weights go in as initializers, except those named in `feed` (graph inputs).
    """
    roles = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    if op != "LSTM":
        roles = roles[:6]
    inputs = [
        r if r in arrays or r in ("X", "sequence_lens", "initial_h", "initial_c") else ""
        for r in roles
    ]
    runtime = ["X", "sequence_lens", "initial_h", "initial_c", *feed]
    present = [r for r in inputs if r]
    if op != "LSTM" and "initial_c" in present:
        present.remove("initial_c")
    outputs = ["Y", "Y_h", "Y_c"][: 3 if op == "LSTM" else 2]
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(np.float32))
    graph_inputs = []
    for r in present:
        if r in runtime:
            kind = onnx.TensorProto.INT32 if r == "sequence_lens" else elem
            graph_inputs.append(helper.make_tensor_value_info(r, kind, None))
    initializers = [
        onnx.numpy_helper.from_array(v.astype(np.float32), k)
        for k, v in arrays.items()
        if k not in runtime
    ]
    node = helper.make_node(op, inputs, outputs, layout=layout, **attributes)
    graph = helper.make_graph(
        [node],
        "one_node",
        graph_inputs,
        [helper.make_tensor_value_info(o, elem, None) for o in outputs],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def random_node(
    op: str, D: int, H: int = 4, H_in: int = 3, *, peephole: bool = False, seed: int = 0
):
    rng = np.random.default_rng(seed)
    G = GATES[op]
    arrays = {
        "W": rng.uniform(-0.6, 0.6, (D, G * H, H_in)),
        "R": rng.uniform(-0.6, 0.6, (D, G * H, H)),
        "B": rng.uniform(-0.6, 0.6, (D, 2 * G * H)),
    }
    if peephole:
        arrays["P"] = rng.uniform(-0.6, 0.6, (D, 3 * H))
    return {k: v.astype(np.float32) for k, v in arrays.items()}


def onnx_as_output(Y: np.ndarray) -> np.ndarray:
    """ONNX's Y [L, D, N, H] (layout 0) as our output (L, N, D*H)."""
    L, D, N, H = Y.shape
    return Y.transpose(0, 2, 1, 3).reshape(L, N, D * H)


def check_node(
    op: str, D: int, attributes: dict, *, peephole: bool = False, layout: int = 0
) -> None:
    """from_onnx of a one-node graph against onnxruntime on that graph (real lengths, states).

    For layout=1, which onnxruntime refuses, the reference is the layout-0 graph run on the
    transposed input.
    """
    rng = np.random.default_rng(1)
    arrays = random_node(op, D, peephole=peephole)
    L, N, H = 6, 3, 4
    x = rng.standard_normal((L, N, 3)).astype(np.float32)
    lengths = np.array([6, 3, 5], dtype=np.int32)
    initial = [
        rng.standard_normal((D, N, H)).astype(np.float32) for _ in range(2 if op == "LSTM" else 1)
    ]
    reference = node_graph(op, {**arrays, "X": x}, **attributes)
    feeds = {"X": x, "sequence_lens": lengths, "initial_h": initial[0]}
    if op == "LSTM":
        feeds["initial_c"] = initial[1]
    got = run_onnxruntime(reference, feeds)
    model = rnn.from_onnx(node_graph(op, arrays, layout=layout, **attributes))
    assert model.batch_first == (layout == 1) and model.dtype == np.float32
    model_x = x.swapaxes(0, 1) if layout else x
    output, finals = model(model_x, as_hx(model, tuple(initial)), lengths=lengths)
    expected = onnx_as_output(got[0])
    np.testing.assert_allclose(
        output.swapaxes(0, 1) if layout else output, expected, **tolerance(np.float32)
    )
    for mine, theirs in zip(flat_finals(finals), got[1:]):
        np.testing.assert_allclose(mine, theirs, **tolerance(np.float32))


DEFAULTS = {"RNN": {}, "GRU": {"linear_before_reset": 1}, "LSTM": {}}


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_from_onnx_one_node_matches_onnxruntime(op: str, direction: str, layout: int) -> None:
    D = 2 if direction == "bidirectional" else 1
    check_node(op, D, {**DEFAULTS[op], "direction": direction, "hidden_size": 4}, layout=layout)


def test_from_onnx_rnn_relu_is_nonlinearity_relu() -> None:
    check_node(
        "RNN", 2, {"direction": "bidirectional", "activations": ["Relu", "Relu"], "hidden_size": 4}
    )
    arrays = random_node("RNN", 1)
    assert rnn.from_onnx(node_graph("RNN", arrays, activations=["relu"])).nonlinearity == "relu"


def test_from_onnx_reads_constant_nodes_and_constant_subgraphs() -> None:
    arrays = random_node("GRU", 1)
    # W from a Constant node; R from Constant -> Identity -> Mul by one; B an initializer.
    nodes = [
        helper.make_node("Constant", [], ["W"], value=onnx.numpy_helper.from_array(arrays["W"])),
        helper.make_node(
            "Constant", [], ["R0"], value=onnx.numpy_helper.from_array(arrays["R"] / 2)
        ),
        helper.make_node("Identity", ["R0"], ["R1"]),
        helper.make_node("Mul", ["R1", "two"], ["R"]),
        helper.make_node(
            "GRU", ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=4, linear_before_reset=1
        ),
    ]
    elem = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "constants",
        [helper.make_tensor_value_info("X", elem, None)],
        [helper.make_tensor_value_info("Y", elem, None)],
        [
            onnx.numpy_helper.from_array(np.float32(2.0), "two"),
            onnx.numpy_helper.from_array(arrays["B"], "B"),
        ],
    )
    model = rnn.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    direct = rnn.from_onnx(node_graph("GRU", arrays, linear_before_reset=1))
    for name, value in direct.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


def test_from_onnx_takes_weights_fed_as_inputs_from_a_mapping() -> None:
    arrays = random_node("LSTM", 2)
    proto = node_graph("LSTM", arrays, feed=("W", "R", "B"), direction="bidirectional")
    with pytest.raises(ValueError, match=r"W \('W'\) is a graph input; pass its value as weights="):
        rnn.from_onnx(proto)
    model = rnn.from_onnx(proto, weights={k: arrays[k] for k in ("W", "R", "B")})
    direct = rnn.from_onnx(node_graph("LSTM", arrays, direction="bidirectional"))
    for name, value in direct.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


def test_from_onnx_without_b_has_no_bias_and_zero_peepholes_are_none() -> None:
    arrays = random_node("LSTM", 1)
    del arrays["B"]
    arrays["P"] = np.zeros((1, 12), np.float32)
    model = rnn.from_onnx(node_graph("LSTM", arrays))
    assert model.bias is False and "weight_ch_l0" not in model.state_dict()


def test_from_onnx_gate_order_is_not_the_identity() -> None:
    # Distinct values per gate block: block k of ONNX's W lands where the table says.
    W = np.repeat(np.arange(4.0, dtype=np.float32), 2)[None, :, None] * np.ones(
        (1, 8, 1), np.float32
    )
    R = np.zeros((1, 8, 2), np.float32)
    model = rnn.from_onnx(node_graph("LSTM", {"W": W, "R": R}))
    ours = model.state_dict()["weight_ih_l0"][:, 0]
    np.testing.assert_array_equal(ours, [0, 0, 2, 2, 3, 3, 1, 1])  # i, f, g, o <- i, o, f, c


def test_from_onnx_refusals() -> None:
    arrays = random_node("GRU", 1)
    two = node_graph("GRU", arrays, linear_before_reset=1)
    two.graph.node.append(helper.make_node("GRU", ["Y_h", "W", "R"], ["Z"], name="second"))
    with pytest.raises(ValueError, match=r"one RNN, GRU or LSTM node; found GRU '', GRU 'second'"):
        rnn.from_onnx(two)
    empty = helper.make_model(helper.make_graph([], "empty", [], []))
    with pytest.raises(ValueError, match="found none"):
        rnn.from_onnx(empty)
    odd = node_graph("GRU", arrays, linear_before_reset=1)
    odd.graph.node[0].attribute.append(helper.make_attribute("shape_of_things", 1))
    with pytest.raises(ValueError, match=r"unknown GRU attribute\(s\) \['shape_of_things'\]"):
        rnn.from_onnx(odd)
    with pytest.raises(ValueError, match="unknown activation 'Swish'"):
        rnn.from_onnx(node_graph("RNN", random_node("RNN", 1), activations=["Swish"]))
    with pytest.raises(ValueError, match="takes 2 activations; got"):
        rnn.from_onnx(node_graph("GRU", arrays, linear_before_reset=1, activations=["Tanh"]))
    fixed_state = node_graph(
        "GRU", {**arrays, "initial_h": np.ones((1, 1, 4))}, linear_before_reset=1
    )
    fixed_state.graph.input.pop()  # initial_h becomes an initializer
    fixed_state.graph.initializer.append(
        onnx.numpy_helper.from_array(np.ones((1, 1, 4), np.float32), "initial_h")
    )
    with pytest.raises(ValueError, match=r"initial_h .* is a nonzero constant"):
        rnn.from_onnx(fixed_state)
    with pytest.raises(ValueError, match="direction='reverse' with W for 2 direction"):
        rnn.from_onnx(node_graph("GRU", random_node("GRU", 2), direction="reverse"))
    with pytest.raises(TypeError, match=r"expects an onnx\.ModelProto or a path; got int"):
        rnn.from_onnx(3)


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(
        ImportError,
        match=r"rnn.to_onnx needs onnx: pip install onnx onnxruntime",
    ):
        rnn.to_onnx(rnn.GRU(2, 3), None)
    with pytest.raises(ImportError, match=r"rnn.from_onnx needs onnx"):
        rnn.from_onnx("model.onnx")


# -- the variants ONNX has and PyTorch has not ------------------------------------------


VARIANT_NODES = [
    ("GRU", 1, {"linear_before_reset": 0}, False),
    ("GRU", 2, {"direction": "bidirectional"}, False),  # linear_before_reset=0, the default
    ("LSTM", 2, {"direction": "bidirectional"}, True),  # peepholes
    ("LSTM", 1, {"input_forget": 1}, True),
    ("LSTM", 1, {"clip": 0.7}, True),
    ("GRU", 1, {"clip": 0.5, "linear_before_reset": 1}, False),
    ("RNN", 1, {"direction": "reverse"}, False),
    ("GRU", 1, {"direction": "reverse", "linear_before_reset": 1}, False),
    ("LSTM", 1, {"direction": "reverse"}, True),
    (
        "RNN",
        2,
        {
            "direction": "bidirectional",
            "activations": ["LeakyRelu", "Affine"],
            "activation_alpha": [0.3, 0.5],
            "activation_beta": [0.1],
        },
        False,
    ),
    ("GRU", 1, {"activations": ["HardSigmoid", "Softsign"], "linear_before_reset": 1}, False),
    (
        "GRU",
        1,
        {
            "activations": ["HardSigmoid", "ScaledTanh"],
            "activation_alpha": [0.3, 1.5],
            "activation_beta": [0.4, 0.8],
        },
        False,
    ),
    ("LSTM", 1, {"activations": ["Sigmoid", "Elu", "Softplus"]}, False),
    (
        "LSTM",
        1,
        {
            "activations": ["HardSigmoid", "ThresholdedRelu", "Tanh"],
            "activation_alpha": [0.25, 0.1],
        },
        True,
    ),
]


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize(("op", "D", "attributes", "peephole"), VARIANT_NODES, ids=str)
def test_from_onnx_variant_nodes_match_onnxruntime(op, D, attributes, peephole, layout) -> None:
    check_node(op, D, {"hidden_size": 4, **attributes}, peephole=peephole, layout=layout)


@pytest.mark.parametrize(("op", "D", "attributes", "peephole"), VARIANT_NODES, ids=str)
def test_variant_models_round_trip_through_onnx(op, D, attributes, peephole) -> None:
    model = rnn.from_onnx(node_graph(op, random_node(op, D, peephole=peephole), **attributes))
    check_against_onnxruntime(model, lengths=True, initial_states=True)
    again = rnn.from_onnx(rnn.to_onnx(model, None))
    assert repr(again) == repr(model)


@pytest.mark.parametrize(
    "variant",
    [
        {"peephole": True},
        {"input_forget": True, "peephole": True},
        {"clip": 0.6},
        {"activations": ["HardSigmoid", "Softsign", "Elu"] * 2, "activation_alpha": [0.3]},
        {"go_backwards": True, "bidirectional": False},
    ],
    ids=str,
)
def test_projected_lstm_variants_run_in_onnxruntime(variant: dict) -> None:
    kwargs = {"bidirectional": True, **variant}
    model = rnn.LSTM(3, 5, num_layers=2, proj_size=2, dtype=np.float64, seed=0, **kwargs)
    check_against_onnxruntime(model, lengths=True, initial_states=True)


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave", None])
@pytest.mark.parametrize("kind", ["gru", "lstm", "lstm_proj"])
def test_merge_modes_run_in_onnxruntime(kind: str, merge_mode: str | None) -> None:
    layers = 1 if merge_mode is None else 2
    dtype = np.float64 if kind == "lstm_proj" else np.float32
    model = make(
        kind,
        3,
        4,
        num_layers=layers,
        bidirectional=True,
        merge_mode=merge_mode,
        dtype=dtype,
        seed=0,
    )
    check_against_onnxruntime(model, lengths=True, initial_states=False)
    assert repr(rnn.from_onnx(rnn.to_onnx(model, None))) == repr(model)


@pytest.mark.parametrize("kind", ["rnn_relu", "gru", "lstm"])
def test_an_export_without_its_metadata_reads_as_its_node(kind: str) -> None:
    # Tools that drop metadata_props leave a graph with one node: it reads as that node.
    model = make(kind, 3, 4, bidirectional=True, dtype=np.float32, seed=0)
    proto = rnn.to_onnx(model, None)
    del proto.metadata_props[:]
    again = rnn.from_onnx(proto)
    assert repr(again) == repr(model)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value)
