"""rnn.from_torch / rnn.to_torch: every configuration, forward and gradients against autograd.

Skipped without torch.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np
import pytest
from interop_support import as_hx, flat_finals, sequence, states, tolerance
from layer_kinds import KINDS, make

import rnn

torch = pytest.importorskip("torch")

CONFIGS = [
    dict(num_layers=k, bidirectional=b, batch_first=f, bias=bias)
    for k, b, f, bias in itertools.product([1, 2], [False, True], [False, True], [True, False])
]


def torch_run(module: Any, x: np.ndarray, initial: tuple[np.ndarray, ...], grads: list[np.ndarray]):
    """torch's output, final states and the gradients of sum(output*G) + sum(h_n*G_h) + ..."""
    x_t = torch.from_numpy(x).requires_grad_()
    init = [torch.from_numpy(s).requires_grad_() for s in initial]
    output, finals = module(x_t, tuple(init) if len(init) == 2 else init[0])
    finals = finals if isinstance(finals, tuple) else (finals,)
    loss = sum((t * torch.from_numpy(g)).sum() for t, g in zip((output, *finals), grads))
    loss.backward()
    result = {"input": x_t.grad, "h0": init[0].grad} | (
        {"c0": init[1].grad} if len(init) == 2 else {}
    )
    result |= {k: p.grad for k, p in module.named_parameters()}
    values = [output, *finals]
    return [v.detach().numpy() for v in values], {k: v.numpy() for k, v in result.items()}


# torch's float32 LSTM with projections says it falls back from oneDNN: not our concern.
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("kind", KINDS)
def test_to_torch_matches_forward_and_gradients(kind: str, config: dict, dtype: Any) -> None:
    rng = np.random.default_rng(0)
    model = make(kind, 3, 4, dtype=dtype, seed=1, **config)
    module = rnn.to_torch(model)
    assert type(module).__name__ == type(model).__name__
    assert next(module.parameters()).dtype == getattr(torch, np.dtype(dtype).name)
    x = sequence(model, 5, 2, rng)
    initial = states(model, 2, rng)
    output, finals = model(x, as_hx(model, initial))
    grads = [rng.standard_normal(v.shape).astype(dtype) for v in (output, *flat_finals(finals))]
    theirs, their_grads = torch_run(module, x, initial, grads)
    for mine, ref in zip((output, *flat_finals(finals)), theirs):
        np.testing.assert_allclose(mine, ref, **tolerance(dtype))
    g_finals = tuple(grads[1:]) if isinstance(model, rnn.LSTM) else grads[1]
    my_grads = model.backward(grads[0], g_finals)
    assert set(their_grads) <= set(my_grads)
    for name, ref in their_grads.items():
        np.testing.assert_allclose(my_grads[name], ref, **tolerance(dtype), err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("config", CONFIGS[::3], ids=str)
def test_from_torch_copies_configuration_and_parameters(kind: str, config: dict) -> None:
    torch.manual_seed(0)
    model = make(kind, 3, 4, dtype=np.float64, **config)
    module = rnn.to_torch(model)  # a torch module of every configuration
    for p in module.parameters():  # new values, drawn by torch
        p.data.uniform_(-1, 1)
    copy = rnn.from_torch(module)
    assert type(copy) is type(model) and repr(copy) == repr(model)
    assert copy.dtype == np.float64
    state = copy.state_dict()
    assert list(state) == [k for k, _ in module.named_parameters()]
    for name, p in module.named_parameters():
        np.testing.assert_array_equal(state[name], p.detach().numpy())


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_from_torch_rnn_keeps_nonlinearity_dropout_and_training_flag(nonlinearity: str) -> None:
    module = torch.nn.RNN(3, 4, num_layers=3, nonlinearity=nonlinearity, dropout=0.25)
    module.eval()
    model = rnn.from_torch(module)
    assert (model.nonlinearity, model.dropout, model.training) == (nonlinearity, 0.25, False)
    assert model.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(
        model(x)[0], module(torch.from_numpy(x))[0].detach(), **tolerance(np.float32)
    )
    assert rnn.to_torch(model).training is False


@pytest.mark.parametrize("cls", ["RNNCell", "GRUCell", "LSTMCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_both_ways(cls: str, bias: bool) -> None:
    torch.manual_seed(0)
    kwargs = {"nonlinearity": "relu"} if cls == "RNNCell" else {}
    module = getattr(torch.nn, cls)(3, 5, bias=bias, dtype=torch.float64, **kwargs)
    cell = rnn.from_torch(module)
    assert type(cell) is getattr(rnn, cls) and cell.bias is bias
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
    hx = (h, rng.standard_normal((2, 5))) if cls == "LSTMCell" else h
    theirs = module(
        torch.from_numpy(x),
        tuple(map(torch.from_numpy, hx)) if cls == "LSTMCell" else torch.from_numpy(h),
    )
    mine = cell(x, hx)
    for a, b in zip(flat_finals(mine), flat_finals(theirs)):
        np.testing.assert_allclose(a, b.detach().numpy(), **tolerance(np.float64))
    back = rnn.to_torch(cell)
    assert type(back) is type(module) and back.bias == bias
    for (name, p), (name2, q) in zip(back.named_parameters(), module.named_parameters()):
        assert name == name2 and torch.equal(p, q)


def test_from_torch_refuses_other_modules_and_dtypes() -> None:
    class MyLSTM(torch.nn.LSTM):
        pass

    with pytest.raises(TypeError, match=r"torch.nn.RNN, GRU, LSTM.*got MyLSTM"):
        rnn.from_torch(MyLSTM(2, 3))
    with pytest.raises(TypeError, match="got Linear"):
        rnn.from_torch(torch.nn.Linear(2, 3))
    with pytest.raises(TypeError, match="float32 or float64 modules; got float16"):
        rnn.from_torch(torch.nn.GRU(2, 3, dtype=torch.float16))


def test_to_torch_refuses_what_is_not_a_model() -> None:
    with pytest.raises(TypeError, match=r"rnn.to_torch expects an rnn.RNN.*got dict"):
        rnn.to_torch({})


@pytest.mark.parametrize(
    ("make_model", "named"),
    [
        (lambda: rnn.GRU(2, 3, reset_after=False), "reset_after=False"),
        (lambda: rnn.LSTM(2, 3, peephole=True), "peephole=True"),
        (lambda: rnn.LSTM(2, 3, input_forget=True), "input_forget=True"),
        (lambda: rnn.RNN(2, 3, clip=1.5), "clip=1.5"),
        (lambda: rnn.GRU(2, 3, activations=["HardSigmoid", "Tanh"]), "activations="),
        (lambda: rnn.LSTM(2, 3, go_backwards=True), "go_backwards=True"),
        (lambda: rnn.GRU(2, 3, bidirectional=True, merge_mode="sum"), "merge_mode='sum'"),
    ],
)
def test_to_torch_refuses_variants_torch_lacks(make_model: Any, named: str) -> None:
    with pytest.raises(ValueError, match=rf"PyTorch has no {named}"):
        rnn.to_torch(make_model())


def test_to_torch_accepts_activations_equal_to_torch_choice() -> None:
    model = rnn.RNN(2, 3, bidirectional=True, activations=["Relu", "Relu"], dtype=np.float64)
    assert rnn.to_torch(model).nonlinearity == "relu"


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(
        ImportError,
        match=r"rnn.to_torch needs torch: pip install torch",
    ):
        rnn.to_torch(rnn.GRU(2, 3))
    with pytest.raises(ImportError, match=r"rnn.from_torch needs torch"):
        rnn.from_torch(object())
