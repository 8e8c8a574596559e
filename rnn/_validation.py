"""Checks at the public boundary: each says the rule, what it expected and what it got.

Inside the package shapes are trusted; everything a caller passes goes through here first.
"""

from __future__ import annotations

import numbers
from typing import Any, cast

import numpy as np

from rnn._types import Array


def _unwrapped(value: Any) -> Any:
    """`value`, or the scalar inside it if it is a 0-d array."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """An int: Python's, a numpy integer or a 0-d integer array; bool refused.

    Raises
    ------
    TypeError
        If `value` is not an integer, or is a bool.
    ValueError
        If `value` is below `minimum`.
    """
    number = _unwrapped(value)
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {int(number)}")
    return int(number)


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: str = "both",
) -> float:
    """A real number: Python's int or float, a numpy one or a 0-d array; bool refused.

    `low` and `high` bound it (None: unbounded), each end included or not by `closed`:
    ``"both"``, ``"left"`` (``low <= value < high``), ``"right"`` or ``"neither"``.
    NaN lies in no interval.

    Raises
    ------
    TypeError
        If `value` is not a real number, or is a bool.
    ValueError
        If `value` lies outside the interval.
    """
    number = _unwrapped(value)
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, numbers.Real):
        raise TypeError(f"{name} must be a number; got {type(value).__name__} {value!r}")
    number = float(number)
    low_ok = low is None or (number >= low if closed in ("both", "left") else number > low)
    high_ok = high is None or (number <= high if closed in ("both", "right") else number < high)
    if not (low_ok and high_ok and number == number):  # number != number: NaN
        if low is None and high is None:
            rule = "(not NaN)"
        elif high is None:
            rule = (">= " if closed in ("both", "left") else "> ") + f"{low:g}"
        elif low is None:
            rule = ("<= " if closed in ("both", "right") else "< ") + f"{high:g}"
        else:
            left = "[" if closed in ("both", "left") else "("
            right = "]" if closed in ("both", "right") else ")"
            rule = f"in {left}{low:g}, {high:g}{right}"
        raise ValueError(f"{name} must be a number {rule}; got {value!r}")
    return number


def check_size(name: str, value: Any) -> int:
    """A positive int (bool excluded)."""
    size = check_int(name, value)
    if size <= 0:
        raise ValueError(f"{name} must be greater than zero; got {value}")
    return size


def check_proj_size(value: Any, hidden_size: int) -> int:
    """LSTM's ``proj_size``: an int in ``0 .. hidden_size - 1``."""
    size = check_int("proj_size", value)
    if size < 0:
        raise ValueError(f"proj_size should be a positive integer or zero to disable; got {value}")
    if size >= hidden_size:
        raise ValueError(
            f"proj_size has to be smaller than hidden_size; got proj_size={value}, "
            f"hidden_size={hidden_size}"
        )
    return size


def check_flag(name: str, value: Any) -> bool:
    """A bool (numpy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; got {type(value).__name__} {value!r}")
    return bool(value)


def check_nonlinearity(value: Any) -> str:
    """``"tanh"`` or ``"relu"``."""
    if not isinstance(value, str) or value not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity {value!r}. Select from 'tanh' or 'relu'.")
    return str(value)


def check_dropout(value: Any) -> float:
    """A probability in [0, 1] (numpy scalars and 0-d arrays too; bool refused), with
    PyTorch's message."""
    value = _unwrapped(value)
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not 0 <= float(value) <= 1
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            f"element being zeroed; got {value!r}"
        )
    return float(value)


def check_dtype(value: Any) -> np.dtype[np.floating[Any]]:
    """float32 or float64."""
    try:
        dtype = None if value is None else np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or dtype.name not in ("float32", "float64"):
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64; got {value!r}")
    return cast(np.dtype[np.floating[Any]], dtype)


def as_real_array(name: str, value: Any, dtype: np.dtype[Any]) -> Array:
    """`value` as an array of `dtype`; integer and floating input is cast, nothing else.

    The caller's array is never written to: the package only reads what this returns.
    """
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested sequences
        raise ValueError(f"{name} must be a rectangular array; got {error}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a real (integer or floating-point) array; got dtype {array.dtype}"
        )
    return array.astype(dtype, copy=False)


def check_input(
    owner: str, value: Any, input_size: int, dtype: np.dtype[Any], batched_ndim: int
) -> tuple[Array, bool]:
    """An input of ``batched_ndim`` or ``batched_ndim - 1`` dimensions.

    Returns
    -------
    array : ndarray
    batched : bool
    """
    x = as_real_array("input", value, dtype)
    if x.ndim not in (batched_ndim - 1, batched_ndim):
        raise ValueError(
            f"{owner}: Expected input to be {batched_ndim - 1}D or {batched_ndim}D, "
            f"got {x.ndim}D array instead"
        )
    if x.shape[-1] != input_size:
        raise ValueError(
            f"input.shape[-1] must be equal to input_size. Expected {input_size}, got {x.shape[-1]}"
        )
    return x, x.ndim == batched_ndim


def check_state(
    name: str, value: Any, shape: tuple[int, ...], batched: bool, dtype: np.dtype[Any]
) -> Array:
    """An initial state of exactly `shape` (given for the batched form)."""
    state = as_real_array(name, value, dtype)
    expected = shape if batched else shape[:-2] + shape[-1:]
    if state.ndim != len(expected):
        kind = "batched" if batched else "unbatched"
        raise ValueError(
            f"For {kind} {len(expected)}-D input, "
            f"{name} should also be {len(expected)}-D but got {state.ndim}-D array"
        )
    if state.shape != expected:
        raise ValueError(f"Expected {name} of shape {expected}, got {state.shape}")
    return state if batched else state[..., None, :]


def check_pair(owner: str, name: str, parts: str, value: Any) -> tuple[Any, Any]:
    """LSTM's two-part state (or its gradient): a tuple of exactly two entries."""
    if not isinstance(value, tuple) or len(value) != 2:
        got = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
        raise TypeError(f"{owner} expects {name} as a tuple {parts}; got {got}")
    return value


def check_lengths(value: Any, steps: int, batch: int) -> np.ndarray:
    """One integer length per sequence, each in ``1 .. steps``."""
    lengths = np.asarray(value)
    if lengths.size == 0:
        lengths = lengths.astype(np.intp)  # [] is float64 to numpy
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers; got dtype {lengths.dtype}")
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D, one entry per sequence; got shape {lengths.shape}")
    if lengths.shape[0] != batch:
        raise ValueError(
            f"lengths must have one entry per sequence: expected {batch}, got {lengths.shape[0]}"
        )
    bad = np.flatnonzero((lengths < 1) | (lengths > steps))
    if bad.size:
        raise ValueError(
            f"every length must lie in 1..{steps} (the input's sequence length); "
            f"got {lengths[bad].tolist()} at index {bad.tolist()}"
        )
    return lengths.astype(np.intp)


# ---------------------------------------------------------------------------------------
# The framework variants (ONNX and Keras options of the layers and cells)

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def check_clip(value: Any) -> float | None:
    """None, or a positive real number (the ONNX cell clip threshold)."""
    if value is None:
        return None
    number = _unwrapped(value)
    if (
        isinstance(number, (bool, np.bool_))
        or not isinstance(number, numbers.Real)
        or not float(number) > 0
    ):
        raise ValueError(f"clip must be None or a positive number; got {value!r}")
    return float(number)


def check_merge_mode(value: Any, bidirectional: bool, num_layers: int) -> str | None:
    """One of `MERGE_MODES`; None only for one bidirectional layer."""
    if not (value is None or isinstance(value, str)) or value not in MERGE_MODES:
        raise ValueError(
            f"merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None; got {value!r}"
        )
    if value is None and not (bidirectional and num_layers == 1):
        raise ValueError(
            "merge_mode=None returns the two directions apart, so it needs "
            f"bidirectional=True and num_layers=1; got bidirectional={bidirectional}, "
            f"num_layers={num_layers}"
        )
    return value


def check_reals(name: str, value: Any) -> tuple[float, ...]:
    """None (empty) or a sequence of real numbers (``activation_alpha`` / ``_beta``)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a list of numbers or None; got {type(value).__name__}")
    values = [_unwrapped(v) for v in (value.ravel() if isinstance(value, np.ndarray) else value)]
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must hold real numbers; got {v!r}")
    return tuple(float(v) for v in values)


def check_activations(
    value: Any, defaults: tuple[str, ...], directions: int
) -> tuple[tuple[str, ...], ...]:
    """The activation names of every direction, in ONNX's order and spelling.

    `value` lists one name per gate role (``len(defaults)``), used by every direction, or
    one per role and direction (ONNX's form: the forward direction's first). None gives
    `defaults`. Names are matched case-insensitively against `rnn._activations.REGISTRY`.
    """
    from rnn._activations import REGISTRY, canonical_name

    if value is None:
        return (defaults,) * directions
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(f"activations must be a list of names or None; got {value!r}")
    roles = len(defaults)
    if len(value) not in (roles, roles * directions):
        counts = f"{roles} or {roles * directions}" if directions > 1 else str(roles)
        raise ValueError(
            f"activations must list {counts} names (one per gate role"
            + (" and direction" if directions > 1 else "")
            + f"); got {len(value)}: {list(value)}"
        )
    names = []
    for v in value:
        name = canonical_name(v)
        if name is None:
            raise ValueError(f"Unknown activation {v!r}. Select from {', '.join(REGISTRY)}.")
        names.append(name)
    if len(names) == roles:
        names *= directions
    return tuple(tuple(names[d * roles : (d + 1) * roles]) for d in range(directions))
