"""Optimisers and clipping: hand-computed updates and parity with torch.optim."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnn
from rnn import SGD, Adam, clip_grad_norm


def random_grads(model: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
    grads = {name: rng.normal(size=p.shape) for name, p in model.named_parameters()}
    return grads | {"input": rng.normal(size=(3,)), "h0": rng.normal(size=(2,))}


def test_sgd_plain_step_by_hand() -> None:
    model = rnn.RNNCell(2, 3, dtype=np.float64, seed=0)
    before = model.state_dict()
    grads = random_grads(model, np.random.default_rng(0))
    SGD(model, lr=0.5).step(grads)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p, before[name] - 0.5 * grads[name])


def test_sgd_momentum_by_hand() -> None:
    model = rnn.RNNCell(1, 1, bias=False, dtype=np.float64, seed=0)
    (w0,) = (p.copy() for _, p in model.named_parameters() if _ == "weight_hh")
    opt = SGD(model, lr=0.1, momentum=0.9)
    grads = {"weight_ih": np.ones((1, 1)), "weight_hh": np.ones((1, 1))}
    opt.step(grads)  # buffer 1
    opt.step(grads)  # buffer 0.9 * 1 + 1 = 1.9
    np.testing.assert_allclose(model.weight_hh, w0 - 0.1 * (1 + 1.9), rtol=1e-15)


def test_parameters_stay_read_only_and_dtype() -> None:
    model = rnn.GRU(2, 3, seed=0)  # float32
    Adam(model, lr=0.1).step(random_grads(model, np.random.default_rng(0)))
    for _, p in model.named_parameters():
        assert p.dtype == np.float32
        assert not p.flags.writeable


def test_step_invalidates_prepared_weights() -> None:
    """The next forward pass must use the new parameters, not cached old ones."""
    model = rnn.RNN(2, 3, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).normal(size=(4, 1, 2))
    before, _ = model(x)
    model.backward(np.ones_like(before))
    SGD(model, lr=1.0).step(random_grads(model, np.random.default_rng(1)))
    after, _ = model(x)
    fresh = rnn.RNN(2, 3, dtype=np.float64)
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(after, fresh(x)[0])
    assert not np.allclose(after, before)


@pytest.mark.parametrize("make", [lambda m: SGD(m, lr=0.1), lambda m: Adam(m)])
def test_step_checks_keys(make: Any) -> None:
    model = rnn.RNNCell(2, 3, seed=0)
    opt = make(model)
    grads = random_grads(model, np.random.default_rng(0))
    del grads["bias_hh"]
    with pytest.raises(ValueError, match=r"missing \['bias_hh'\], unexpected \[\]"):
        opt.step(grads)
    grads = random_grads(model, np.random.default_rng(0)) | {"weight_hh_l0": np.zeros((3, 3))}
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['weight_hh_l0'\]"):
        opt.step(grads)


def test_hyperparameters_are_checked() -> None:
    model = rnn.RNNCell(1, 1, seed=0)
    with pytest.raises(ValueError, match=r"lr must be a number >= 0; got -0\.1"):
        SGD(model, lr=-0.1)
    with pytest.raises(ValueError, match="momentum must be a number >= 0; got -1"):
        SGD(model, lr=0.1, momentum=-1)
    with pytest.raises(
        ValueError, match=r"betas must be two numbers in \[0, 1\); got \(0.9, 1.0\)"
    ):
        Adam(model, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps must be a number >= 0"):
        Adam(model, eps=float("nan"))


def run_torch_optimizer(
    model: Any, make: Any, grads: list[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    torch = pytest.importorskip("torch")
    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.state_dict().items()}
    opt = make(list(params.values()))
    for g in grads:
        for name, p in params.items():
            p.grad = torch.tensor(g[name])
        opt.step()
    return {k: v.detach().numpy() for k, v in params.items()}


SETTINGS = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("adam", {"lr": 0.003, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("kind", "kwargs"), SETTINGS)
def test_against_torch_optim(kind: str, kwargs: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    model = rnn.LSTM(3, 4, num_layers=2, proj_size=2, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    grads = [random_grads(model, rng) for _ in range(5)]
    torch_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[kind]
    expected = run_torch_optimizer(model, lambda ps: torch_class(ps, **kwargs), grads)
    opt = {"sgd": SGD, "adam": Adam}[kind](model, **kwargs)
    for g in grads:
        opt.step(g)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p, expected[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_clip_grad_norm_by_hand() -> None:
    grads = {"a": np.array([3.0]), "b": np.array([[4.0]]), "input": np.array([100.0])}
    clipped, norm = clip_grad_norm(grads, max_norm=2.5)
    assert norm == 5.0
    coef = 2.5 / (5.0 + 1e-6)
    np.testing.assert_array_equal(clipped["a"], [3.0 * coef])
    np.testing.assert_array_equal(clipped["b"], [[4.0 * coef]])
    assert clipped["input"] is grads["input"]
    np.testing.assert_array_equal(grads["a"], [3.0])  # the input is not modified


def test_clip_grad_norm_leaves_small_gradients() -> None:
    grads = {"a": np.array([0.3, 0.4], np.float32)}
    clipped, norm = clip_grad_norm(grads, max_norm=1.0)
    assert norm == pytest.approx(0.5)
    np.testing.assert_array_equal(clipped["a"], grads["a"])
    assert clipped["a"].dtype == np.float32
    assert clipped["a"] is not grads["a"]


def test_clip_grad_norm_checks_max_norm() -> None:
    with pytest.raises(ValueError, match="max_norm must be a number > 0; got 0"):
        clip_grad_norm({}, 0)


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clip_grad_norm_against_torch(max_norm: float) -> None:
    torch = pytest.importorskip("torch")
    model = rnn.GRU(3, 4, num_layers=2, dtype=np.float64, seed=0)
    grads = random_grads(model, np.random.default_rng(3))
    tensors = []
    for name, _ in model.named_parameters():
        t = torch.zeros(grads[name].shape, dtype=torch.float64, requires_grad=True)
        t.grad = torch.tensor(grads[name])
        tensors.append(t)
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    clipped, norm = clip_grad_norm(grads, max_norm)
    assert norm == pytest.approx(expected_norm.item(), rel=1e-14)
    for (name, _), t in zip(model.named_parameters(), tensors):
        np.testing.assert_allclose(clipped[name], t.grad.numpy(), rtol=1e-14, err_msg=name)
