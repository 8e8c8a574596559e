"""Gate orders of the other frameworks, one table each, used in both directions.

``rnn`` (and PyTorch) stack the gate blocks of a GRU as ``r | z | n`` and of an LSTM as
``i | f | g | o``; LSTM peephole weights are ``(i, f, o)``. An entry ``order`` of a table
says: our block ``k`` is the framework's block ``order[k]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnn._types import Array

# ONNX operators RNN, GRU (z, r, h), LSTM (i, o, f, c) and LSTM's peepholes P (i, o, f).
ONNX = {"RNN": (0,), "GRU": (1, 0, 2), "LSTM": (0, 2, 3, 1), "peephole": (0, 2, 1)}
# Keras layers SimpleRNN, GRU (z, r, h), LSTM (i, f, c, o).
KERAS = {"RNN": (0,), "GRU": (1, 0, 2), "LSTM": (0, 1, 2, 3)}


def to_ours(array: Array, order: Sequence[int], axis: int = 0) -> Array:
    """Restack the framework's gate blocks along `axis` into our order."""
    blocks = np.split(np.asarray(array), len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def to_theirs(array: Array, order: Sequence[int], axis: int = 0) -> Array:
    """Restack our gate blocks along `axis` into the framework's order (`to_ours` undone)."""
    return to_ours(array, [int(k) for k in np.argsort(order)], axis)
