"""Saving and loading models as ``.npz`` files, without pickle.

A file holds every parameter under its ``state_dict`` name and one more entry,
``__rnn_config__``: a JSON string naming the class and its constructor arguments.
Loading never unpickles (``allow_pickle=False``), so a file can carry data, not code.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from typing import Any

import numpy as np
from numpy.lib.npyio import NpzFile

from rnn._module import Module
from rnn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnn.layers import GRU, LSTM, RNN

_CONFIG = "__rnn_config__"
_CLASSES: dict[str, type[Module]] = {
    cls.__name__: cls for cls in (RNN, GRU, LSTM, RNNCell, GRUCell, LSTMCell)
}


def _config(model: Module) -> dict[str, Any]:
    """The class name and constructor arguments that rebuild `model`."""
    return {"class": type(model).__name__, "version": 1, "args": model._arguments()}


def save(model: Module, file: str | os.PathLike[str]) -> None:
    """Write `model`'s configuration and parameters to an ``.npz`` file.

    Parameters
    ----------
    model : RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
    file : str or path-like
        Where to write: exactly this path (no suffix is added), read back by `load`.

    Examples
    --------
    >>> import os, tempfile
    >>> import rnn
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> rnn.save(rnn.GRU(3, 4, seed=0), path)
    >>> rnn.load(path)
    GRU(3, 4)
    """
    if type(model) not in _CLASSES.values():
        raise TypeError(f"save expects an rnn model; got {type(model).__name__}")
    contents: dict[str, Any] = {_CONFIG: np.array(json.dumps(_config(model)))}
    contents |= model.state_dict()
    with open(file, "wb") as handle:
        np.savez(handle, **contents)


def load(file: str | os.PathLike[str]) -> Module:
    """Rebuild a model written by `save`.

    Parameters
    ----------
    file : str or path-like

    Returns
    -------
    RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
        In training mode, as a new model is.

    Raises
    ------
    OSError
        If the file cannot be opened (e.g. `FileNotFoundError`).
    ValueError
        If the file is not a model saved by `save`: not an ``.npz`` archive, truncated,
        holding pickled objects, without a valid configuration, or with parameters that
        do not fit it.
    """
    with open(file, "rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, NpzFile):
                raise ValueError("not an .npz archive")
            with archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise ValueError(f"{os.fspath(file)!r} is not a saved rnn model: {error}") from None
    if _CONFIG not in arrays:
        raise ValueError(f"{os.fspath(file)!r} is not a saved rnn model: no {_CONFIG} entry")
    try:
        config = json.loads(str(arrays.pop(_CONFIG)))
        cls = _CLASSES[config["class"]]
        args = dict(config["args"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{os.fspath(file)!r} is not a saved rnn model: bad configuration ({error!r})"
        ) from None
    try:
        model = cls(**args, seed=0)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{os.fspath(file)!r} holds an invalid configuration: {error}") from None
    try:
        model.load_state_dict(arrays)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{os.fspath(file)!r} does not fit its configuration: {error}") from None
    return model
