"""The variants other frameworks define, against the framework that defines them.

ONNX's options (activations with alpha/beta, clip, ``linear_before_reset``, peepholes,
``input_forget``, ``direction="reverse"``) are compared with onnxruntime's own RNN, GRU and
LSTM kernels running the one-node graph `rnn.to_onnx` writes, on random weights large
enough that clipping engages, with and without ``sequence_lens``. Their gradients are checked by
central differences in ``tests/test_backward.py`` (``VARIANT_CASES``). The fused and the
reference form of each kernel must agree, and the defaults must stay PyTorch's.
"""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import numpy as np
import pytest

import rnn
from rnn._activations import REGISTRY


def onnx_run(model: Any, x: np.ndarray, state: Any, lengths: Any) -> list[np.ndarray]:
    """`model` run by onnxruntime's own RNN/GRU/LSTM kernels (float32 only): the graph
    `rnn.to_onnx` writes for a float32 copy, with ``sequence_lens`` and initial states."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from interop_support import run_onnxruntime

    copy = type(model)(**(model._arguments() | {"dtype": "float32"}))
    copy.load_state_dict(model.state_dict())
    proto = rnn.to_onnx(copy.eval(), None, lengths=lengths is not None, initial_states=True)
    states = state if isinstance(state, tuple) else (state,)
    feeds = {"input": x.astype(np.float32)}
    feeds |= {name: s.astype(np.float32) for name, s in zip(("h0", "c0"), states)}
    if lengths is not None:
        feeds["lengths"] = np.asarray(lengths, np.int32)
    return run_onnxruntime(proto, feeds)


def ours(model: Any, x: np.ndarray, state: Any, lengths: Any) -> list[np.ndarray]:
    """Our output and final states, flattened."""
    output, final = model(x, state, lengths=lengths)
    return [output, *(final if isinstance(final, tuple) else (final,))]


def random_model(cls: Any, seed: int, **options: Any) -> Any:
    """A float64 model whose parameters are drawn wider than PyTorch's, so gates saturate
    and clip engages."""
    model = cls(3, 4, dtype=np.float64, seed=seed, **options)
    rng = np.random.default_rng(seed)
    model.load_state_dict(
        {k: rng.uniform(-1.2, 1.2, v.shape) for k, v in model.state_dict().items()}
    )
    return model.eval()


def random_state(model: Any, batch: int, rng: np.random.Generator) -> Any:
    rows = 2 if model.bidirectional else 1
    h = rng.standard_normal((rows, batch, model.hidden_size))
    if isinstance(model, rnn.LSTM):
        return (h, rng.standard_normal((rows, batch, model.hidden_size)))
    return h


def compare_with_onnxruntime(cls: Any, options: dict[str, Any], lengths: Any, seed: int) -> None:
    model = random_model(cls, seed, **options)
    rng = np.random.default_rng(seed + 100)
    x = rng.standard_normal((5, 3, 3)) * 1.5
    state = random_state(model, 3, rng)
    expected = onnx_run(model, x, state, lengths)
    got = ours(model, x, state, lengths)
    assert len(got) == len(expected)
    for name, a, b in zip(("output", "h_n", "c_n"), got, expected):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5, err_msg=name)


DIRECTIONS = [{}, {"go_backwards": True}, {"bidirectional": True}]
LENGTHS = [None, [5, 2, 4]]

ACTIVATION_CASES = [
    (name, alpha, beta)
    for name, spec in REGISTRY.items()
    for alpha, beta in [
        (None, None),
        ([0.7] if spec.alpha is not None else None, [0.3] if spec.beta is not None else None),
    ]
    if (alpha, beta) == (None, None) or alpha or beta
]


@pytest.mark.parametrize(("name", "alpha", "beta"), ACTIVATION_CASES)
@pytest.mark.parametrize("clip", [None, 1.3])
def test_rnn_activations_against_onnxruntime(name, alpha, beta, clip):
    options = {
        "activations": [name],
        "activation_alpha": alpha,
        "activation_beta": beta,
        "clip": clip,
    }
    compare_with_onnxruntime(rnn.RNN, options, [5, 2, 4], seed=1)


@pytest.mark.parametrize("direction", range(len(DIRECTIONS)))
@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize(
    "options",
    [
        {"reset_after": True},
        {"reset_after": False},
        {"reset_after": False, "clip": 0.9},
        {"reset_after": True, "clip": 0.9, "activations": ["HardSigmoid", "Softsign"]},
        {"reset_after": False, "bias": False, "activations": ["Sigmoid", "Relu"]},
    ],
    ids=["after", "before", "before-clip", "after-clip-acts", "before-nobias-relu"],
)
def test_gru_against_onnxruntime(direction, lengths, options):
    compare_with_onnxruntime(rnn.GRU, options | DIRECTIONS[direction], lengths, seed=2 + direction)


@pytest.mark.parametrize("direction", range(len(DIRECTIONS)))
@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"peephole": True},
        {"input_forget": True},
        {"peephole": True, "input_forget": True, "clip": 1.1},
        {
            "clip": 0.8,
            "activations": ["HardSigmoid", "Elu", "Softsign"],
            "activation_alpha": [0.25, 0.6],
        },
    ],
    ids=["plain", "peephole", "coupled", "peephole-coupled-clip", "clip-acts"],
)
def test_lstm_against_onnxruntime(direction, lengths, options):
    compare_with_onnxruntime(rnn.LSTM, options | DIRECTIONS[direction], lengths, seed=3 + direction)


def test_per_direction_activations_against_onnxruntime():
    options = {
        "bidirectional": True,
        "activations": ["Sigmoid", "Tanh", "Tanh", "HardSigmoid", "Softsign", "Elu"],
        "activation_alpha": [0.3, 0.5],
        "activation_beta": [0.45],
    }
    compare_with_onnxruntime(rnn.LSTM, options, [5, 1, 3], seed=9)


VARIANTS = {
    "rnn": (rnn.RNN, {"clip": 1e30}),
    "rnn-relu": (rnn.RNN, {"nonlinearity": "relu", "clip": 1e30}),
    "gru": (rnn.GRU, {"clip": 1e30}),
    "lstm": (rnn.LSTM, {"clip": 1e30}),
    "lstm-proj": (rnn.LSTM, {"proj_size": 2, "clip": 1e30}),
}


@pytest.mark.parametrize("kind", VARIANTS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_reference_form_equals_fused_form(kind, bidirectional):
    """A clip no value reaches sends the kernels down their reference form: it must give
    PyTorch's model, as the fused form does, forward and backward."""
    cls, options = VARIANTS[kind]
    kwargs = {"num_layers": 2, "bidirectional": bidirectional, "dtype": np.float64, "seed": 4}
    fused = cls(3, 4, **kwargs, **{k: v for k, v in options.items() if k != "clip"})
    reference = cls(3, 4, **kwargs, **options)
    assert fused._layout.kernel.fused and not reference._layout.kernel.fused
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 3))
    runs = []
    for model in (fused, reference):
        output, _ = model(x, lengths=[6, 2, 4])
        runs.append((output, model.backward(np.cos(output))))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-13, atol=1e-14)
    for key in runs[0][1]:
        np.testing.assert_allclose(
            runs[0][1][key], runs[1][1][key], rtol=1e-11, atol=1e-13, err_msg=key
        )


def test_merge_modes_combine_the_concatenated_directions():
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    concat = rnn.GRU(3, 4, bidirectional=True, dtype=np.float64, seed=5)
    both, _ = concat(x, lengths=[5, 3])
    forward, backward = both[..., :4], both[..., 4:]
    expected = {
        "sum": forward + backward,
        "mul": forward * backward,
        "ave": (forward + backward) / 2,
    }
    for mode, want in expected.items():
        merged = rnn.GRU(3, 4, bidirectional=True, merge_mode=mode, dtype=np.float64, seed=5)
        np.testing.assert_array_equal(merged(x, lengths=[5, 3])[0], want)
    apart = rnn.GRU(3, 4, bidirectional=True, merge_mode=None, dtype=np.float64, seed=5)
    (f, b), _ = apart(x, lengths=[5, 3])
    np.testing.assert_array_equal(f, forward)
    np.testing.assert_array_equal(b, backward)


def test_merged_layers_take_the_merged_width():
    model = rnn.LSTM(3, 4, num_layers=3, bidirectional=True, proj_size=2, merge_mode="sum")
    assert model.weight_ih_l1.shape == (16, 2)
    assert model(np.zeros((2, 1, 3)))[0].shape == (2, 1, 2)


def test_go_backwards_is_the_reverse_half_of_a_bidirectional_layer():
    """Reverse-only equals the reverse direction of a bidirectional layer with the same
    weights, in time order (ONNX's ``direction="reverse"``)."""
    x = np.random.default_rng(2).standard_normal((6, 3, 3))
    both = rnn.LSTM(3, 4, bidirectional=True, dtype=np.float64, seed=6)
    backwards = rnn.LSTM(3, 4, go_backwards=True, dtype=np.float64, seed=6)
    sd = both.state_dict()
    backwards.load_state_dict(
        {k[: -len("_reverse")]: v for k, v in sd.items() if k.endswith("_reverse")}
    )
    out_both, (h_both, c_both) = both(x, lengths=[6, 1, 4])
    out_back, (h_back, c_back) = backwards(x, lengths=[6, 1, 4])
    np.testing.assert_array_equal(out_back, out_both[..., 4:])
    np.testing.assert_array_equal(h_back, h_both[1:])
    np.testing.assert_array_equal(c_back, c_both[1:])


def test_defaults_keep_pytorchs_parameters_exactly():
    for cls in (rnn.RNN, rnn.GRU, rnn.LSTM):
        assert list(cls(3, 4, num_layers=2, bidirectional=True).state_dict()) == [
            f"{kind}_l{k}{s}"
            for k, s, kind in itertools.product(
                range(2), ["", "_reverse"], ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
            )
        ]
    peep = rnn.LSTM(3, 4, bidirectional=True, peephole=True)
    assert peep.weight_ch_l0.shape == peep.weight_ch_l0_reverse.shape == (12,)


@pytest.mark.parametrize(
    ("cls", "options", "error", "message"),
    [
        (rnn.RNN, {"activations": ["Swish"]}, ValueError, "Unknown activation 'Swish'"),
        (rnn.RNN, {"activations": "Tanh"}, TypeError, "activations must be a list"),
        (rnn.GRU, {"activations": ["Sigmoid"]}, ValueError, "must list 2 names"),
        (rnn.LSTM, {"bidirectional": True, "activations": ["Sigmoid"] * 4}, ValueError, "3 or 6"),
        (rnn.RNN, {"nonlinearity": "relu", "activations": ["Tanh"]}, ValueError, "disagree"),
        (rnn.RNN, {"activations": ["Tanh"], "activation_alpha": [1.0]}, ValueError, "take 0"),
        (rnn.RNN, {"activations": ["Elu"], "activation_alpha": ["a"]}, TypeError, "real numbers"),
        (rnn.GRU, {"clip": 0}, ValueError, "clip must be None or a positive number"),
        (rnn.GRU, {"clip": True}, ValueError, "clip must be None or a positive number"),
        (rnn.LSTM, {"go_backwards": True, "bidirectional": True}, ValueError, "go_backwards"),
        (rnn.GRU, {"merge_mode": "max"}, ValueError, "merge_mode must be one of"),
        (rnn.GRU, {"merge_mode": None}, ValueError, "needs bidirectional=True and num_layers=1"),
        (rnn.LSTM, {"peephole": 1}, TypeError, "peephole must be a bool"),
        (rnn.GRU, {"reset_after": "no"}, TypeError, "reset_after must be a bool"),
    ],
)
def test_bad_variant_options_are_refused(cls, options, error, message):
    with pytest.raises(error, match=message):
        cls(3, 4, **options)


def test_nonlinearity_and_activations_agree_on_the_canonical_form():
    relu = rnn.RNN(3, 4, activations=["relu"])
    assert (relu.nonlinearity, relu.activations) == ("relu", None)
    assert rnn.RNN(3, 4, nonlinearity="relu", activations=["Relu"]).activations is None
    assert rnn.GRU(3, 4, activations=["sigmoid", "TANH"]).activations is None
    assert rnn.LSTM(3, 4, activations=["Sigmoid", "Tanh", "Elu"]).activations == [
        "Sigmoid",
        "Tanh",
        "Elu",
    ]


@pytest.mark.parametrize(
    "model",
    [
        rnn.GRU(3, 4, num_layers=2, reset_after=False, clip=2.0, seed=1),
        rnn.LSTM(3, 4, bidirectional=True, peephole=True, merge_mode="ave", seed=1),
        rnn.RNN(3, 4, activations=["LeakyRelu"], activation_alpha=[0.2], go_backwards=True),
        rnn.LSTMCell(3, 4, peephole=True, input_forget=True, seed=2),
    ],
    ids=type,
)
def test_variants_survive_arguments_pickle_and_save(model, tmp_path):
    x = np.random.default_rng(3).standard_normal(
        (4, 2, 3) if not isinstance(model, rnn.LSTMCell) else (2, 3)
    )
    model.eval()
    want = model(x)
    rebuilt = type(model)(**model._arguments())
    rebuilt.load_state_dict(model.state_dict())
    copies = [rebuilt.eval(), pickle.loads(pickle.dumps(model))]
    rnn.save(model, tmp_path / "m.npz")
    copies.append(rnn.load(tmp_path / "m.npz").eval())
    for copy in copies:
        assert repr(copy) == repr(model)
        got = copy(x)
        for a, b in zip(_flat(got), _flat(want)):
            np.testing.assert_array_equal(a, b)


def _flat(result: Any) -> list[np.ndarray]:
    if isinstance(result, tuple):
        return [a for part in result for a in _flat(part)]
    return [result]
