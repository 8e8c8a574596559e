r"""The activation functions a gate may use: ONNX's list, with derivatives.

One registry, name -> `Spec`: the function, its derivative and the default ``alpha`` /
``beta``. Names and formulas follow the ONNX operators ``RNN``, ``GRU`` and ``LSTM``
(onnx/docs/Operators.md); the defaults are onnxruntime's (``rnn_helpers.cc``): an
activation that takes ``alpha`` or ``beta`` and is given none gets 0.01 (LeakyRelu),
0.2 and 0.5 (HardSigmoid), 1.0 (Elu), otherwise 0.

| name | $f(x)$ |
|---|---|
| Relu | $\max(0, x)$ |
| Tanh | $\tanh x$ |
| Sigmoid | $1 / (1 + e^{-x})$ |
| Affine | $\alpha x + \beta$ |
| LeakyRelu | $x$ if $x \ge 0$ else $\alpha x$ |
| ThresholdedRelu | $x$ if $x > \alpha$ else 0 (onnxruntime's strict inequality) |
| ScaledTanh | $\alpha \tanh(\beta x)$ |
| HardSigmoid | $\min(\max(\alpha x + \beta, 0), 1)$ |
| Elu | $x$ if $x \ge 0$ else $\alpha (e^x - 1)$ |
| Softsign | $x / (1 + \lvert x \rvert)$ |
| Softplus | $\log(1 + e^x)$ |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rnn._types import Array

# f(x, alpha, beta) -> y, and f'(x, y, alpha, beta) from the input x and the output y.
Forward = Callable[[Array, float, float], Array]
Derivative = Callable[[Array, Array, float, float], Array]


@dataclass(frozen=True)
class Spec:
    """One activation: the function, its derivative, and whether it takes alpha / beta."""

    forward: Forward
    derivative: Derivative
    alpha: float | None = None  # the default alpha, None if the function takes none
    beta: float | None = None


def _sigmoid(x: Array, alpha: float, beta: float) -> Array:
    # tanh form: exact to rounding for every x, no overflow warning for large |x|
    y: Array = 0.5 * (1.0 + np.tanh(0.5 * x))
    return y


def _softplus(x: Array, alpha: float, beta: float) -> Array:
    return np.logaddexp(0.0, x)


def _elu(x: Array, alpha: float, beta: float) -> Array:
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))


REGISTRY: dict[str, Spec] = {
    "Relu": Spec(lambda x, a, b: np.maximum(x, 0), lambda x, y, a, b: (x > 0).astype(x.dtype)),
    "Tanh": Spec(lambda x, a, b: np.tanh(x), lambda x, y, a, b: 1 - y * y),
    "Sigmoid": Spec(_sigmoid, lambda x, y, a, b: y * (1 - y)),
    "Affine": Spec(
        lambda x, a, b: a * x + b, lambda x, y, a, b: np.full_like(x, a), alpha=0.0, beta=0.0
    ),
    "LeakyRelu": Spec(
        lambda x, a, b: np.where(x >= 0, x, a * x),
        lambda x, y, a, b: np.where(x >= 0, 1, a).astype(x.dtype),
        alpha=0.01,
    ),
    "ThresholdedRelu": Spec(
        lambda x, a, b: np.where(x > a, x, 0).astype(x.dtype),
        lambda x, y, a, b: (x > a).astype(x.dtype),
        alpha=0.0,
    ),
    "ScaledTanh": Spec(
        lambda x, a, b: a * np.tanh(b * x),
        lambda x, y, a, b: a * b * (1 - np.tanh(b * x) ** 2),
        alpha=0.0,
        beta=0.0,
    ),
    "HardSigmoid": Spec(
        lambda x, a, b: np.clip(a * x + b, 0, 1),
        lambda x, y, a, b: np.where((a * x + b > 0) & (a * x + b < 1), a, 0).astype(x.dtype),
        alpha=0.2,
        beta=0.5,
    ),
    "Elu": Spec(_elu, lambda x, y, a, b: np.where(x >= 0, 1, y + a).astype(x.dtype), alpha=1.0),
    "Softsign": Spec(
        lambda x, a, b: x / (1 + np.abs(x)), lambda x, y, a, b: 1 / (1 + np.abs(x)) ** 2
    ),
    "Softplus": Spec(_softplus, lambda x, y, a, b: _sigmoid(x, a, b)),
}

_BY_LOWER = {name.lower(): name for name in REGISTRY}


@dataclass(frozen=True)
class Activation:
    """A registry entry bound to its alpha and beta (a gate's activation)."""

    name: str
    alpha: float = 0.0
    beta: float = 0.0

    def __call__(self, x: Array) -> Array:
        """f(x), in x's dtype."""
        y = REGISTRY[self.name].forward(x, self.alpha, self.beta)
        return np.asarray(y, dtype=x.dtype)

    def derivative(self, x: Array, y: Array) -> Array:
        """f'(x), given the input x and the output y = f(x)."""
        d = REGISTRY[self.name].derivative(x, y, self.alpha, self.beta)
        return np.asarray(d, dtype=x.dtype)


def canonical_name(value: object) -> str | None:
    """The registry's spelling of an activation name (case-insensitive), or None."""
    if not isinstance(value, str):
        return None
    return _BY_LOWER.get(value.lower())


def bind(
    names: Sequence[str], alphas: Sequence[float], betas: Sequence[float]
) -> tuple[Activation, ...]:
    """Bind each activation to its alpha/beta, consuming the lists in order as ONNX does.

    An activation that takes alpha (beta) takes the next unused value of `alphas`
    (`betas`), or its default when the list is used up; one that takes none consumes none.
    """
    alpha_iter, beta_iter = iter(alphas), iter(betas)
    bound = []
    for name in names:
        spec = REGISTRY[name]
        alpha = 0.0 if spec.alpha is None else float(next(alpha_iter, spec.alpha))
        beta = 0.0 if spec.beta is None else float(next(beta_iter, spec.beta))
        bound.append(Activation(name, alpha, beta))
    return tuple(bound)


def uses_parameters(names: Sequence[str]) -> tuple[int, int]:
    """How many alpha and beta values `names` can consume."""
    specs = [REGISTRY[n] for n in names]
    return sum(s.alpha is not None for s in specs), sum(s.beta is not None for s in specs)
