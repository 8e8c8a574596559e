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
    """A probability in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
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
