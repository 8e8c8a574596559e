"""Converters between ``rnn`` models and ``torch.nn`` recurrent modules.

The parameters keep their names, shapes and gate orders: PyTorch's layout is ours.
"""

from __future__ import annotations

from typing import Any

from rnn._module import Module
from rnn._optional import require
from rnn.interop import _models

_TORCH_NAMES = {
    ("RNN", False): "RNN",
    ("GRU", False): "GRU",
    ("LSTM", False): "LSTM",
    ("RNN", True): "RNNCell",
    ("GRU", True): "GRUCell",
    ("LSTM", True): "LSTMCell",
}
_DTYPES = ("float32", "float64")


def _torch(function: str) -> Any:
    return require("torch", function, "torch")


def from_torch(module: Any) -> Module:
    """An ``rnn`` model computing what a PyTorch recurrent module computes.

    Parameters
    ----------
    module : torch.nn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        Any configuration (``num_layers``, ``bidirectional``, ``batch_first``, ``bias``,
        ``dropout``, ``proj_size``, ``nonlinearity``), float32 or float64, on any device.

    Returns
    -------
    rnn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        Of the same class name, with copies of the module's parameters and its
        training flag.

    Raises
    ------
    ImportError
        If torch is not installed (the extra ``torch``).
    TypeError
        If `module` is not one of the six classes (subclasses are refused: their
        ``forward`` may compute something else), or its dtype is not float32/float64.

    Examples
    --------
    >>> import torch
    >>> import rnn
    >>> lstm = torch.nn.LSTM(3, 5, num_layers=2, proj_size=2)
    >>> rnn.from_torch(lstm)
    LSTM(3, 5, num_layers=2, proj_size=2)
    """
    torch = _torch("from_torch")
    found = [key for key, cls in _TORCH_NAMES.items() if type(module) is getattr(torch.nn, cls)]
    if not found:
        raise TypeError(
            "rnn.from_torch expects a torch.nn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell; "
            f"got {type(module).__name__}"
        )
    name, is_cell = found[0]
    state = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
    dtype = next(iter(state.values())).dtype.name
    if dtype not in _DTYPES:
        raise TypeError(f"rnn.from_torch converts float32 or float64 modules; got {dtype}")
    args: dict[str, Any] = {
        "input_size": module.input_size,
        "hidden_size": module.hidden_size,
        "bias": module.bias,
        "dtype": dtype,
    }
    if not is_cell:
        args |= {
            "num_layers": module.num_layers,
            "batch_first": module.batch_first,
            "dropout": float(module.dropout),
            "bidirectional": module.bidirectional,
        }
        if name == "LSTM":
            args["proj_size"] = module.proj_size
    if name == "RNN":
        args["nonlinearity"] = module.nonlinearity
    return _models.build(name, is_cell, args, state, module.training)


def to_torch(model: Module) -> Any:
    """The PyTorch module computing what an ``rnn`` model computes.

    Parameters
    ----------
    model : rnn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell

    Returns
    -------
    torch.nn.Module
        ``torch.nn.<same class name>`` of the model's dtype on the CPU, with copies of its
        parameters and its training flag.

    Raises
    ------
    ImportError
        If torch is not installed (the extra ``torch``).
    TypeError
        If `model` is not one of the six classes.
    ValueError
        If the model uses an option PyTorch does not have (``reset_after=False``,
        ``peephole``, ``input_forget``, ``clip``, ``activations`` other than PyTorch's,
        ``go_backwards``, ``merge_mode`` other than ``"concat"``), naming it.

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> gru = rnn.GRU(3, 4, bidirectional=True, dtype=np.float64, seed=0)
    >>> rnn.to_torch(gru)
    GRU(3, 4, bidirectional=True)
    """
    torch = _torch("to_torch")
    name, is_cell = _models.kind(model, "to_torch")
    args = _models.arguments(model)
    refused = [k for k in args if k in _models.VARIANTS]
    if "activations" in refused and _torch_nonlinearity(model, name) is not None:
        refused = [k for k in refused if not k.startswith("activation")]
    if refused:
        shown = ", ".join(f"{k}={args[k]!r}" for k in refused)
        raise ValueError(f"rnn.to_torch: PyTorch has no {shown}; this model cannot be converted")
    kwargs = {k: v for k, v in args.items() if k != "dtype" and k not in _models.VARIANTS}
    if name == "RNN":
        kwargs["nonlinearity"] = _torch_nonlinearity(model, name)
    dtype = getattr(torch, args["dtype"])
    module = getattr(torch.nn, _TORCH_NAMES[name, is_cell])(**kwargs, dtype=dtype)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    module.train(model.training)
    return module


def _torch_nonlinearity(model: Module, name: str) -> str | None:
    """The PyTorch activation choice equal to the model's activations, if there is one."""
    found = _models.activation_list(model, name)
    standard = {
        "tanh": _models.DEFAULT_ACTIVATIONS[name],
        "relu": ["Relu"] if name == "RNN" else None,
    }
    for choice, per_direction in standard.items():
        repeated = per_direction is not None and found == per_direction * (
            len(found) // len(per_direction)
        )
        if repeated and not (model.activation_alpha or model.activation_beta):
            return choice
    return None
