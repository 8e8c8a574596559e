r"""Optimisers (`SGD`, `Adam`) and gradient clipping, with PyTorch's update rules.

An optimiser holds a model and, per parameter, its state (momentum, moments).
``step(grads)`` takes the dict ``model.backward`` returns, computes the new parameters
and writes them back with ``model.load_state_dict``: parameters are read-only arrays,
and loading also drops the model's cached prepared weights. Entries of `grads` that are
not parameters (``"input"``, ``"h0"``, ``"c0"``, ``"hx"``, ``"cx"``) are ignored.

Any object with ``state_dict()`` and ``load_state_dict(mapping)`` works as the model,
so a readout layer of your own, or a model wrapping several, can be trained the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from rnn._types import Array

NON_PARAMETERS = frozenset({"input", "h0", "c0", "hx", "cx"})
"""Keys of ``backward``'s result that are gradients of inputs, not of parameters."""


class Parametrised(Protocol):
    """What an optimiser needs from a model: read and replace its parameters."""

    def state_dict(self) -> dict[str, Array]: ...

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None: ...


def _check_nonnegative(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0; got {value!r}")
    return float(value)


def _parameter_grads(grads: Mapping[str, Any], names: list[str]) -> dict[str, Array]:
    """The gradient of every parameter in `names`; checks that none is missing or extra."""
    missing = [name for name in names if name not in grads]
    unexpected = [k for k in grads if k not in names and k not in NON_PARAMETERS]
    if missing or unexpected:
        raise ValueError(
            f"grads must hold one entry per parameter; missing {missing}, unexpected {unexpected}"
        )
    return {name: np.asarray(grads[name]) for name in names}


def clip_grad_norm(grads: Mapping[str, Any], max_norm: float) -> tuple[dict[str, Array], float]:
    r"""Scale parameter gradients so that their global L2 norm is at most `max_norm`.

    With $\|g\| = \big(\sum_p \|g_p\|_2^2\big)^{1/2}$ over every parameter gradient
    $g_p$ (entries named in `NON_PARAMETERS` excluded), each $g_p$ becomes

    $$
    g_p \cdot \min\Big(1, \frac{\text{max\_norm}}{\|g\| + 10^{-6}}\Big),
    $$

    PyTorch's ``torch.nn.utils.clip_grad_norm_`` formula.

    Parameters
    ----------
    grads : mapping of str to ndarray
        As returned by ``model.backward``. Not modified.
    max_norm : float
        The largest norm allowed, > 0.

    Returns
    -------
    clipped : dict of str to ndarray
        A new dict: parameter gradients scaled (new arrays), other entries passed
        through unchanged.
    total_norm : float
        $\|g\|$ before clipping.

    Raises
    ------
    ValueError
        If `max_norm` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> from rnn import clip_grad_norm
    >>> grads = {"weight": np.array([3.0, 4.0]), "input": np.array([10.0])}
    >>> clipped, norm = clip_grad_norm(grads, max_norm=1.0)
    >>> norm
    5.0
    >>> clipped["weight"].round(6), clipped["input"]
    (array([0.6, 0.8]), array([10.]))
    """
    if not isinstance(max_norm, (int, float)) or isinstance(max_norm, bool) or not max_norm > 0:
        raise ValueError(f"max_norm must be a number > 0; got {max_norm!r}")
    params = {k: np.asarray(v) for k, v in grads.items() if k not in NON_PARAMETERS}
    total = math.sqrt(sum(float(np.sum(np.square(g), dtype=np.float64)) for g in params.values()))
    coef = min(1.0, max_norm / (total + 1e-6))
    clipped = {
        k: (params[k] * coef).astype(params[k].dtype, copy=False) if k in params else v
        for k, v in grads.items()
    }
    return clipped, total


class Optimizer:
    """What `SGD` and `Adam` share: the model, weight decay, and one `step` over parameters.

    A subclass defines ``_update(name, p, g)``, the new value of parameter ``p`` given its
    gradient ``g`` (weight decay already added), and may define ``_begin_step()``.
    """

    model: Parametrised
    weight_decay: float

    def step(self, grads: Mapping[str, Any]) -> None:
        """Update every parameter of the model once.

        Parameters
        ----------
        grads : mapping of str to ndarray
            One gradient per parameter, keyed as in ``model.state_dict()``; entries named
            in `NON_PARAMETERS` are ignored.

        Raises
        ------
        ValueError
            If a parameter's gradient is missing, or a key is neither a parameter nor in
            `NON_PARAMETERS`.
        """
        params = self.model.state_dict()
        grads_ = _parameter_grads(grads, list(params))
        self._begin_step()
        for name, p in params.items():
            g = grads_[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            params[name] = self._update(name, p, g)
        self.model.load_state_dict(params)

    def _begin_step(self) -> None:
        """Called once at the start of each `step`."""

    def _update(self, name: str, p: Array, g: Array) -> Array:
        raise NotImplementedError


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum and weight decay, as ``torch.optim.SGD``.

    For each parameter $p$ with gradient $g$, at step $t$:

    $$
    \begin{aligned}
    g &\leftarrow g + \lambda p \\
    b_t &= \begin{cases} g & t = 1 \\ \mu b_{t-1} + g & t > 1 \end{cases} \\
    p &\leftarrow p - \eta\, b_t
    \end{aligned}
    $$

    with learning rate $\eta$, momentum $\mu$ (no buffer when $\mu = 0$: $b_t = g$) and
    weight decay $\lambda$.

    Parameters
    ----------
    model : RNN, GRU, LSTM, a cell, or any object with ``state_dict`` / ``load_state_dict``
    lr : float
        $\eta$, >= 0.
    momentum : float, default 0.0
        $\mu$, >= 0.
    weight_decay : float, default 0.0
        $\lambda$, >= 0 (L2 penalty $\tfrac{\lambda}{2}\|p\|^2$ added to the loss).

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.RNN(1, 2, dtype=np.float64, seed=0)
    >>> opt = rnn.SGD(model, lr=0.1, momentum=0.9)
    >>> before = model.weight_hh_l0.copy()
    >>> output, h_n = model(np.ones((3, 1, 1)))
    >>> grads = model.backward(np.ones_like(output))
    >>> opt.step(grads)
    >>> np.allclose(model.weight_hh_l0, before - 0.1 * grads["weight_hh_l0"])
    True
    """

    def __init__(
        self, model: Parametrised, lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        self.model = model
        self.lr = _check_nonnegative("lr", lr)
        self.momentum = _check_nonnegative("momentum", momentum)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)
        self.state: dict[str, Array] = {}
        """Momentum buffer $b$ of each parameter, after the first step."""

    def _update(self, name: str, p: Array, g: Array) -> Array:
        if self.momentum:
            buf = self.state.get(name)
            g = self.state[name] = g.copy() if buf is None else self.momentum * buf + g
        return p - self.lr * g


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam`` (``amsgrad=False``).

    For each parameter $p$ with gradient $g$, at step $t = 1, 2, \dots$:

    $$
    \begin{aligned}
    g &\leftarrow g + \lambda p \\
    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g \\
    v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g^2 \\
    p &\leftarrow p - \frac{\eta}{1 - \beta_1^t} \,
        \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}
    \end{aligned}
    $$

    with $m_0 = v_0 = 0$.

    Parameters
    ----------
    model : RNN, GRU, LSTM, a cell, or any object with ``state_dict`` / ``load_state_dict``
    lr : float, default 1e-3
        $\eta$, >= 0.
    betas : (float, float), default (0.9, 0.999)
        $(\beta_1, \beta_2)$, each in [0, 1).
    eps : float, default 1e-8
        $\epsilon$, >= 0.
    weight_decay : float, default 0.0
        $\lambda$, >= 0 (added to the gradient, as in PyTorch's Adam; not AdamW).

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.GRU(1, 2, dtype=np.float64, seed=0)
    >>> opt = rnn.Adam(model, lr=0.01)
    >>> before = model.bias_hh_l0.copy()
    >>> output, h_n = model(np.ones((3, 1, 1)))
    >>> opt.step(model.backward(np.ones_like(output)))
    >>> round(float(np.abs(model.bias_hh_l0 - before).max()), 6)  # a first step moves by lr
    0.01
    """

    def __init__(
        self,
        model: Parametrised,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.model = model
        self.lr = _check_nonnegative("lr", lr)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _check_nonnegative("eps", eps)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)
        self.steps = 0
        """$t$, the number of steps taken."""
        self.state: dict[str, tuple[Array, Array]] = {}
        """$(m, v)$ of each parameter, after the first step."""

    def _begin_step(self) -> None:
        self.steps += 1

    def _update(self, name: str, p: Array, g: Array) -> Array:
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1**self.steps)
        root_correction = math.sqrt(1 - beta2**self.steps)
        m, v = self.state.get(name, (np.zeros_like(p), np.zeros_like(p)))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        self.state[name] = (m, v)
        return p - step_size * m / (np.sqrt(v) / root_correction + self.eps)
