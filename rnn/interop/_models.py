"""What the converters read from an ``rnn`` model, and how they build one.

The converters see a model only through its public attributes and its ``state_dict``:
`arguments` lists the constructor keyword arguments that rebuild it, `build` calls the
constructor with them and loads the parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rnn import _activations
from rnn._module import Module
from rnn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnn.layers import GRU, LSTM, RNN

LAYERS: dict[str, type[Module]] = {"RNN": RNN, "GRU": GRU, "LSTM": LSTM}
CELLS: dict[str, type[Module]] = {"RNN": RNNCell, "GRU": GRUCell, "LSTM": LSTMCell}

# The variant options (issue 13) and their defaults, which are PyTorch's behaviour.
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
# Each kind's activations for one direction, in ONNX's order: RNN f; GRU f, g; LSTM f, g, h.
DEFAULT_ACTIVATIONS = {
    "RNN": ["Tanh"],
    "GRU": ["Sigmoid", "Tanh"],
    "LSTM": ["Sigmoid", "Tanh", "Tanh"],
}


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


def arguments(model: Any) -> dict[str, Any]:
    """The constructor keyword arguments that rebuild `model` (dtype as its name), leaving
    out variant options at their defaults."""
    args: dict[str, Any] = model._arguments()
    return {k: v for k, v in args.items() if k not in VARIANTS or v != VARIANTS[k]}


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
    given = model.activations
    if given is not None:
        return [canonical_activation(a) for a in given]
    if name == "RNN" and model.nonlinearity == "relu":
        return ["Relu"] * directions(model)
    return DEFAULT_ACTIVATIONS[name] * directions(model)


def canonical_activation(value: Any) -> str:
    """ONNX's spelling of an activation name, matched case-insensitively (as onnxruntime does)."""
    name = _activations.canonical_name(value)
    if name is None:
        raise ValueError(
            f"unknown activation {value!r}; expected one of {', '.join(_activations.REGISTRY)}"
        )
    return name


def takes_parameters(name: str) -> tuple[bool, bool]:
    """Whether an ONNX activation takes an alpha, and a beta."""
    spec = _activations.REGISTRY[name]
    return spec.alpha is not None, spec.beta is not None


def resolved_activations(
    names: Sequence[str], alphas: Sequence[float] | None, betas: Sequence[float] | None
) -> list[tuple[str, float, float]]:
    """Each activation with its alpha and beta, consumed in order as onnxruntime does."""
    bound = _activations.bind(names, alphas or [], betas or [])
    return [(a.name, a.alpha, a.beta) for a in bound]
