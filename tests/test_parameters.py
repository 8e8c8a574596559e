"""Parameters: PyTorch's names, order and shapes; the initial draw; attribute access."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import rnn

CONFIGS = [
    (cls, layers, bidirectional, bias, proj)
    for cls, layers, bidirectional, bias, proj in itertools.product(
        (rnn.RNN, rnn.GRU, rnn.LSTM), (1, 3), (False, True), (True, False), (0, 2)
    )
    if proj == 0 or cls is rnn.LSTM
]


def build(cls, layers, bidirectional, bias, proj, **kwargs):
    extra = {"proj_size": proj} if cls is rnn.LSTM else {}
    return cls(3, 5, layers, bias=bias, bidirectional=bidirectional, **extra, **kwargs)


@pytest.mark.parametrize(("cls", "layers", "bidirectional", "bias", "proj"), CONFIGS)
def test_names_order_and_shapes_match_torch(cls, layers, bidirectional, bias, proj):
    torch = pytest.importorskip("torch")
    model = build(cls, layers, bidirectional, bias, proj, seed=0)
    extra = {"proj_size": proj} if cls is rnn.LSTM else {}
    twin = getattr(torch.nn, cls.__name__)(
        3, 5, layers, bias=bias, bidirectional=bidirectional, **extra
    )
    expected = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    assert [(k, v.shape) for k, v in model.state_dict().items()] == expected


@pytest.mark.parametrize("cls", [rnn.RNNCell, rnn.GRUCell, rnn.LSTMCell])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_names_match_torch(cls, bias):
    torch = pytest.importorskip("torch")
    twin = getattr(torch.nn, cls.__name__)(3, 5, bias=bias)
    expected = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    assert [(k, v.shape) for k, v in cls(3, 5, bias=bias).state_dict().items()] == expected


def test_lstm_layout_by_hand():
    model = rnn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    layer0 = {"weight_ih": (20, 3), "weight_hh": (20, 2), "bias_ih": (20,), "bias_hh": (20,)}
    layer1 = layer0 | {"weight_ih": (20, 4)}  # reads both directions' projected outputs
    expected = {}
    for k, kinds in enumerate((layer0, layer1)):
        for suffix in ("", "_reverse"):
            expected |= {f"{name}_l{k}{suffix}": shape for name, shape in kinds.items()}
            expected[f"weight_hr_l{k}{suffix}"] = (2, 5)
    assert shapes == expected
    assert list(shapes)[:5] == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "weight_hr_l0",
    ]


@pytest.mark.parametrize(("cls", "layers", "bidirectional", "bias", "proj"), CONFIGS)
def test_initial_values_within_bound(cls, layers, bidirectional, bias, proj):
    model = build(cls, layers, bidirectional, bias, proj, dtype=np.float64, seed=0)
    bound = 1 / np.sqrt(5)  # hidden_size, even with proj_size
    values = np.concatenate([p.ravel() for p in model.parameters()])
    assert np.all(np.abs(values) <= bound)
    assert values.min() < -0.9 * bound
    assert values.max() > 0.9 * bound
    assert abs(values.mean()) < 0.1 * bound


def test_seed_reproduces_and_differs():
    a, b, c = (rnn.GRU(3, 5, num_layers=2, seed=s).state_dict() for s in (0, 0, 1))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k])
    from_generator = rnn.GRU(3, 5, num_layers=2, seed=np.random.default_rng(0)).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], from_generator[k])


def test_float32_draws_are_the_float64_draws_rounded():
    single = rnn.LSTM(3, 5, proj_size=2, dtype=np.float32, seed=4).state_dict()
    double = rnn.LSTM(3, 5, proj_size=2, dtype=np.float64, seed=4).state_dict()
    for k in single:
        assert single[k].dtype == np.float32
        np.testing.assert_array_equal(single[k], double[k].astype(np.float32))


def test_no_global_random_state():
    before = np.random.get_state()  # noqa: NPY002 (the legacy global state is the point)
    for seed in (1, None):
        model = rnn.GRU(3, 5, num_layers=2, dropout=0.5, seed=seed)
        model(np.ones((4, 2, 3)))
    after = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(after[1], before[1])
    assert after[2:] == before[2:]


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.LSTMCell])
def test_parameter_views_agree(cls):
    model = cls(3, 5, seed=0)
    sd = model.state_dict()
    named = dict(model.named_parameters())
    assert list(named) == list(sd)
    assert [p.shape for p in model.parameters()] == [v.shape for v in sd.values()]
    for name, value in named.items():
        assert getattr(model, name) is value
        np.testing.assert_array_equal(value, sd[name])


def test_unknown_attribute():
    message = "'GRU' object has no attribute 'weight_ih_l1'"
    with pytest.raises(AttributeError, match=f"^{re.escape(message)}$"):
        rnn.GRU(3, 5).weight_ih_l1  # noqa: B018
