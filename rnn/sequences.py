"""Padding a list of sequences into one batch, and back.

`pad_sequence` and `unpad_sequence` mirror ``torch.nn.utils.rnn``'s functions of those
names, except that `pad_sequence` also returns the lengths, ready for a model's
``lengths=`` argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnn._types import Array
from rnn._validation import check_lengths


def pad_sequence(
    sequences: Sequence[Any], batch_first: bool = False, padding_value: float = 0.0
) -> tuple[Array, np.ndarray]:
    """Stack sequences of different lengths into one padded batch.

    Parameters
    ----------
    sequences : sequence of array_like, each of shape (L_b, *F)
        At least one sequence; every one of length >= 1 with the same trailing shape F.
    batch_first : bool, default False
        Return ``(N, L, *F)`` instead of ``(L, N, *F)``.
    padding_value : float, default 0.0

    Returns
    -------
    padded : ndarray, shape (L, N, *F), or (N, L, *F) if batch_first
        ``L = max(L_b)``; dtype is the common dtype of the sequences.
    lengths : ndarray of int, shape (N,)

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> padded, lengths = rnn.pad_sequence([np.ones((3, 2)), np.ones((1, 2))])
    >>> padded.shape, lengths.tolist()
    ((3, 2, 2), [3, 1])
    """
    arrays = [np.asarray(s) for s in sequences]
    if not arrays:
        raise ValueError("pad_sequence needs at least one sequence; got none")
    for i, a in enumerate(arrays):
        if a.ndim == 0 or a.shape[0] == 0:
            raise ValueError(
                f"sequence {i} must have shape (L_b, ...) with L_b >= 1; got {a.shape}"
            )
        if a.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"every sequence must have trailing shape {arrays[0].shape[1:]} "
                f"(that of sequence 0); sequence {i} has {a.shape[1:]}"
            )
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.intp)
    dtype = np.result_type(*arrays)
    padded = np.full((int(lengths.max()), len(arrays), *arrays[0].shape[1:]), padding_value, dtype)
    for b, a in enumerate(arrays):
        padded[: a.shape[0], b] = a
    return (padded.swapaxes(0, 1) if batch_first else padded), lengths


def unpad_sequence(padded: Any, lengths: Any, batch_first: bool = False) -> list[Array]:
    """Split a padded batch back into its sequences (the inverse of `pad_sequence`).

    Parameters
    ----------
    padded : array_like, shape (L, N, *F), or (N, L, *F) if batch_first
    lengths : array_like of int, shape (N,)
        Each in ``1 .. L``.
    batch_first : bool, default False

    Returns
    -------
    list of ndarray
        N arrays (copies), the b-th of shape ``(lengths[b], *F)``.
    """
    array = np.asarray(padded)
    if array.ndim < 2:
        raise ValueError(f"padded must have at least 2 dimensions (L, N, ...); got {array.shape}")
    if batch_first:
        array = array.swapaxes(0, 1)
    counts = check_lengths(lengths, array.shape[0], array.shape[1])
    return [array[:n, b].copy() for b, n in enumerate(counts)]
