"""Losses: values by hand, gradients by central differences, parity with torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rnn import cross_entropy, mse_loss


def numerical_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> Any:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def test_mse_by_hand() -> None:
    loss, grad = mse_loss([[1.0, 2.0], [3.0, 5.0]], [[1.0, 0.0], [3.0, 4.0]])
    assert loss == pytest.approx((0 + 4 + 0 + 1) / 4)
    np.testing.assert_allclose(grad, [[0.0, 1.0], [0.0, 0.5]])


@pytest.mark.parametrize("shape", [(1,), (3, 1, 1), (4, 2, 3)])
def test_mse_grad_matches_finite_differences(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    prediction, target = rng.normal(size=shape), rng.normal(size=shape)
    _, grad = mse_loss(prediction, target)
    np.testing.assert_allclose(
        grad, numerical_grad(lambda p: mse_loss(p, target)[0], prediction), atol=1e-9
    )


def test_mse_keeps_float32() -> None:
    loss, grad = mse_loss(np.ones((2, 3), np.float32), np.zeros((2, 3)))
    assert grad.dtype == np.float32
    assert isinstance(loss, float)
    assert loss == 1.0


def test_mse_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"shape of prediction, \(2, 3\); got \(3, 2\)"):
        mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="at least one element"):
        mse_loss(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(TypeError, match="real array"):
        mse_loss(np.array(["a"]), np.zeros(1))


def test_cross_entropy_by_hand() -> None:
    logits = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    loss, grad = cross_entropy(logits, np.array([1, 0]))
    # Row 0: softmax = (1/4, 3/4), -log(3/4); row 1: (1/2, 1/2), -log(1/2).
    assert loss == pytest.approx((-np.log(0.75) - np.log(0.5)) / 2)
    np.testing.assert_allclose(grad, [[0.125, -0.125], [-0.25, 0.25]])


@pytest.mark.parametrize(("batch", "classes"), [(1, 1), (1, 3), (5, 4)])
def test_cross_entropy_grad_matches_finite_differences(batch: int, classes: int) -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(batch, classes)) * 3
    targets = rng.integers(0, classes, size=batch)
    _, grad = cross_entropy(logits, targets)
    numerical = numerical_grad(lambda z: cross_entropy(z, targets)[0], logits)
    np.testing.assert_allclose(grad, numerical, atol=1e-9)
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    logits = np.array([[1000.0, 0.0], [-1000.0, 1000.0]])
    loss, grad = cross_entropy(logits, np.array([1, 1]))
    assert loss == pytest.approx(500.0)
    np.testing.assert_allclose(grad, [[0.5, -0.5], [0.0, 0.0]])


def test_cross_entropy_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\).*got \(3,\)"):
        cross_entropy(np.zeros(3), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"targets must have shape \(N=2,\); got \(3,\)"):
        cross_entropy(np.zeros((2, 4)), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"targets must be in 0 \.\. 3 \(C=4\); got 4"):
        cross_entropy(np.zeros((2, 4)), np.array([0, 4]))
    with pytest.raises(ValueError, match="got -1"):
        cross_entropy(np.zeros((2, 4)), np.array([-1, 0]))
    with pytest.raises(TypeError, match="integer class indices; got dtype float64"):
        cross_entropy(np.zeros((2, 4)), np.zeros(2))


def test_against_torch() -> None:
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(2)

    prediction, target = rng.normal(size=(6, 3, 2)), rng.normal(size=(6, 3, 2))
    p = torch.tensor(prediction, requires_grad=True)
    expected = functional.mse_loss(p, torch.tensor(target))
    expected.backward()
    loss, grad = mse_loss(prediction, target)
    assert loss == pytest.approx(expected.item(), rel=1e-14)
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-14, atol=1e-16)

    logits, targets = rng.normal(size=(7, 5)) * 10, rng.integers(0, 5, size=7)
    z = torch.tensor(logits, requires_grad=True)
    expected = functional.cross_entropy(z, torch.tensor(targets))
    expected.backward()
    loss, grad = cross_entropy(logits, targets)
    assert loss == pytest.approx(expected.item(), rel=1e-13)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-12, atol=1e-16)
