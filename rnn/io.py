"""Saving and loading models as ``.npz`` files, without pickle.

A file holds every parameter under its ``state_dict`` name and one more entry,
``__rnn_config__``: a JSON string naming the class and its constructor arguments.
`save` replaces the target atomically: a failed save leaves the previous file as it
was. `load` checks the configuration, then every entry's size, dtype and shape against
it, before it reads any parameter or builds the model, and never unpickles: a file can
carry data, not code, and cannot make the loader use more memory than the model it
describes (see `rnn._archive`).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from rnn import _archive
from rnn._module import Module
from rnn._validation import check_dtype
from rnn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnn.layers import GRU, LSTM, RNN

CONFIG = "__rnn_config__"
CHECKPOINT = "__rnn_checkpoint__"
VERSIONS = (1,)
"""The configuration versions `load` reads; `save` writes the last."""

CLASSES: dict[str, type[Module]] = {
    cls.__name__: cls for cls in (RNN, GRU, LSTM, RNNCell, GRUCell, LSTMCell)
}


def _shapes(cls: type[Module], args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The parameter shapes `cls(**args)` would have, computed without building it: the
    constructor's checks run, its parameters are not drawn."""
    bound = inspect.signature(cls).bind(**args).arguments
    probe: Any = object.__new__(cls)  # layers and cells define _configure
    options = {k: v for k, v in bound.items() if k not in ("dtype", "seed")}
    layout = probe._configure(**options)
    shapes: dict[str, tuple[int, ...]] = layout.shapes()
    return shapes


def config(model: Module) -> dict[str, Any]:
    """The JSON configuration of `model`: its class, the format version and its arguments."""
    if type(model) not in CLASSES.values():
        raise TypeError(f"expected an rnn model; got {type(model).__name__}")
    return {"class": type(model).__name__, "version": VERSIONS[-1], "args": model._arguments()}


def parameter_specs(document: Any) -> tuple[type[Module], dict[str, Any], dict[str, _archive.Spec]]:
    """The class, constructor arguments and parameter specs a configuration describes.

    Raises
    ------
    rnn._archive.Refused
        ``"bad configuration (...)"`` if it is malformed, ``"invalid configuration: ..."``
        if the constructor would refuse its arguments.
    """
    try:
        cls = CLASSES[document["class"]]
        args = dict(document["args"])
        version = document.get("version", 1)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise _archive.Refused(f"bad configuration ({error!r})") from None
    if version not in VERSIONS:
        raise _archive.Refused(
            f"bad configuration (version {version!r}; this rnn reads {VERSIONS})"
        )
    if "seed" in args:
        raise _archive.Refused("invalid configuration: seed is not saved, so cannot be loaded")
    try:
        check_dtype(args.get("dtype", "float32"))
        shapes = _shapes(cls, args)
    except (TypeError, ValueError) as error:
        raise _archive.Refused(f"invalid configuration: {error}") from None
    return cls, args, {name: _archive.Spec(shape) for name, shape in shapes.items()}


def build(cls: type[Module], args: dict[str, Any], params: dict[str, Any]) -> Module:
    """``cls(**args)`` holding `params`, which already have the right shapes."""
    try:
        model = cls(**args, seed=0)
    except (TypeError, ValueError) as error:
        raise _archive.Refused(f"invalid configuration: {error}") from None
    model.load_state_dict(params)
    return model


def save(model: Module, file: str | os.PathLike[str]) -> None:
    """Write `model`'s configuration and parameters to an ``.npz`` file, atomically.

    The file is written under a temporary name in the same directory, synced to disk and
    renamed over `file`, so `file` is always either the old file or the complete new
    one, even if the process is killed. After a failure, no temporary file remains
    (after a kill, one named ``.rnn-tmp-<name>-...`` may, next to `file`).

    Parameters
    ----------
    model : RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell
    file : str or path-like
        Where to write: exactly this path (no suffix is added), read back by `load`.

    Raises
    ------
    TypeError
        If `model` is not one of the classes above.
    OSError
        If writing fails (e.g. the disk is full); `file` is left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> import rnn
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> rnn.save(rnn.GRU(3, 4, seed=0), path)
    >>> rnn.load(path)
    GRU(3, 4)
    """
    if type(model) not in CLASSES.values():
        raise TypeError(f"save expects an rnn model; got {type(model).__name__}")
    _archive.write(file, (CONFIG, config(model)), model.state_dict())


def load(file: str | os.PathLike[str]) -> Module:
    """Rebuild a model written by `save`.

    The configuration is read and checked first; then the size, dtype and shape of
    every parameter entry are checked against it, before any parameter is read and
    before the model is built. Memory used is a small multiple of the model's size,
    whatever the file claims.

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
        If the file is not a model saved by `save`: not an ``.npz`` archive, truncated or
        corrupted, holding pickled objects, without a valid configuration, or with
        entries that do not fit it (missing, unexpected, another shape or dtype, sizes
        that disagree with the archive's directory, a compression bomb).
    """
    try:
        with _archive.Reader(file) as archive:
            if CONFIG not in archive.names():
                hint = " (a checkpoint? use rnn.load_checkpoint)" * (CHECKPOINT in archive.names())
                raise _archive.Refused(f"no {CONFIG} entry{hint}")
            try:
                document = archive.document(CONFIG)
            except _archive.Refused as error:
                raise _archive.Refused(f"bad configuration ({error})") from None
            cls, args, specs = parameter_specs(document)
            try:
                params = archive.arrays(specs, skip=(CONFIG,))
            except _archive.Refused as error:
                raise _archive.Refused(
                    f"its parameters do not fit its configuration: {error}"
                ) from None
        return build(cls, args, params)
    except _archive.Refused as error:
        raise ValueError(f"{os.fspath(file)!r} is not a saved rnn model: {error}") from None
