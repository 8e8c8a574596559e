"""Checkpoints: everything that decides the next training step, in one file, without pickle.

A checkpoint holds the model (configuration and parameters, as `rnn.save` writes them),
the state of its random generator (which draws the dropout masks), the optimiser (its
hyper-parameters and per-parameter state), a step count, the recurrent state carried
from one stretch of a sequence to the next, and any arrays of the caller's. Restoring
all of it makes a resumed run compute exactly what an uninterrupted one would have.

The file is an ``.npz`` archive written and read by `rnn._archive`: atomically, and
checked against its JSON description before anything is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn import _archive, io
from rnn._module import Module
from rnn._validation import as_real_array, check_int
from rnn.optim import SGD, Adam

DOCUMENT = io.CHECKPOINT
VERSION = 1

_OPTIMIZERS: dict[str, type[SGD] | type[Adam]] = {"SGD": SGD, "Adam": Adam}
_BIT_GENERATORS: dict[str, type[np.random.BitGenerator]] = {
    cls.__name__: cls
    for cls in (np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64)
} | {"MT19937": np.random.MT19937}
_MAX_NDIM = 32  # numpy's limit

State = np.ndarray[Any, Any] | tuple[np.ndarray[Any, Any], ...] | None


@dataclass
class Checkpoint:
    """What `load_checkpoint` returns.

    Attributes
    ----------
    model : RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        With its parameters, training mode and random generator as they were saved.
    optimizer : SGD, Adam or None
        Optimising `model`, with its state as saved.
    step : int
        The step count given to `save_checkpoint`.
    hx : ndarray, tuple of ndarray, or None
        The recurrent state given to `save_checkpoint` (LSTM: ``(h, c)``).
    extra : dict of str to ndarray
        The arrays given to `save_checkpoint` as `extra`.
    """

    model: Module
    optimizer: SGD | Adam | None = None
    step: int = 0
    hx: State = None
    extra: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)


def save_checkpoint(
    file: str | os.PathLike[str],
    model: Module,
    optimizer: SGD | Adam | None = None,
    *,
    step: int = 0,
    hx: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint of a training run, atomically and without pickle.

    Parameters
    ----------
    file : str or path-like
        Exactly this path. It is replaced atomically: after a failure or a kill, the
        previous checkpoint is intact (a kill may leave a ``.rnn-tmp-<name>-...`` file).
    model : RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        Saved with its parameters, training mode and random generator (dropout masks).
    optimizer : SGD or Adam, optional
        Optimising `model`; saved with its hyper-parameters and state.
    step : int, default 0
        A count of your choosing (>= 0), e.g. the optimiser steps taken.
    hx : ndarray or tuple of ndarray, optional
        A recurrent state to resume from, e.g. what `rnn.truncated_bptt` returned.
    extra : mapping of str to array_like, optional
        More arrays (numbers, bools), e.g. ``{"epoch": 3, "order": permutation}``;
        names must not contain ``/``.

    Raises
    ------
    TypeError
        If `model` or `optimizer` is not of a class above, or an array is not numeric.
    ValueError
        If `optimizer` does not optimise `model`, `step` is negative, or a name is bad.
    OSError
        If writing fails; `file` is then as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.GRU(2, 3, seed=0)
    >>> optimizer = rnn.Adam(model)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
    >>> rnn.save_checkpoint(path, model, optimizer, step=10, extra={"epoch": 2})
    >>> checkpoint = rnn.load_checkpoint(path)
    >>> checkpoint.model, type(checkpoint.optimizer).__name__, checkpoint.step
    (GRU(2, 3), 'Adam', 10)
    >>> int(checkpoint.extra["epoch"])
    2
    """
    document: dict[str, Any] = {"version": VERSION, "model": io.config(model)}
    arrays: dict[str, Any] = {f"model/{name}": p for name, p in model.state_dict().items()}
    document["training"] = model.training
    document["generator"] = model._rng.bit_generator.state
    document["optimizer"] = None
    if optimizer is not None:
        if type(optimizer) not in _OPTIMIZERS.values():
            raise TypeError(
                f"optimizer must be rnn.SGD or rnn.Adam; got {type(optimizer).__name__}"
            )
        if optimizer.model is not model:
            raise ValueError("optimizer must be the one optimising model")
        state = optimizer.state_dict()
        slots: dict[str, dict[str, int]] = {}
        for name, entry in state["state"].items():
            slots[name] = {k: v for k, v in entry.items() if not isinstance(v, np.ndarray)}
            arrays |= {f"optimizer/{name}/{k}": v for k, v in entry.items() if k not in slots[name]}
        document["optimizer"] = {
            "class": type(optimizer).__name__,
            "param_groups": state["param_groups"],
            "state": slots,
        }
    document["step"] = check_int("step", step, minimum=0)
    states = None if hx is None else hx if isinstance(hx, tuple) else (hx,)
    document["hx"] = None if states is None else {"tuple": isinstance(hx, tuple), "arrays": []}
    for index, value in enumerate(states or ()):
        array = as_real_array(f"hx[{index}]" if isinstance(hx, tuple) else "hx", value, model.dtype)
        document["hx"]["arrays"].append(_describe(array))
        arrays[f"hx/{index}"] = array
    document["extra"] = {}
    for name, value in (extra or {}).items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"extra names must be non-empty strings without '/'; got {name!r}")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"extra[{name!r}] must be numbers or bools; got dtype {array.dtype}")
        document["extra"][name] = _describe(array)
        arrays[f"extra/{name}"] = array
    _archive.write(file, (DOCUMENT, document), arrays)


def _describe(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    return {"dtype": array.dtype.str, "shape": list(array.shape)}


def load_checkpoint(file: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`.

    As `rnn.load` does, it checks the JSON description first, then every entry's size,
    dtype and shape against it, before reading any array or building the model, and it
    never unpickles.

    Parameters
    ----------
    file : str or path-like

    Returns
    -------
    Checkpoint
        The model, optimiser, step, state and extra arrays; see `Checkpoint`.

    Raises
    ------
    OSError
        If the file cannot be opened.
    ValueError
        If the file is not a checkpoint written by `save_checkpoint`, or is damaged.
    """
    try:
        with _archive.Reader(file) as archive:
            if DOCUMENT not in archive.names():
                hint = " (a saved model? use rnn.load)" * (io.CONFIG in archive.names())
                raise _archive.Refused(f"no {DOCUMENT} entry{hint}")
            document = archive.document(DOCUMENT)
            if not isinstance(document, dict) or document.get("version") != VERSION:
                raise _archive.Refused(f"bad description (not a version {VERSION} checkpoint)")
            cls, args, model_specs = io.parameter_specs(document["model"])
            specs = {f"model/{name}": spec for name, spec in model_specs.items()}
            optimizer = document["optimizer"]
            if optimizer is not None:
                for name, slots in optimizer["state"].items():
                    spec = model_specs[name]
                    kinds = _OPTIMIZERS[optimizer["class"]]._slots
                    specs |= {f"optimizer/{name}/{k}": spec for k in kinds if k not in slots}
            hx = document["hx"]
            for index, described in enumerate([] if hx is None else hx["arrays"]):
                specs[f"hx/{index}"] = _spec(described, "f")
            for name, described in document["extra"].items():
                specs[f"extra/{name}"] = _spec(described, "biuf")
            arrays = archive.arrays(specs, skip=(DOCUMENT,))
        model = io.build(cls, args, {k[6:]: v for k, v in arrays.items() if k[:6] == "model/"})
        model.train(_flag(document["training"]))
        model._rng = _generator(document["generator"])
        return Checkpoint(
            model=model,
            optimizer=None if optimizer is None else _optimizer(model, optimizer, arrays),
            step=check_int("step", document["step"], minimum=0),
            hx=None if hx is None else _state(hx, arrays),
            extra={name: arrays[f"extra/{name}"] for name in document["extra"]},
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{os.fspath(file)!r} is not an rnn checkpoint: bad description ({error!r})"
        ) from None
    except ValueError as error:
        raise ValueError(f"{os.fspath(file)!r} is not an rnn checkpoint: {error}") from None


def _spec(described: Any, kinds: str) -> _archive.Spec:
    """The spec of an array the description lists as ``{"dtype": ..., "shape": [...]}``."""
    dtype = np.dtype(str(described["dtype"]))
    shape = described["shape"]
    if dtype.kind not in kinds or not isinstance(shape, list) or len(shape) > _MAX_NDIM:
        raise _archive.Refused(f"bad description of an array: {described!r}")
    sizes = tuple(check_int("shape", n, minimum=0) for n in shape)
    return _archive.Spec(sizes, dtype.kind, f"an array of dtype {dtype}")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _archive.Refused(f"bad description (training must be true or false; got {value!r})")
    return value


def _generator(state: Any) -> np.random.Generator:
    """A generator in the saved `state`; only numpy's own bit generators are built."""
    cls = _BIT_GENERATORS.get(state["bit_generator"])
    if cls is None:
        raise _archive.Refused(f"unknown bit generator {state['bit_generator']!r}")
    bit_generator = cls()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise _archive.Refused(f"bad generator state ({error!r})") from None
    return np.random.Generator(bit_generator)


def _optimizer(model: Module, described: Any, arrays: Mapping[str, Any]) -> SGD | Adam:
    cls = _OPTIMIZERS[described["class"]]
    groups = described["param_groups"]
    hyperparameters = {k: v for k, v in groups[0].items() if k != "params"}
    optimizer = cls(model, **hyperparameters)
    state = {
        name: slots | {k: arrays[f"optimizer/{name}/{k}"] for k in cls._slots if k not in slots}
        for name, slots in described["state"].items()
    }
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return optimizer


def _state(described: Any, arrays: Mapping[str, Any]) -> State:
    states: tuple[np.ndarray[Any, Any], ...] = tuple(
        arrays[f"hx/{index}"] for index in range(len(described["arrays"]))
    )
    if described["tuple"]:
        return states
    if len(states) != 1:
        raise _archive.Refused("bad description (hx is one array or a tuple)")
    return states[0]
