"""Converters between ``rnn`` models and ONNX graphs, written with the ``onnx`` package alone.

`to_onnx` writes one ONNX ``RNN``/``GRU``/``LSTM`` node per layer (an LSTM with
``proj_size`` becomes a ``Loop`` per direction whose body does one step with standard
operators), chained, with our interface around them: input ``input`` of shape
``(L, N, H_in)`` (``(N, L, H_in)`` with batch_first, through a ``Transpose``), optional
inputs ``lengths`` (ONNX's ``sequence_lens``), ``h0`` and ``c0``, and outputs ``output``,
``h_n`` and ``c_n`` shaped as the model returns them. `from_onnx` reads those graphs back
exactly, and any graph holding one recurrent node.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnn._module import Module
from rnn._optional import require
from rnn.interop import _gates, _models

OPSET = 17
METADATA_KEY = "rnn.model"  # the class and constructor arguments of the model written
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
# The attributes each operator has (opset 14 and later).
_COMMON = {"activation_alpha", "activation_beta", "activations", "clip", "direction"}
_COMMON |= {"hidden_size", "layout"}
_ATTRIBUTES = {"RNN": _COMMON, "GRU": _COMMON | {"linear_before_reset"}}
_ATTRIBUTES["LSTM"] = _COMMON | {"input_forget"}


def _onnx(function: str) -> Any:
    return require("onnx", function, "onnx")


class _Graph:
    """Nodes and initializers of one ONNX graph under construction, with fresh names."""

    def __init__(self, onnx: Any, dtype: np.dtype[Any], names: list[int]) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names = names  # one counter shared with subgraphs: names stay unique

    def fresh(self, stem: str) -> str:
        self._names[0] += 1
        return f"{stem}_{self._names[0]}"

    def constant(self, value: Any, name: str | None = None, dtype: Any = None) -> str:
        """An initializer holding `value` (of the model's dtype unless `dtype` is given)."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = name or self.fresh("const")
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def add(self, op: str, inputs: Sequence[str], outputs: int = 1, **attributes: Any) -> Any:
        """One node; returns its output name, or the list of them if `outputs` > 1."""
        names = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), names, **attributes))
        return names[0] if outputs == 1 else names

    def rename(self, value: str, name: str) -> None:
        """Make `value` available as `name` (a graph output)."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name]))


def to_onnx(
    model: Module,
    path: str | os.PathLike[str] | None,
    *,
    lengths: bool = False,
    initial_states: bool = False,
    loop: bool = False,
) -> Any:
    """Write a model as an ONNX graph that onnxruntime runs, with ``onnx`` alone (no torch).

    Parameters
    ----------
    model : rnn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        Any configuration, variants included. The graph computes the model in evaluation
        mode (dropout off); a cell's, one step.
    path : str, os.PathLike or None
        Where to write the ``.onnx`` file; None writes nothing. The file is written
        whole or not at all.
    lengths : bool, default False
        Add an int32 input ``lengths`` of shape ``(N,)``, the model's ``lengths=``
        (ONNX's ``sequence_lens``); padded output positions are 0. Not for a cell.
    initial_states : bool, default False
        Add inputs ``h0`` (and ``c0`` for an LSTM) shaped as the model takes them (a
        cell's ``(N, H)``); without them the states start at zero.
    loop : bool, default False
        Write every layer as ``Loop``s of standard operators instead of ONNX's
        ``RNN``/``GRU``/``LSTM`` nodes: onnxruntime runs those nodes in float32 only, the
        loops in float64 too. An LSTM with ``proj_size`` is always written this way (ONNX's
        LSTM has no projection).

    Returns
    -------
    onnx.ModelProto
        Input ``input`` of shape ``(L, N, H_in)`` (``(N, L, H_in)`` with batch_first);
        outputs ``output``, ``h_n`` (and ``c_n``) of the model's shapes; with
        ``merge_mode=None``, ``output_forward`` and ``output_reverse`` instead of
        ``output``. For a cell, input ``input`` of shape ``(N, H_in)`` and outputs
        ``h_n`` (and ``c_n``) of shape ``(N, H)``, the new states. Opset 17.

    Raises
    ------
    ImportError
        If onnx is not installed (the extra ``onnx``).
    TypeError
        If `model` is none of the above.
    ValueError
        For ``lengths=True`` with a cell.

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.GRU(3, 4, num_layers=2, batch_first=True, seed=0)
    >>> graph = rnn.to_onnx(model, None, lengths=True)
    >>> [node.op_type for node in graph.graph.node if node.op_type == "GRU"]
    ['GRU', 'GRU']
    >>> [i.name for i in graph.graph.input]
    ['input', 'lengths']
    """
    onnx = _onnx("to_onnx")
    name, is_cell = _models.kind(model, "to_onnx")
    if is_cell and lengths:
        raise ValueError(f"rnn.to_onnx: a {type(model).__name__} runs one step; it has no lengths")
    args = _models.arguments(model)
    dtype = np.dtype(model.dtype)
    g = _Graph(onnx, dtype, [0])
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    D = _models.directions(model)
    H = model.hidden_size
    P = args.get("proj_size", 0) or H
    num_layers = 1 if is_cell else model.num_layers
    rows = [] if is_cell else [D * num_layers]  # a cell's states have no layer axis
    first = g.constant([0], dtype=np.int64) if is_cell else ""  # the axis a cell adds
    if is_cell:  # one step: a sequence of length 1
        steps = ["N"]
        x = g.add("Unsqueeze", ["input", first])
    else:
        steps = ["N", "L"] if model.batch_first else ["L", "N"]
        x = g.add("Transpose", ["input"], perm=[1, 0, 2]) if model.batch_first else "input"
    inputs = [onnx.helper.make_tensor_value_info("input", elem, [*steps, model.input_size])]
    sequence_lens = ""
    if lengths:
        inputs.append(onnx.helper.make_tensor_value_info("lengths", onnx.TensorProto.INT32, ["N"]))
        sequence_lens = "lengths"
    states = ["h0", "c0"][: 2 if name == "LSTM" else 1]
    sizes = [P, H]
    if initial_states:
        for state_name, size in zip(states, sizes):
            inputs.append(onnx.helper.make_tensor_value_info(state_name, elem, [*rows, "N", size]))
    parameters = model.state_dict()
    if is_cell:  # named as layer 0's
        parameters = {f"{key}_l0": value for key, value in parameters.items()}
    finals: list[list[str]] = [[] for _ in states]
    for k in range(num_layers):
        weights = _layer_to_onnx(g, name, parameters, k, D, model.bias)
        initial = [""] * len(states)
        if initial_states and is_cell:
            initial = [g.add("Unsqueeze", [s, first]) for s in states]
        elif initial_states:
            bounds = [
                g.constant([k * D], dtype=np.int64),
                g.constant([(k + 1) * D], dtype=np.int64),
            ]
            initial = [g.add("Slice", [s, *bounds]) for s in states]
        if loop or P != H:
            ys, layer_finals = _loop_layer(g, name, x, weights, sequence_lens, initial, model, args)
        else:
            ys, layer_finals = _node_layer(g, name, x, weights, sequence_lens, initial, model, args)
        for collected, final in zip(finals, layer_finals):
            collected.append(final)
        x = _merge(g, ys, args.get("merge_mode", "concat"))
    value_infos = []
    if not is_cell:  # a cell's output is its new h
        outputs = _output_names(args.get("merge_mode", "concat"))
        for value, out in zip([x] if isinstance(x, str) else x, outputs):
            if model.batch_first:
                value = g.add("Transpose", [value], perm=[1, 0, 2])
            g.rename(value, out)
        out_width = P if args.get("merge_mode", "concat") != "concat" else D * P
        value_infos = [
            onnx.helper.make_tensor_value_info(o, elem, [*steps, out_width]) for o in outputs
        ]
    for state_name, collected, size in zip(("h_n", "c_n"), finals, sizes):
        final = g.add("Concat", collected, axis=0) if len(collected) > 1 else collected[0]
        g.rename(g.add("Squeeze", [final, first]) if is_cell else final, state_name)
        value_infos.append(onnx.helper.make_tensor_value_info(state_name, elem, [*rows, "N", size]))
    graph = onnx.helper.make_graph(g.nodes, name.lower(), inputs, value_infos, g.initializers)
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="rnn"
    )
    onnx.helper.set_model_props(
        proto,
        {METADATA_KEY: json.dumps({"class": name, "cell": is_cell, "arguments": args})},
    )
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        _write(onnx, proto, Path(path))
    return proto


def _write(onnx: Any, proto: Any, path: Path) -> None:
    """Write `proto` to `path` through a temporary file beside it: whole or not at all."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        onnx.save(proto, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _output_names(merge_mode: str | None) -> list[str]:
    return ["output_forward", "output_reverse"] if merge_mode is None else ["output"]


def _suffixes(k: int, D: int) -> list[str]:
    return [f"_l{k}", f"_l{k}_reverse"][:D]


def _layer_to_onnx(
    g: _Graph, name: str, state: Mapping[str, Any], k: int, D: int, bias: bool
) -> dict[str, str]:
    """Layer `k`'s parameters as initializers in ONNX's layout; names by role (W, R, B, ...)."""
    order = _gates.ONNX[name]
    stacked = {
        "W": [_gates.to_theirs(state[f"weight_ih{s}"], order) for s in _suffixes(k, D)],
        "R": [_gates.to_theirs(state[f"weight_hh{s}"], order) for s in _suffixes(k, D)],
    }
    if bias:
        stacked["B"] = [
            np.concatenate(
                [_gates.to_theirs(state[f"{b}{s}"], order) for b in ("bias_ih", "bias_hh")]
            )
            for s in _suffixes(k, D)
        ]
    if f"weight_ch_l{k}" in state:
        stacked["P"] = [
            _gates.to_theirs(state[f"weight_ch{s}"], _gates.ONNX["peephole"])
            for s in _suffixes(k, D)
        ]
    if f"weight_hr_l{k}" in state:
        stacked["weight_hr"] = [state[f"weight_hr{s}"] for s in _suffixes(k, D)]
    return {role: g.constant(np.stack(arrays), f"{role}_l{k}") for role, arrays in stacked.items()}


def _direction(args: Mapping[str, Any]) -> str:
    if args.get("bidirectional"):
        return "bidirectional"
    return "reverse" if args.get("go_backwards") else "forward"


def _node_attributes(name: str, model: Module, args: Mapping[str, Any]) -> dict[str, Any]:
    """The ONNX attributes of one layer's node (every layer has the same)."""
    attributes: dict[str, Any] = {"hidden_size": model.hidden_size, "direction": _direction(args)}
    activations = _models.activation_list(model, name)
    if activations != _models.DEFAULT_ACTIVATIONS[name] * _models.directions(model):
        attributes["activations"] = activations
    for key in ("activation_alpha", "activation_beta"):
        if args.get(key):
            attributes[key] = [float(v) for v in args[key]]
    if args.get("clip") is not None:
        attributes["clip"] = float(args["clip"])
    if name == "GRU":
        attributes["linear_before_reset"] = int(args.get("reset_after", True))
    if name == "LSTM" and args.get("input_forget"):
        attributes["input_forget"] = 1
    return attributes


def _node_layer(
    g: _Graph,
    name: str,
    x: str,
    weights: Mapping[str, str],
    sequence_lens: str,
    initial: list[str],
    model: Module,
    args: Mapping[str, Any],
) -> tuple[list[str], list[str]]:
    """One layer as one ONNX node: the per-direction outputs (L, N, H) and final states."""
    inputs = [x, weights["W"], weights["R"], weights.get("B", ""), sequence_lens, *initial]
    if name == "LSTM":
        inputs.append(weights.get("P", ""))
    while inputs[-1] == "":
        inputs.pop()
    outputs = g.add(name, inputs, 1 + len(initial), **_node_attributes(name, model, args))
    Y, finals = outputs[0], outputs[1:]
    D = _models.directions(model)
    ys = [g.add("Gather", [Y, g.constant(d, dtype=np.int64)], axis=1) for d in range(D)]
    return ys, finals


def _merge(g: _Graph, ys: list[str], merge_mode: str | None) -> Any:
    """The directions' outputs (each (L, N, H)) merged as the model merges them."""
    if len(ys) == 1:
        return ys[0]
    if merge_mode == "concat":
        return g.add("Concat", ys, axis=2)
    if merge_mode == "sum":
        return g.add("Add", ys)
    if merge_mode == "mul":
        return g.add("Mul", ys)
    if merge_mode == "ave":
        return g.add("Mul", [g.add("Add", ys), g.constant(0.5)])
    return ys  # None: both kept


def _activation(g: _Graph, x: str, activation: tuple[str, float, float]) -> str:
    """An ONNX activation of the recurrent operators, written with elementary operators."""
    name, alpha, beta = activation
    if name in ("Relu", "Tanh", "Sigmoid"):
        return str(g.add(name, [x]))
    a, b, zero, one = g.constant(alpha), g.constant(beta), g.constant(0.0), g.constant(1.0)
    scaled = g.add("Mul", [x, a])
    negative = g.add("Less", [x, zero])
    formulas = {
        "Affine": lambda: g.add("Add", [scaled, b]),
        "LeakyRelu": lambda: g.add("Where", [negative, scaled, x]),
        "ThresholdedRelu": lambda: g.add("Where", [g.add("Greater", [x, a]), x, zero]),
        "ScaledTanh": lambda: g.add("Mul", [g.add("Tanh", [g.add("Mul", [x, b])]), a]),
        "HardSigmoid": lambda: g.add("Clip", [g.add("Add", [scaled, b]), zero, one]),
        "Elu": lambda: g.add(
            "Where", [negative, g.add("Mul", [g.add("Sub", [g.add("Exp", [x]), one]), a]), x]
        ),
        "Softsign": lambda: g.add("Div", [x, g.add("Add", [g.add("Abs", [x]), one])]),
        "Softplus": lambda: g.add("Log", [g.add("Add", [g.add("Exp", [x]), one])]),
    }
    return str(formulas[name]())


def _loop_layer(
    g: _Graph,
    name: str,
    x: str,
    weights: Mapping[str, str],
    sequence_lens: str,
    initial: list[str],
    model: Module,
    args: Mapping[str, Any],
) -> tuple[list[str], list[str]]:
    """One layer as one ``Loop`` per direction, a step of standard operators per iteration.

    Used where the recurrent operators cannot serve: an LSTM with a projection (ONNX's
    LSTM has none), and ``loop=True`` (onnxruntime's RNN, GRU and LSTM kernels are float32
    only). The step follows the operators' equations in their gate orders, variants
    included.
    """
    onnx = g.onnx
    D = _models.directions(model)
    H = model.hidden_size
    G = _GATES[name]
    sizes = [getattr(model, "proj_size", 0) or H, H] if name == "LSTM" else [H]  # cells: none
    int64 = np.int64
    shape = g.add("Shape", [x])  # [L, N, H_in]
    L = g.add("Gather", [shape, g.constant(0, dtype=int64)])
    N = g.add("Slice", [shape, g.constant([1], dtype=int64), g.constant([2], dtype=int64)])
    zero_value = onnx.numpy_helper.from_array(np.zeros(1, g.dtype))
    starts = []  # per state, per direction: (N, size)
    for state, size in zip(initial, sizes):
        if state == "":
            dims = g.add("Concat", [N, g.constant([size], dtype=int64)], axis=0)
            starts.append([g.add("ConstantOfShape", [dims], value=zero_value)] * D)
        else:
            parts = [state] if D == 1 else g.add("Split", [state], D, axis=0)
            axis = g.constant([0], dtype=int64)
            starts.append([g.add("Squeeze", [part, axis]) for part in parts])
    lengths = g.add("Cast", [sequence_lens], to=onnx.TensorProto.INT64) if sequence_lens else ""
    activations = _models.resolved_activations(
        _models.activation_list(model, name),
        args.get("activation_alpha"),
        args.get("activation_beta"),
    )
    roles = len(_models.DEFAULT_ACTIVATIONS[name])
    ys: list[str] = []
    finals: list[list[str]] = [[] for _ in sizes]
    for d in range(D):

        def slice_of(role: str, d: int = d) -> str:
            return str(g.add("Gather", [weights[role], g.constant(d, dtype=int64)], axis=0))

        def transposed(role: str) -> str:
            return str(g.add("Transpose", [slice_of(role)], perm=[1, 0]))

        direction: dict[str, Any] = {"W": transposed("W"), "R": transposed("R")}  # (in, G*H)
        if "weight_hr" in weights:
            direction["weight_hr"] = transposed("weight_hr")  # (H, P)
        if "B" in weights:
            halves = g.add("Reshape", [slice_of("B"), g.constant([2, G * H], dtype=int64)])
            direction["Wb"], direction["Rb"] = (
                g.add("Gather", [halves, g.constant(k, dtype=int64)], axis=0) for k in (0, 1)
            )
        if name == "GRU":  # the reset-before candidate multiplies (r * h) by R_h alone
            direction["R_h"] = g.add("Split", [direction["R"]], 3, axis=1)[2]
            if "B" in weights:
                direction["Rb_h"] = g.add("Split", [direction["Rb"]], 3, axis=0)[2]
        if "P" in weights:
            direction["P"] = g.add("Split", [slice_of("P")], 3, axis=0)
        reverse = d == 1 or bool(args.get("go_backwards"))
        last = g.add("Sub", [L, g.constant(1, dtype=int64)]) if reverse else ""
        acts = activations[roles * d : roles * (d + 1)]
        body = _step_body(g, name, x, direction, lengths, last, acts, args, len(sizes))
        *final, y = g.add("Loop", [L, "", *(s[d] for s in starts)], len(sizes) + 1, body=body)
        if reverse:  # the scan output is in processing order: back to time order
            y = g.add(
                "Slice",
                [
                    y,
                    g.constant([-1], dtype=int64),
                    g.constant([np.iinfo(int64).min], dtype=int64),
                    g.constant([0], dtype=int64),
                    g.constant([-1], dtype=int64),
                ],
            )
        ys.append(y)
        for collected, value in zip(finals, final):
            collected.append(g.add("Unsqueeze", [value, g.constant([0], dtype=int64)]))
    return ys, [g.add("Concat", f, axis=0) if D > 1 else f[0] for f in finals]


def _step_body(
    outer: _Graph,
    name: str,
    x: str,
    weights: Mapping[str, Any],
    lengths: str,
    last: str,
    activations: Sequence[tuple[str, float, float]],
    args: Mapping[str, Any],
    states: int,
) -> Any:
    """The ``Loop`` body: one step of `name`, reading x and the weights from the outer graph."""
    onnx = outer.onnx
    g = _Graph(onnx, outer.dtype, outer._names)
    elem = onnx.helper.np_dtype_to_tensor_dtype(outer.dtype)
    step, cond = outer.fresh("step"), outer.fresh("cond")
    previous = [outer.fresh(n) for n in ("h", "c")[:states]]
    t = g.add("Sub", [last, step]) if last else step  # the time index read
    x_t = g.add("Gather", [x, t], axis=0)  # (N, H_in)
    clip = args.get("clip")

    def clipped(value: str) -> str:
        if clip is None:
            return value
        return str(g.add("Clip", [value, g.constant(-clip), g.constant(clip)]))

    def product(value: str, role: str, bias: str) -> str:
        out = g.add("MatMul", [value, weights[role]])
        return str(g.add("Add", [out, weights[bias]])) if bias in weights else str(out)

    h = previous[0]
    x_w, h_r = product(x_t, "W", "Wb"), product(h, "R", "Rb")
    if name == "RNN":
        new = [_activation(g, clipped(g.add("Add", [x_w, h_r])), activations[0])]
    elif name == "GRU":
        new = [_gru_step(g, x_w, h_r, h, weights, activations, clipped, args)]
    else:
        new = _lstm_step(g, x_w, h_r, previous[1], weights, activations, clipped, args)
    y = new[0]
    if lengths:
        valid = g.add("Unsqueeze", [g.add("Less", [t, lengths]), g.constant([1], dtype=np.int64)])
        new = [g.add("Where", [valid, n, p]) for n, p in zip(new, previous)]
        y = g.add("Where", [valid, y, g.constant(0.0)])
    outputs = [g.add("Identity", [cond]), *new, y]
    info = onnx.helper.make_tensor_value_info
    return onnx.helper.make_graph(
        g.nodes,
        outer.fresh("step"),
        [
            info(step, onnx.TensorProto.INT64, []),
            info(cond, onnx.TensorProto.BOOL, []),
            *(info(p, elem, None) for p in previous),
        ],
        [info(outputs[0], onnx.TensorProto.BOOL, []), *(info(o, elem, None) for o in outputs[1:])],
        g.initializers,
    )


def _gru_step(
    g: _Graph,
    x_w: str,
    h_r: str,
    h: str,
    weights: Mapping[str, Any],
    activations: Sequence[tuple[str, float, float]],
    clipped: Any,
    args: Mapping[str, Any],
) -> str:
    """ONNX's GRU step (gates z, r, h), with the reset gate after or before the product."""
    x_z, x_r, x_h = g.add("Split", [x_w], 3, axis=1)
    h_z, h_r_, h_h = g.add("Split", [h_r], 3, axis=1)
    f_act, g_act = activations
    z = _activation(g, clipped(g.add("Add", [x_z, h_z])), f_act)
    r = _activation(g, clipped(g.add("Add", [x_r, h_r_])), f_act)
    if args.get("reset_after", True):  # linear_before_reset=1
        recurrent = g.add("Mul", [r, h_h])
    else:
        recurrent = g.add("MatMul", [g.add("Mul", [r, h]), weights["R_h"]])
        if "Rb_h" in weights:
            recurrent = g.add("Add", [recurrent, weights["Rb_h"]])
    n = _activation(g, clipped(g.add("Add", [x_h, recurrent])), g_act)
    keep = g.add("Mul", [z, h])
    return str(g.add("Add", [g.add("Mul", [g.add("Sub", [g.constant(1.0), z]), n]), keep]))


def _lstm_step(
    g: _Graph,
    x_w: str,
    h_r: str,
    c: str,
    weights: Mapping[str, Any],
    activations: Sequence[tuple[str, float, float]],
    clipped: Any,
    args: Mapping[str, Any],
) -> list[str]:
    """ONNX's LSTM step (gates i, o, f, c), peepholes, coupled gates and projection included."""
    a_i, a_o, a_f, a_c = g.add("Split", [g.add("Add", [x_w, h_r])], 4, axis=1)

    def pre_activation(value: str, peephole: str | None, cell: str) -> str:
        if peephole is not None:
            value = g.add("Add", [value, g.add("Mul", [cell, peephole])])
        return str(clipped(value))

    p_i, p_o, p_f = weights.get("P", (None, None, None))
    f_act, g_act, h_act = activations
    i = _activation(g, pre_activation(a_i, p_i, c), f_act)
    if args.get("input_forget"):
        f = g.add("Sub", [g.constant(1.0), i])
    else:
        f = _activation(g, pre_activation(a_f, p_f, c), f_act)
    candidate = _activation(g, pre_activation(a_c, None, c), g_act)
    c_new = g.add("Add", [g.add("Mul", [f, c]), g.add("Mul", [i, candidate])])
    o = _activation(g, pre_activation(a_o, p_o, c_new), f_act)
    h_new = g.add("Mul", [o, _activation(g, c_new, h_act)])
    if "weight_hr" in weights:
        h_new = g.add("MatMul", [h_new, weights["weight_hr"]])
    return [h_new, c_new]


def from_onnx(model_or_path: Any, weights: Mapping[str, Any] | None = None) -> Module:
    """An ``rnn`` model computing what an ONNX recurrent graph computes.

    Parameters
    ----------
    model_or_path : onnx.ModelProto, str or os.PathLike
        Either a graph `to_onnx` wrote (read back exactly: class, configuration and
        parameters; a cell as a cell), or any graph holding one ``RNN``, ``GRU`` or
        ``LSTM`` node: the result computes that node, with every attribute honoured
        (``layout=1`` becomes ``batch_first=True``, ``direction="reverse"``
        ``go_backwards=True``, ``linear_before_reset=0`` ``reset_after=False``, ``P``
        peepholes, ``clip``, ``activations``, ``input_forget``). The node's ``Y``
        ``[L, D, N, H]`` is the result's output ``(L, N, D*H)`` with the direction axis
        moved next to the features;
        its ``sequence_lens``, ``initial_h`` and ``initial_c`` are the call's ``lengths=``
        and ``hx`` (with ``layout=1`` ONNX's ``[N, D, H]`` states are ours transposed,
        ``(D, N, H)``: ``batch_first`` never applies to them).
    weights : mapping of str to array_like, optional
        Values of the node's ``W``, ``R``, ``B`` and ``P`` inputs that the graph feeds
        as inputs; otherwise they are read from initializers or computed from the
        constant nodes that produce them.

    Returns
    -------
    rnn.RNN, GRU or LSTM
        Or the cell `to_onnx` wrote.

    Raises
    ------
    ImportError
        If onnx is not installed (the extra ``onnx``).
    ValueError
        If the graph holds no or several recurrent nodes (and was not written by
        `to_onnx`), an unknown attribute or activation, a weight that is neither
        constant nor in `weights`, a constant nonzero initial state, or a dtype other
        than float32/float64; the message names it.

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.LSTM(3, 5, proj_size=2, bidirectional=True, seed=0)
    >>> again = rnn.from_onnx(rnn.to_onnx(model, None))
    >>> again
    LSTM(3, 5, bidirectional=True, proj_size=2)
    >>> same = model.state_dict(), again.state_dict()
    >>> all(np.array_equal(v, same[1][k]) for k, v in same[0].items())
    True
    """
    onnx = _onnx("from_onnx")
    proto = model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        proto = onnx.load(os.fspath(model_or_path))
    if not isinstance(proto, onnx.ModelProto):
        raise TypeError(
            "rnn.from_onnx expects an onnx.ModelProto or a path; "
            f"got {type(model_or_path).__name__}"
        )
    written = {p.key: p.value for p in proto.metadata_props}.get(METADATA_KEY)
    if written is not None:
        return _from_written(onnx, proto.graph, json.loads(written))
    graph = proto.graph
    recurrent = [n for n in graph.node if n.op_type in _GATES and n.domain in ("", "ai.onnx")]
    if len(recurrent) != 1:
        found = ", ".join(f"{n.op_type} {n.name!r}" for n in recurrent) or "none"
        raise ValueError(
            f"rnn.from_onnx expects a graph with one RNN, GRU or LSTM node; found {found}"
        )
    return _from_node(onnx, graph, proto.opset_import, recurrent[0], dict(weights or {}))


def _from_written(onnx: Any, graph: Any, written: Mapping[str, Any]) -> Module:
    """A model `to_onnx` wrote: its arguments from the metadata, parameters from the graph."""
    name, args, is_cell = written["class"], written["arguments"], written.get("cell", False)
    initializers = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    D = 2 if args.get("bidirectional") else 1
    order = _gates.ONNX[name]
    state = {}
    for k in range(args.get("num_layers", 1)):
        for d, s in enumerate([""] if is_cell else _suffixes(k, D)):
            state[f"weight_ih{s}"] = _gates.to_ours(initializers[f"W_l{k}"][d], order)
            state[f"weight_hh{s}"] = _gates.to_ours(initializers[f"R_l{k}"][d], order)
            if f"B_l{k}" in initializers:
                w_b, r_b = np.split(initializers[f"B_l{k}"][d], 2)
                state[f"bias_ih{s}"] = _gates.to_ours(w_b, order)
                state[f"bias_hh{s}"] = _gates.to_ours(r_b, order)
            if f"P_l{k}" in initializers:
                state[f"weight_ch{s}"] = _gates.to_ours(
                    initializers[f"P_l{k}"][d], _gates.ONNX["peephole"]
                )
            if f"weight_hr_l{k}" in initializers:
                state[f"weight_hr{s}"] = initializers[f"weight_hr_l{k}"][d]
    return _models.build(name, is_cell, args, state, training=True)


def _constant(
    onnx: Any, graph: Any, opsets: Sequence[Any], value: str, weights: Mapping[str, Any]
) -> Any:
    """The value of tensor `value` if the graph fixes it, else None (a runtime input)."""
    if value in weights:
        return np.asarray(weights[value])
    for initializer in graph.initializer:
        if initializer.name == value:
            return onnx.numpy_helper.to_array(initializer)
    producers = [n for n in graph.node if value in n.output]
    if not producers:
        return None
    producer = producers[0]
    feeds: dict[str, Any] = {}
    for source in producer.input:
        if source:
            feeds[source] = _constant(onnx, graph, opsets, source, weights)
            if feeds[source] is None:
                return None
    evaluator_class = require("onnx.reference", "from_onnx", "onnx").ReferenceEvaluator
    sub = onnx.helper.make_graph(
        [producer],
        "constant",
        [
            onnx.helper.make_tensor_value_info(
                k, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape
            )
            for k, v in feeds.items()
        ],
        [onnx.helper.make_tensor_value_info(value, onnx.TensorProto.UNDEFINED, None)],
    )
    evaluator = evaluator_class(onnx.helper.make_model(sub, opset_imports=opsets))
    (result,) = evaluator.run([value], feeds)
    return np.asarray(result)


def _from_node(
    onnx: Any, graph: Any, opsets: Sequence[Any], node: Any, weights: Mapping[str, Any]
) -> Module:
    """The model computing one RNN/GRU/LSTM node."""
    name = node.op_type
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    unknown = sorted(set(attributes) - _ATTRIBUTES[name])
    if unknown:
        raise ValueError(f"rnn.from_onnx: unknown {name} attribute(s) {unknown}")
    roles = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    inputs = dict(zip(roles, list(node.input) + [""] * len(roles)))
    values = {}
    for role in ("W", "R", "B", "P", "initial_h", "initial_c"):
        if inputs[role]:
            values[role] = _constant(onnx, graph, opsets, inputs[role], weights)
    for role in ("W", "R"):
        if values[role] is None:
            raise ValueError(
                f"rnn.from_onnx: {role} ({inputs[role]!r}) is a graph input; pass its value "
                f"as weights={{{inputs[role]!r}: array}}"
            )
    for role in ("B", "P"):
        if role in values and values[role] is None:
            raise ValueError(
                f"rnn.from_onnx: {role} ({inputs[role]!r}) is a graph input; pass its value "
                f"as weights={{{inputs[role]!r}: array}}"
            )
    for role in ("initial_h", "initial_c"):
        if values.get(role) is not None and np.any(values[role]):
            raise ValueError(
                f"rnn.from_onnx: {role} ({inputs[role]!r}) is a nonzero constant; a model "
                "holds no initial state: make it a graph input and pass it as hx"
            )
    W, R = np.asarray(values["W"]), np.asarray(values["R"])
    if W.dtype.name not in ("float32", "float64"):
        raise ValueError(f"rnn.from_onnx converts float32 or float64 weights; got {W.dtype}")
    D, H = R.shape[0], R.shape[-1]
    hidden_size = attributes.get("hidden_size", H)
    if hidden_size != H or W.shape[1] != _GATES[name] * H:
        raise ValueError(
            f"rnn.from_onnx: hidden_size={hidden_size} does not match W {W.shape} and R {R.shape}"
        )
    direction = attributes.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    expected_d = {"forward": 1, "reverse": 1, "bidirectional": 2}
    if direction not in expected_d or expected_d[direction] != D:
        raise ValueError(f"rnn.from_onnx: direction={direction!r} with W for {D} direction(s)")
    args: dict[str, Any] = {
        "input_size": W.shape[2],
        "hidden_size": H,
        "bias": values.get("B") is not None,
        "batch_first": attributes.get("layout", 0) == 1,
        "bidirectional": D == 2,
        "dtype": W.dtype.name,
    }
    if direction == "reverse":
        args["go_backwards"] = True
    args |= _activation_arguments(name, attributes, D)
    if "clip" in attributes:
        args["clip"] = float(attributes["clip"])
    if name == "GRU" and attributes.get("linear_before_reset", 0) == 0:
        args["reset_after"] = False
    if name == "LSTM" and attributes.get("input_forget", 0):
        args["input_forget"] = True
    order = _gates.ONNX[name]
    state = {}
    for d, s in enumerate(_suffixes(0, D)):
        state[f"weight_ih{s}"] = _gates.to_ours(W[d], order)
        state[f"weight_hh{s}"] = _gates.to_ours(R[d], order)
        if args["bias"]:
            w_b, r_b = np.split(np.asarray(values["B"])[d], 2)
            state[f"bias_ih{s}"] = _gates.to_ours(w_b, order)
            state[f"bias_hh{s}"] = _gates.to_ours(r_b, order)
    peepholes = values.get("P")
    if peepholes is not None and np.any(peepholes):  # a P of zeros is no peephole
        args["peephole"] = True
        for d, s in enumerate(_suffixes(0, D)):
            state[f"weight_ch{s}"] = _gates.to_ours(
                np.asarray(peepholes)[d], _gates.ONNX["peephole"]
            )
    return _models.build(name, False, args, state, training=True)


def _activation_arguments(name: str, attributes: Mapping[str, Any], D: int) -> dict[str, Any]:
    """``activations=`` and friends, or ``nonlinearity=`` when PyTorch's choice says the same."""
    given = attributes.get("activations")
    alphas = [float(v) for v in attributes.get("activation_alpha", [])]
    betas = [float(v) for v in attributes.get("activation_beta", [])]
    if given is None:
        activations = _models.DEFAULT_ACTIVATIONS[name] * D
    else:
        activations = [
            _models.canonical_activation(a.decode() if isinstance(a, bytes) else a) for a in given
        ]
    expected = len(_models.DEFAULT_ACTIVATIONS[name]) * D
    if len(activations) != expected:
        raise ValueError(
            f"rnn.from_onnx: {name} with {D} direction(s) takes {expected} activations; "
            f"got {activations}"
        )
    if not alphas and not betas:  # PyTorch's activations take no alpha or beta
        if activations == _models.DEFAULT_ACTIVATIONS[name] * D:
            return {}
        if name == "RNN" and activations == ["Relu"] * D:
            return {"nonlinearity": "relu"}
    found: dict[str, Any] = {"activations": activations}
    if alphas:
        found["activation_alpha"] = alphas
    if betas:
        found["activation_beta"] = betas
    return found
