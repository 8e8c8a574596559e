r"""Optimisers (`SGD`, `Adam`) and gradient clipping, with PyTorch's update rules.

An optimiser holds a model and, per parameter, its state (momentum, moments).
``step(grads)`` takes the dict ``model.backward`` returns, computes the new parameters
and writes them back with ``model.load_state_dict``: parameters are read-only arrays,
and loading also drops the model's cached prepared weights. Entries of `grads` that are
not parameters (``"input"``, ``"h0"``, ``"c0"``, ``"hx"``, ``"cx"``) are ignored.

Any object with ``state_dict()`` and ``load_state_dict(mapping)`` works as the model,
so a readout layer of your own, or a model wrapping several, can be trained the same way.

An optimiser's own ``state_dict()`` has PyTorch's structure, keyed by parameter name
instead of index: ``{"state": {name: {...}}, "param_groups": [{hyper-parameters,
"params": [names]}]}``; ``load_state_dict`` restores it, so training resumes exactly
(see `rnn.save_checkpoint`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from rnn._types import Array
from rnn._validation import as_real_array, check_float, check_int

NON_PARAMETERS = frozenset({"input", "h0", "c0", "hx", "cx"})
"""Keys of ``backward``'s result that are gradients of inputs, not of parameters."""


class Parametrised(Protocol):
    """What an optimiser needs from a model: read and replace its parameters."""

    def state_dict(self) -> dict[str, Array]: ...

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None: ...


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
    TypeError
        If `max_norm` is not a number (Python's, numpy's or a 0-d array; not bool).

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
    max_norm = check_float("max_norm", max_norm, 0, closed="neither")
    params = {k: np.asarray(v) for k, v in grads.items() if k not in NON_PARAMETERS}
    total = math.sqrt(sum(float(np.sum(np.square(g), dtype=np.float64)) for g in params.values()))
    coef = min(1.0, max_norm / (total + 1e-6))
    clipped = {
        k: (params[k] * coef).astype(params[k].dtype, copy=False) if k in params else v
        for k, v in grads.items()
    }
    return clipped, total


class Optimizer:
    """What `SGD` and `Adam` share: the model, one `step` over parameters, and checkpoints.

    A subclass names its hyper-parameters in ``_hyperparameters`` and checks them in
    ``_check_hyperparameters`` (for the constructor and `load_state_dict` alike), names the
    entries of each parameter's state in ``_slots`` (``"step"`` is a count, the others arrays of
    the parameter's shape), and defines ``_update(name, p, g)``: the new value of
    parameter ``p`` given its gradient ``g`` (weight decay already added), which also
    updates ``state[name]``.
    """

    model: Parametrised
    weight_decay: float
    state: dict[str, dict[str, Any]]
    _hyperparameters: tuple[str, ...]
    _slots: tuple[str, ...]

    def __init__(self, model: Parametrised, **hyperparameters: Any) -> None:
        self.model = model
        for key, value in self._check_hyperparameters(**hyperparameters).items():
            setattr(self, key, value)
        self.state = {}

    @staticmethod
    def _check_hyperparameters(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

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
        for name, p in params.items():
            g = grads_[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            params[name] = self._update(name, p, g)
        self.model.load_state_dict(params)

    def _update(self, name: str, p: Array, g: Array) -> Array:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state and hyper-parameters, as ``torch.optim`` structures them.

        Returns
        -------
        dict
            ``{"state": {name: {slot: value}}, "param_groups": [group]}``: per parameter
            that has been updated, its state (copies); ``group`` holds the
            hyper-parameters and ``"params"``, the parameter names in order.
        """
        group = {key: getattr(self, key) for key in self._hyperparameters}
        return {
            "state": {
                name: {
                    slot: value.copy() if isinstance(value, np.ndarray) else value
                    for slot, value in entry.items()
                }
                for name, entry in self.state.items()
            },
            "param_groups": [group | {"params": list(self.model.state_dict())}],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned; all or nothing.

        Parameters
        ----------
        state_dict : mapping
            As `state_dict` returns it, for a model with the same parameter names and
            shapes. Arrays are copied and cast to their parameter's dtype.

        Raises
        ------
        ValueError
            If the structure, a parameter name, a shape or a hyper-parameter is wrong;
            the optimiser is then unchanged.
        TypeError
            If an entry has the wrong type.
        """
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ValueError(
                f"state_dict must be a mapping with keys 'param_groups' and 'state'; got {got}"
            )
        groups = state_dict["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != 1:
            raise ValueError("param_groups must be a list of one group (rnn has no others)")
        group = dict(groups[0])
        params = self.model.state_dict()
        if list(group.pop("params", [])) != list(params):
            raise ValueError(
                f"param_groups[0]['params'] must name the model's parameters {list(params)}"
            )
        try:
            hyperparameters = self._check_hyperparameters(**group)
        except TypeError as error:
            raise TypeError(f"param_groups[0]: {error}") from None
        state = state_dict["state"]
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping; got {type(state).__name__}")
        unknown = [name for name in state if name not in params]
        if unknown:
            raise ValueError(f"state names parameters the model does not have: {unknown}")
        restored = {name: self._restore(name, entry, params[name]) for name, entry in state.items()}
        for key, value in hyperparameters.items():
            setattr(self, key, value)
        self.state = restored

    def _restore(self, name: str, entry: Any, p: Array) -> dict[str, Any]:
        """One parameter's state, checked against the parameter `p`."""
        if not isinstance(entry, Mapping) or set(entry) != set(self._slots):
            got = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
            raise ValueError(f"state[{name!r}] must have keys {sorted(self._slots)}; got {got}")
        restored: dict[str, Any] = {}
        for slot in self._slots:
            if slot == "step":
                restored[slot] = check_int(f"state[{name!r}]['step']", entry[slot], minimum=1)
                continue
            value = as_real_array(f"state[{name!r}][{slot!r}]", entry[slot], p.dtype)
            if value.shape != p.shape:
                raise ValueError(
                    f"state[{name!r}][{slot!r}] must have the parameter's shape {p.shape}; "
                    f"got {value.shape}"
                )
            restored[slot] = value.copy()
        return restored


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

    lr: float
    momentum: float
    state: dict[str, dict[str, Any]]
    """``{"momentum_buffer": b}`` for each parameter, after the first step (momentum > 0)."""

    _hyperparameters = ("lr", "momentum", "weight_decay")
    _slots = ("momentum_buffer",)

    def __init__(
        self, model: Parametrised, lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        super().__init__(model, lr=lr, momentum=momentum, weight_decay=weight_decay)

    @staticmethod
    def _check_hyperparameters(lr: Any, momentum: Any, weight_decay: Any) -> dict[str, Any]:
        return {
            "lr": check_float("lr", lr, 0),
            "momentum": check_float("momentum", momentum, 0),
            "weight_decay": check_float("weight_decay", weight_decay, 0),
        }

    def _update(self, name: str, p: Array, g: Array) -> Array:
        if self.momentum:
            entry = self.state.get(name)
            g = g.copy() if entry is None else self.momentum * entry["momentum_buffer"] + g
            self.state[name] = {"momentum_buffer": g}
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
    >>> # a first step moves each parameter by lr
    >>> round(float(np.abs(model.bias_hh_l0 - before).max()), 6)
    0.01
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    state: dict[str, dict[str, Any]]
    """``{"step": t, "exp_avg": m, "exp_avg_sq": v}`` for each parameter, after its first
    step."""

    _hyperparameters = ("lr", "betas", "eps", "weight_decay")
    _slots = ("step", "exp_avg", "exp_avg_sq")

    def __init__(
        self,
        model: Parametrised,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    @staticmethod
    def _check_hyperparameters(lr: Any, betas: Any, eps: Any, weight_decay: Any) -> dict[str, Any]:
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}")
        try:
            pair = tuple(check_float("betas", b, 0, 1, closed="left") for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}") from None
        return {
            "lr": check_float("lr", lr, 0),
            "betas": pair,
            "eps": check_float("eps", eps, 0),
            "weight_decay": check_float("weight_decay", weight_decay, 0),
        }

    def _update(self, name: str, p: Array, g: Array) -> Array:
        beta1, beta2 = self.betas
        entry = self.state.get(name)
        if entry is None:
            entry = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        step: int = entry["step"] + 1
        m: Array = beta1 * entry["exp_avg"] + (1 - beta1) * g
        v: Array = beta2 * entry["exp_avg_sq"] + (1 - beta2) * g * g
        self.state[name] = {"step": step, "exp_avg": m, "exp_avg_sq": v}
        step_size = self.lr / (1 - beta1**step)
        root_correction = math.sqrt(1 - beta2**step)
        return p - step_size * m / (np.sqrt(v) / root_correction + self.eps)
