"""Converters between ``rnn`` models and Keras 3 recurrent layers (any Keras backend).

Keras keeps ``kernel`` ``(H_in, G*units)`` and ``recurrent_kernel`` ``(units, G*units)``
transposed with respect to us, in gate orders z, r, h (GRU) and i, f, c, o (LSTM); a GRU
with ``reset_after=True`` has biases ``(2, 3*units)`` (input row, recurrent row), every
other layer one bias, which is our ``bias_ih + bias_hh``. Keras runs batch-major input.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from rnn._module import Module
from rnn._optional import require
from rnn.interop import _gates, _models

_KERAS_NAMES = {"RNN": "SimpleRNN", "GRU": "GRU", "LSTM": "LSTM"}
_KERAS_CELLS = {"RNN": "SimpleRNNCell", "GRU": "GRUCell", "LSTM": "LSTMCell"}
# Keras activation name -> (ONNX name, alpha, beta), the same function (Keras 3's source).
_ACTIVATIONS = {
    "tanh": ("Tanh", 0.0, 0.0),
    "sigmoid": ("Sigmoid", 0.0, 0.0),
    "relu": ("Relu", 0.0, 0.0),
    "hard_sigmoid": ("HardSigmoid", 1 / 6, 0.5),  # relu6(x + 3) / 6 in Keras 3
    "linear": ("Affine", 1.0, 0.0),
    "elu": ("Elu", 1.0, 0.0),
    "leaky_relu": ("LeakyRelu", 0.2, 0.0),  # Keras' default negative_slope
    "softsign": ("Softsign", 0.0, 0.0),
    "softplus": ("Softplus", 0.0, 0.0),
}
_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _keras(function: str) -> Any:
    return require("keras", function, "keras")


def _weights(keras: Any, layer: Any) -> list[Any]:
    """A layer's weights as arrays, in Keras' order (kernel, recurrent_kernel, bias)."""
    with warnings.catch_warnings():
        # Keras 3's Variable.__array__ predates numpy 2's `copy` keyword; numpy warns.
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        return [np.array(keras.ops.convert_to_numpy(v)) for v in layer.weights]


def _roles(name: str) -> int:
    return len(_models.DEFAULT_ACTIVATIONS[name])


def from_keras(layer: Any) -> Module:
    """An ``rnn`` model computing what a Keras recurrent layer (or a stack of them) computes.

    Parameters
    ----------
    layer : a Keras recurrent layer, cell, Bidirectional or keras.Sequential
        A recurrent layer: ``SimpleRNN``, ``GRU``, ``LSTM``, or the generic
        ``keras.layers.RNN`` around one ``SimpleRNNCell``, ``GRUCell`` or ``LSTMCell``
        (``reset_after`` either way, ``go_backwards``, activations among tanh, sigmoid,
        relu, hard_sigmoid, linear, elu, leaky_relu, softsign, softplus); one wrapped in
        ``Bidirectional`` (any merge mode); a ``Sequential`` of such layers of one kind
        and configuration, optionally with equal ``Dropout`` layers between them (which
        become ``dropout=``); or one of those cells on its own.

    Returns
    -------
    rnn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        For a layer or a stack, a model with ``batch_first=True`` (Keras' layout). Its
        ``output`` is the layer's output with ``return_sequences=True``: for
        ``go_backwards=True`` in time order, where Keras gives it in processing order
        (``keras_output[:, ::-1]``). For a cell, the cell of the same kind.

    Raises
    ------
    ImportError
        If keras is not installed (the extra ``keras``).
    TypeError
        If `layer` is none of the above.
    ValueError
        For what the model cannot express, naming it: input ``dropout`` or
        ``recurrent_dropout`` of a recurrent layer, ``stateful``, another activation, a
        stack whose layers differ, a dtype other than float32/float64.

    Examples
    --------
    >>> import os
    >>> os.environ.setdefault("KERAS_BACKEND", "torch")
    'torch'
    >>> import keras
    >>> import rnn
    >>> layer = keras.layers.Bidirectional(keras.layers.GRU(4))
    >>> layer.build((None, None, 3))
    >>> rnn.from_keras(layer)
    GRU(3, 4, batch_first=True, bidirectional=True)
    """
    keras = _keras("from_keras")
    if type(layer).__name__ in _KERAS_CELLS.values():
        return _from_cell(keras, layer)
    descriptions, holders, dropout, container = _layers(keras, layer)
    first = descriptions[0]
    for k, d in enumerate(descriptions[1:], start=1):
        expected_input = first["width"]
        if {**d, "input_size": 0} != {**first, "input_size": 0} or d[
            "input_size"
        ] != expected_input:
            raise ValueError(
                f"rnn.from_keras: layer {k} of the {container} differs from layer 0 "
                f"({d['config']} reading {d['input_size']} features, expected "
                f"{first['config']} reading {expected_input})"
            )
    name = first["name"]
    args: dict[str, Any] = {
        "input_size": first["input_size"],
        "hidden_size": first["units"],
        "num_layers": len(descriptions),
        "bias": first["use_bias"],
        "batch_first": True,
        "dropout": dropout,
        "bidirectional": first["directions"] == 2,
        "dtype": first["dtype"],
    }
    args |= first["variants"]
    state: dict[str, Any] = {}
    for k, singles in enumerate(holders):
        for suffix, single in zip((f"_l{k}", f"_l{k}_reverse"), singles):
            state |= _weights_to_ours(name, _weights(keras, single), first, suffix)
    return _models.build(name, False, args, state, training=True)


def _from_cell(keras: Any, cell: Any) -> Module:
    """`from_keras` of a Keras cell: the `rnn` cell of its kind."""
    described = _describe(keras, cell, alone=True)
    args = {
        "input_size": described["input_size"],
        "hidden_size": described["units"],
        "bias": described["use_bias"],
        "dtype": described["dtype"],
        **described["variants"],
    }
    name = described["name"]
    state = _weights_to_ours(name, _weights(keras, cell), described, "")
    return _models.build(name, True, args, state, training=True)


def _layers(keras: Any, layer: Any) -> tuple[list[dict[str, Any]], list[list[Any]], float, str]:
    """What each recurrent layer of `layer` computes (`_describe`), the Keras objects
    holding each one's weights (one per direction), the dropout rate between layers, and
    what holds the layers, for messages.

    Keras' ``go_backwards`` reverses a layer's input and returns its output in processing
    order. So in a ``Sequential`` only the first layer may go backwards: the layers after
    it, going forwards, read its output in the order it was computed, which is our
    ``go_backwards`` stack; a second reversal would run that layer forwards in time.
    """
    if _is_stacked(keras, layer):
        return _stacked_cells(keras, layer)
    recurrent, dropout = _stack(keras, layer)
    for k, r in enumerate(recurrent):
        if type(r) is keras.layers.Bidirectional and _is_stacked(keras, r.forward_layer):
            raise ValueError(
                "rnn.from_keras: a Bidirectional around RNN(StackedRNNCells) runs each "
                "direction through a stack of its own, while layer k+1 of a bidirectional "
                "rnn stack reads both directions of layer k; it has no equivalent"
            )
        if _is_stacked(keras, r):
            raise ValueError(
                f"rnn.from_keras: layer {k} of the Sequential is an RNN(StackedRNNCells); "
                "convert it on its own, or give the Sequential a layer per cell"
            )
    descriptions = [_describe(keras, r) for r in recurrent]
    backwards = descriptions[0]["variants"].get("go_backwards", False)
    for k, d in enumerate(descriptions[1:], start=1):
        if d["variants"].get("go_backwards"):
            raise ValueError(
                f"rnn.from_keras: layer {k} of the Sequential has go_backwards=True, so it "
                "reverses the order of what it reads; only the first layer of a stack may "
                "go backwards (the layers after it then read its output in processing order)"
            )
        if backwards:  # reading layer 0's output in processing order
            d["variants"]["go_backwards"] = True
    holders = [
        [r.forward_layer, r.backward_layer] if type(r) is keras.layers.Bidirectional else [r]
        for r in recurrent
    ]
    return descriptions, holders, dropout, "Sequential"


def _is_stacked(keras: Any, layer: Any) -> bool:
    """Whether `layer` is Keras' generic ``RNN`` around a ``StackedRNNCells``."""
    return type(layer) is keras.layers.RNN and type(layer.cell) is keras.layers.StackedRNNCells


def _check_ready(layer: Any) -> None:
    """Refuse a layer that is not built, or that is ``stateful`` (cells have no option)."""
    if not layer.built:
        raise ValueError(f"rnn.from_keras: the {_shown(layer)} is not built yet")
    if getattr(layer, "stateful", False):
        raise ValueError("rnn.from_keras: stateful=True has no equivalent")


def _stacked_cells(
    keras: Any, layer: Any
) -> tuple[list[dict[str, Any]], list[list[Any]], float, str]:
    """`_layers` of ``RNN(StackedRNNCells)``: each step runs the cells in turn, which is
    a stack of layers, cell k as layer k (and ``go_backwards`` reverses the input once)."""
    _check_ready(layer)
    cells = layer.cell.cells
    if not cells:
        raise ValueError("rnn.from_keras: the StackedRNNCells holds no cell")
    descriptions = []
    for cell in cells:
        described = _describe(keras, cell, alone=True)
        if layer.go_backwards:
            described["variants"]["go_backwards"] = True
        descriptions.append(described)
    return descriptions, [[cell] for cell in cells], 0.0, "StackedRNNCells"


def _stack(keras: Any, layer: Any) -> tuple[list[Any], float]:
    """The recurrent layers of `layer` and the dropout rate between them."""
    if type(layer) is not keras.Sequential:
        return [layer], 0.0
    recurrent: list[Any] = []
    rates: list[float] = []  # between recurrent layers k and k+1
    for sub in layer.layers:
        if type(sub) is keras.layers.Dropout:
            if len(rates) == len(recurrent):
                raise ValueError(
                    "rnn.from_keras: a Dropout layer must sit between two recurrent layers"
                )
            rates.append(float(sub.rate))
        else:
            if recurrent and len(rates) < len(recurrent):
                rates.append(0.0)
            recurrent.append(sub)
    if not recurrent or len(rates) == len(recurrent):
        raise ValueError("rnn.from_keras: a Sequential must end with a recurrent layer")
    if len(set(rates)) > 1:
        raise ValueError(f"rnn.from_keras: the Dropout layers differ in rate: {rates}")
    return recurrent, rates[0] if rates else 0.0


def _describe(keras: Any, layer: Any, alone: bool = False) -> dict[str, Any]:
    """What `layer` (recurrent, maybe wrapped in Bidirectional; a cell if `alone`)
    computes, as our arguments."""
    directions, merge_mode = 1, "concat"
    single = layer
    if type(layer) is keras.layers.Bidirectional:
        directions, merge_mode, single = 2, layer.merge_mode, layer.forward_layer
        if layer.backward_layer.get_config() | {"name": "", "go_backwards": False} != (
            single.get_config() | {"name": "", "go_backwards": False}
        ):
            raise ValueError(
                "rnn.from_keras: the Bidirectional's backward layer is configured "
                "differently from its forward layer"
            )
    # the generic keras.layers.RNN holds its options in its cell; the others proxy them
    cell = single.cell if type(single) is keras.layers.RNN else single
    kinds = {keras_name: name for name, keras_name in _KERAS_NAMES.items()}
    kinds |= {keras_name: name for name, keras_name in _KERAS_CELLS.items()}
    name = kinds.get(type(cell).__name__)
    exact = all(type(o) is getattr(keras.layers, type(o).__name__, None) for o in (single, cell))
    a_cell = type(cell).__name__ in _KERAS_CELLS.values()
    # a cell on its own, or inside the generic RNN; the other layers on their own
    placed = a_cell == (alone or cell is not single)
    if name is None or not exact or not placed:
        raise TypeError(
            "rnn.from_keras expects a keras.layers.SimpleRNN, GRU, LSTM, an RNN around a "
            "SimpleRNNCell, GRUCell or LSTMCell, a Bidirectional wrapping one of those, a "
            "keras.Sequential of them, an RNN around a StackedRNNCells of those cells, or "
            f"one of those cells; got {_shown(single)}"
        )
    _check_ready(single)
    for option in ("dropout", "recurrent_dropout"):
        if getattr(cell, option, 0.0):
            raise ValueError(
                f"rnn.from_keras: {option}={getattr(cell, option)} has no equivalent "
                f"(set it to 0 for the conversion)"
            )
    kernel = _weights(keras, single)[0]
    dtype = np.dtype(kernel.dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"rnn.from_keras converts float32 or float64 layers; got {dtype}")
    if layer.compute_dtype != single.compute_dtype:
        raise ValueError(
            f"rnn.from_keras: the Bidirectional computes in {layer.compute_dtype} while its "
            f"layers hold {single.compute_dtype} weights; give both the same dtype"
        )
    units = cell.units
    variants: dict[str, Any] = {}
    if directions == 2:
        if single.go_backwards:
            raise ValueError(
                "rnn.from_keras: a Bidirectional whose forward layer has go_backwards=True "
                "has no equivalent"
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"rnn.from_keras: unknown merge_mode {merge_mode!r}")
        if merge_mode != "concat":
            variants["merge_mode"] = merge_mode
    elif getattr(single, "go_backwards", False):
        variants["go_backwards"] = True
    if name == "GRU" and not cell.reset_after:
        variants["reset_after"] = False
    variants |= _activation_arguments(name, cell, directions)
    return {
        "name": name,
        "units": units,
        "input_size": kernel.shape[0],
        "width": units * (directions if merge_mode == "concat" else 1),
        "use_bias": cell.use_bias,
        "directions": directions,
        "dtype": dtype,
        "variants": variants,
        "config": f"{type(layer).__name__}({units})",
    }


def _shown(layer: Any) -> str:
    """A layer's class name, with its cell's for the generic ``RNN``: ``RNN(GRUCell)``."""
    cell = getattr(layer, "cell", None)
    if type(layer).__name__ == "RNN" and cell is not None:
        return f"RNN({type(cell).__name__})"
    return type(layer).__name__


def _activation_arguments(name: str, cell: Any, directions: int) -> dict[str, Any]:
    """Keras' activation / recurrent_activation as our ``activations=`` (ONNX order)."""
    keras_names = [cell.activation.__name__]
    if name != "RNN":
        keras_names = [cell.recurrent_activation.__name__, *keras_names * (_roles(name) - 1)]
    unknown = [a for a in keras_names if a not in _ACTIVATIONS]
    if unknown:
        raise ValueError(
            f"rnn.from_keras: activation {unknown[0]!r} has no equivalent; expected one of "
            f"{', '.join(_ACTIVATIONS)}"
        )
    per_direction = [_ACTIVATIONS[a] for a in keras_names] * directions
    names = [a for a, _, _ in per_direction]
    if names == _models.DEFAULT_ACTIVATIONS[name] * directions:
        return {}
    if name == "RNN" and names == ["Relu"] * directions:
        return {"nonlinearity": "relu"}
    found: dict[str, Any] = {"activations": names}
    takes = {a: _models.takes_parameters(a) for a in names}
    alphas = [alpha for a, alpha, _ in per_direction if takes[a][0]]
    betas = [beta for a, _, beta in per_direction if takes[a][1]]
    if alphas:
        found["activation_alpha"] = alphas
    if betas:
        found["activation_beta"] = betas
    return found


def _weights_to_ours(
    name: str, weights: Sequence[Any], described: dict[str, Any], suffix: str
) -> dict[str, Any]:
    """One Keras layer's [kernel, recurrent_kernel, (bias)] as our state_dict entries."""
    order = _gates.KERAS[name]
    state = {
        f"weight_ih{suffix}": _gates.to_ours(np.asarray(weights[0]).T, order),
        f"weight_hh{suffix}": _gates.to_ours(np.asarray(weights[1]).T, order),
    }
    if described["use_bias"]:
        bias = np.asarray(weights[2])
        two_rows = bias.ndim == 2  # GRU with reset_after=True: input row, recurrent row
        state[f"bias_ih{suffix}"] = _gates.to_ours(bias[0] if two_rows else bias, order)
        state[f"bias_hh{suffix}"] = _gates.to_ours(bias[1] if two_rows else 0 * bias, order)
    return state


def to_keras(model: Module) -> Any:
    """The Keras 3 layer (or ``Sequential`` of layers) computing what a model computes.

    Parameters
    ----------
    model : rnn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        Without ``proj_size``, ``peephole``, ``input_forget`` or ``clip``, with
        activations Keras has (see `from_keras`), the same for both directions.

    Returns
    -------
    keras.layers.Layer or keras.Sequential
        For one layer, a built ``SimpleRNN``/``GRU``/``LSTM`` (wrapped in
        ``Bidirectional`` with the model's merge mode if bidirectional) with
        ``return_sequences=True, return_state=True``; for several, a ``keras.Sequential``
        of them (with ``Dropout`` layers between them for ``dropout > 0``), which returns
        the output only. Keras takes batch-major input ``(N, L, H_in)`` whatever
        ``batch_first`` says, and with ``go_backwards`` returns the output in processing
        order (ours reversed in time); in a stack only the first layer has
        ``go_backwards=True``, as the others read its output in that order. For a cell,
        a built ``SimpleRNNCell``/``GRUCell``/``LSTMCell``: ``cell(x, [h])``
        (``[h, c]`` for the LSTM) returns the new ``h`` and the new states.

    Raises
    ------
    ImportError
        If keras is not installed (the extra ``keras``).
    TypeError
        If `model` is none of the above.
    ValueError
        Naming the option Keras does not have.

    Examples
    --------
    >>> import os
    >>> os.environ.setdefault("KERAS_BACKEND", "torch")
    'torch'
    >>> import numpy as np
    >>> import rnn
    >>> layer = rnn.to_keras(rnn.LSTM(3, 4, bidirectional=True, seed=0))
    >>> type(layer).__name__, type(layer.forward_layer).__name__, layer.merge_mode
    ('Bidirectional', 'LSTM', 'concat')
    """
    keras = _keras("to_keras")
    name, is_cell = _models.kind(model, "to_keras")
    args = _models.arguments(model)
    refused = [k for k in ("proj_size", "peephole", "input_forget", "clip") if args.get(k)]
    if refused:
        shown = ", ".join(f"{k}={args[k]!r}" for k in refused)
        raise ValueError(f"rnn.to_keras: Keras has no {shown}; this model cannot be converted")
    options: dict[str, Any] = {
        "units": model.hidden_size,
        "use_bias": model.bias,
        "dtype": args["dtype"],
    }
    options |= _keras_activations(model, name, args)
    if name == "GRU":
        options["reset_after"] = args.get("reset_after", True)
    state = model.state_dict()
    if is_cell:
        cell = getattr(keras.layers, _KERAS_CELLS[name])(**options)
        cell.build((None, model.input_size))
        cell.set_weights(_weights_to_keras(name, state, "", model.bias, options))
        return cell
    options |= {"return_sequences": True, "return_state": model.num_layers == 1}
    D = _models.directions(model)
    width = model.input_size
    layers = []
    for k in range(model.num_layers):
        cls = getattr(keras.layers, _KERAS_NAMES[name])
        # only the first layer reverses (see _layers): the others read its processing order
        layer = cls(**options, go_backwards=bool(args.get("go_backwards")) and k == 0)
        if D == 2:  # Bidirectional makes its own copies of the layers it is given
            layer = keras.layers.Bidirectional(
                layer,
                backward_layer=cls(**options, go_backwards=True),
                merge_mode=args.get("merge_mode", "concat"),
                dtype=args["dtype"],
            )
        layer.build((None, None, width))
        singles = [layer.forward_layer, layer.backward_layer] if D == 2 else [layer]
        for single, suffix in zip(singles, (f"_l{k}", f"_l{k}_reverse")):
            single.set_weights(_weights_to_keras(name, state, suffix, model.bias, options))
        layers.append(layer)
        width = model.hidden_size * (D if args.get("merge_mode", "concat") == "concat" else 1)
        if model.dropout and k < model.num_layers - 1:
            layers.append(keras.layers.Dropout(model.dropout, dtype=args["dtype"]))
    if model.num_layers == 1:
        return layers[0]
    return keras.Sequential([keras.Input((None, model.input_size), dtype=args["dtype"]), *layers])


def _keras_activations(model: Module, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Keras' activation / recurrent_activation equal to the model's activations."""
    resolved = _models.resolved_activations(
        _models.activation_list(model, name),
        args.get("activation_alpha"),
        args.get("activation_beta"),
    )
    roles = _roles(name)
    per_direction = resolved[:roles]
    if resolved != per_direction * _models.directions(model):
        raise ValueError("rnn.to_keras: Keras uses the same activations in both directions")
    found = []
    for onnx_activation in per_direction:
        matches = [k for k, v in _ACTIVATIONS.items() if _same(v, onnx_activation)]
        if not matches:
            raise ValueError(f"rnn.to_keras: Keras has no activation {onnx_activation}")
        found.append(matches[0])
    if name == "RNN":
        return {"activation": found[0]}
    if name == "LSTM" and found[1] != found[2]:
        raise ValueError(
            f"rnn.to_keras: Keras' LSTM uses one activation for the cell candidate and the "
            f"output; got {found[1]!r} and {found[2]!r}"
        )
    return {"recurrent_activation": found[0], "activation": found[1]}


def _same(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
    """The same activation, alpha and beta (compared in float32: ONNX stores floats)."""
    return a[0] == b[0] and bool(np.allclose(a[1:], b[1:], rtol=1e-6, atol=0))


def _weights_to_keras(
    name: str, state: dict[str, Any], suffix: str, bias: bool, options: dict[str, Any]
) -> list[Any]:
    order = _gates.KERAS[name]
    weights = [
        _gates.to_theirs(state[f"weight_ih{suffix}"], order).T,
        _gates.to_theirs(state[f"weight_hh{suffix}"], order).T,
    ]
    if bias:
        b_ih = _gates.to_theirs(state[f"bias_ih{suffix}"], order)
        b_hh = _gates.to_theirs(state[f"bias_hh{suffix}"], order)
        two_rows = name == "GRU" and options["reset_after"]
        weights.append(np.stack([b_ih, b_hh]) if two_rows else b_ih + b_hh)
    return weights
