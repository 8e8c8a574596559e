"""What the converters read from an ``rnn`` model, and how they build one.

The converters see a model only through its public attributes and its ``state_dict``:
`arguments` lists the constructor keyword arguments that rebuild it, `build` calls the
constructor with them and loads the parameters.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from rnn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnn.layers import GRU, LSTM, RNN
from rnn.module import Module

LAYERS: dict[str, type[Module]] = {"RNN": RNN, "GRU": GRU, "LSTM": LSTM}
CELLS: dict[str, type[Module]] = {"RNN": RNNCell, "GRU": GRUCell, "LSTM": LSTMCell}

# The variant options (issue 13) and their defaults, which are PyTorch's behaviour. A model
# built before the core had them reads as the default (`getattr` below).
VARIANTS: dict[str, Any] = {
    "reset_after": True,
    "peephole": False,
    "input_forget": False,
    "clip": None,
    "activations": None,
    "activation_alpha": None,
    "activation_beta": None,
    "go_backwards": False,
    "merge_mode": "concat",
}
KIND_VARIANTS = {
    "RNN": ("clip", "activations", "activation_alpha", "activation_beta"),
    "GRU": ("reset_after", "clip", "activations", "activation_alpha", "activation_beta"),
    "LSTM": (
        "peephole",
        "input_forget",
        "clip",
        "activations",
        "activation_alpha",
        "activation_beta",
    ),
}
LAYER_VARIANTS = ("go_backwards", "merge_mode")

# ONNX's activation names, and each kind's default list for one direction (ONNX order:
# RNN f; GRU f, g; LSTM f, g, h).
ACTIVATION_NAMES = (
    "Relu",
    "Tanh",
    "Sigmoid",
    "Affine",
    "LeakyRelu",
    "ThresholdedRelu",
    "ScaledTanh",
    "HardSigmoid",
    "Elu",
    "Softsign",
    "Softplus",
)
DEFAULT_ACTIVATIONS = {
    "RNN": ["Tanh"],
    "GRU": ["Sigmoid", "Tanh"],
    "LSTM": ["Sigmoid", "Tanh", "Tanh"],
}

# onnxruntime's activation parameters: (takes alpha, takes beta, default alpha, default beta);
# the others take none.
ACTIVATION_PARAMETERS = {
    "Affine": (True, True, 0.0, 0.0),
    "LeakyRelu": (True, False, 0.01, 0.0),
    "ThresholdedRelu": (True, False, 0.0, 0.0),
    "ScaledTanh": (True, True, 0.0, 0.0),
    "HardSigmoid": (True, True, 0.2, 0.5),
    "Elu": (True, False, 1.0, 0.0),
}


def require(module: str, function: str, extra: str) -> ModuleType:
    """Import `module`, or fail with the ``pip install`` line of the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'rnn.{function} needs {module.split(".")[0]}: pip install "rnn[{extra}]"'
        ) from error


def kind(model: Any, function: str) -> tuple[str, bool]:
    """``("GRU", False)`` for an `rnn.GRU`, ``("GRU", True)`` for an `rnn.GRUCell`, ..."""
    for table, is_cell in ((LAYERS, False), (CELLS, True)):
        for name, cls in table.items():
            if type(model) is cls:
                return name, is_cell
    raise TypeError(
        f"rnn.{function} expects an rnn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell; "
        f"got {type(model).__name__}"
    )


def variants(model: Any, name: str, is_cell: bool) -> dict[str, Any]:
    """The model's variant options that differ from their defaults."""
    options = KIND_VARIANTS[name] + (() if is_cell else LAYER_VARIANTS)
    found = {k: getattr(model, k, VARIANTS[k]) for k in options}
    return {k: v for k, v in found.items() if v != VARIANTS[k]}


def arguments(model: Any, name: str, is_cell: bool) -> dict[str, Any]:
    """The constructor keyword arguments that rebuild `model` (dtype as its name)."""
    args: dict[str, Any] = {
        "input_size": model.input_size,
        "hidden_size": model.hidden_size,
        "bias": model.bias,
    }
    if not is_cell:
        args |= {
            "num_layers": model.num_layers,
            "batch_first": model.batch_first,
            "dropout": model.dropout,
            "bidirectional": model.bidirectional,
        }
        if name == "LSTM":
            args["proj_size"] = model.proj_size
    if name == "RNN":
        args["nonlinearity"] = model.nonlinearity
    args["dtype"] = np.dtype(model.dtype).name
    return args | variants(model, name, is_cell)


def build(
    name: str, is_cell: bool, args: Mapping[str, Any], state: Mapping[str, Any], training: bool
) -> Module:
    """A new model of kind `name` from `args` (as `arguments` gives them) holding `state`."""
    model = (CELLS if is_cell else LAYERS)[name](**args)
    model.load_state_dict(state)
    model.train(training)
    return model


def directions(model: Any) -> int:
    """How many directions each layer runs: 2 if bidirectional, else 1 (cells: 1)."""
    return 2 if getattr(model, "bidirectional", False) else 1


def activation_list(model: Any, name: str) -> list[str]:
    """Every gate role's activation for every direction, in ONNX's order, defaults filled in."""
    given = getattr(model, "activations", None)
    if given is not None:
        return [canonical_activation(a) for a in given]
    if name == "RNN" and model.nonlinearity == "relu":
        return ["Relu"] * directions(model)
    return DEFAULT_ACTIVATIONS[name] * directions(model)


def canonical_activation(value: Any) -> str:
    """ONNX's spelling of an activation name, matched case-insensitively (as onnxruntime does)."""
    spelled = {a.lower(): a for a in ACTIVATION_NAMES}
    if not isinstance(value, str) or value.lower() not in spelled:
        raise ValueError(
            f"unknown activation {value!r}; expected one of {', '.join(ACTIVATION_NAMES)}"
        )
    return spelled[value.lower()]


def resolved_activations(
    names: Sequence[str], alphas: Sequence[float] | None, betas: Sequence[float] | None
) -> list[tuple[str, float, float]]:
    """Each activation with its alpha and beta, consumed in order as onnxruntime does."""
    alpha_iter, beta_iter = iter(alphas or []), iter(betas or [])
    resolved = []
    for n in names:
        takes_alpha, takes_beta, alpha, beta = ACTIVATION_PARAMETERS.get(n, (False, False, 0, 0))
        alpha = next(alpha_iter, alpha) if takes_alpha else alpha
        beta = next(beta_iter, beta) if takes_beta else beta
        resolved.append((n, float(alpha), float(beta)))
    return resolved
