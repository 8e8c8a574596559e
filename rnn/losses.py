r"""Loss functions that return the loss and its gradient, ready for ``model.backward``.

Each function returns ``(loss, grad)``: the loss as a Python float and
$\partial \mathcal{L} / \partial\, \mathrm{prediction}$ with the prediction's shape and
dtype. Both reduce by the mean, like PyTorch's default ``reduction="mean"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnn._types import Array


def _float_array(name: str, value: Any) -> Array:
    array = np.asarray(value)
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be a real array; got dtype {array.dtype}")
    return array


def mse_loss(prediction: Any, target: Any) -> tuple[float, Array]:
    r"""Mean squared error over all elements, and its gradient.

    $$
    \mathcal{L} = \frac{1}{M} \sum_{j=1}^{M} (\hat y_j - y_j)^2, \qquad
    \frac{\partial \mathcal{L}}{\partial \hat y_j} = \frac{2}{M} (\hat y_j - y_j)
    $$

    with $M$ the number of elements. Equals ``torch.nn.functional.mse_loss``.

    Parameters
    ----------
    prediction : array_like of float, any shape (at least one element)
        $\hat y$, e.g. a model's output of shape (L, N, H_out).
    target : array_like of float, the shape of `prediction`
        $y$.

    Returns
    -------
    loss : float
    grad : ndarray, the shape and dtype of `prediction`
        $\partial \mathcal{L} / \partial \hat y$.

    Raises
    ------
    ValueError
        If the shapes differ or `prediction` is empty.
    TypeError
        If an argument is not a real array.

    Examples
    --------
    >>> import numpy as np
    >>> from rnn import mse_loss
    >>> loss, grad = mse_loss(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    >>> loss
    2.5
    >>> grad
    array([ 1., -2.])
    """
    prediction = _float_array("prediction", prediction)
    target = _float_array("target", target)
    if prediction.shape != target.shape:
        raise ValueError(
            f"target must have the shape of prediction, {prediction.shape}; got {target.shape}"
        )
    if prediction.size == 0:
        raise ValueError(f"prediction must hold at least one element; got shape {prediction.shape}")
    diff = prediction - target.astype(prediction.dtype, copy=False)
    loss = float(np.mean(diff * diff, dtype=np.float64))
    grad = diff * (2.0 / prediction.size)
    return loss, grad.astype(prediction.dtype, copy=False)


def cross_entropy(logits: Any, targets: Any) -> tuple[float, Array]:
    r"""Softmax cross-entropy, averaged over the batch, and its gradient.

    For row $n$ with logits $z_n \in \mathbb{R}^C$ and class $y_n$,

    $$
    \mathcal{L} = \frac{1}{N} \sum_{n=1}^{N}
    \Big(\log \sum_{c=1}^{C} e^{z_{nc}} - z_{n y_n}\Big), \qquad
    \frac{\partial \mathcal{L}}{\partial z_{nc}}
    = \frac{1}{N} \big(\mathrm{softmax}(z_n)_c - [c = y_n]\big).
    $$

    The log-sum-exp subtracts each row's maximum first, so large logits do not
    overflow. Equals ``torch.nn.functional.cross_entropy``.

    Parameters
    ----------
    logits : array_like of float, shape (N, C)
        Unnormalised scores; N >= 1, C >= 1. For a sequence, reshape
        ``(L, N, C)`` to ``(L*N, C)``.
    targets : array_like of int, shape (N,)
        The class of each row, in ``0 .. C-1``.

    Returns
    -------
    loss : float
    grad : ndarray, shape (N, C), the dtype of `logits`
        $\partial \mathcal{L} / \partial z$.

    Raises
    ------
    ValueError
        If the shapes do not fit or a target is out of range.
    TypeError
        If `logits` is not real or `targets` not integer.

    Examples
    --------
    >>> import numpy as np
    >>> from rnn import cross_entropy
    >>> loss, grad = cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 6) == round(float(np.log(4)), 6)
    True
    >>> grad
    array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]])
    """
    logits = _float_array("logits", logits)
    targets = np.asarray(targets)
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"logits must have shape (N, C) with N, C >= 1; got {logits.shape}")
    batch, classes = logits.shape
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class indices; got dtype {targets.dtype}")
    if targets.shape != (batch,):
        raise ValueError(f"targets must have shape (N={batch},); got {targets.shape}")
    if np.any(targets < 0) or np.any(targets >= classes):
        bad = targets[(targets < 0) | (targets >= classes)]
        raise ValueError(f"targets must be in 0 .. {classes - 1} (C={classes}); got {bad[0]}")
    rows = np.arange(batch)
    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), each row's max is 0
    exp = np.exp(shifted)
    total = exp.sum(axis=1)  # (N,), >= 1
    loss = float(np.mean(np.log(total) - shifted[rows, targets], dtype=np.float64))
    grad = exp / total[:, None]
    grad[rows, targets] -= 1.0
    grad /= batch
    return loss, grad
