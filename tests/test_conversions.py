"""The weight conversions on the docs' "Gate orders across frameworks" page, against ONNX Runtime.

``docs/examples/conversions_onnx.py`` turns ONNX's W, R, B into an ``rnn`` state_dict and
restates ONNX's equations in numpy. Here a real bidirectional ONNX GRU and LSTM node, run
by onnxruntime (float32), checks both: the page's numpy equations and the converted
``rnn`` model must give onnxruntime's outputs. Skipped without onnx and onnxruntime.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import rnn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "conversions_onnx.py"
T, N, H_IN, H, D = 6, 3, 4, 5, 2  # steps, batch, input size, hidden size, directions
F32 = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(scope="module")
def page() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conversions_onnx", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_onnx(op: str, feeds: dict[str, np.ndarray], outputs: list[str], **attributes: object):
    """One bidirectional ONNX `op` node over `feeds`, run by onnxruntime on one thread.

    The node's inputs are X, W, R, B, sequence_lens (omitted), then the initial states.
    """
    f32 = onnx.TensorProto.FLOAT
    names = ["X", "W", "R", "B", "", *[k for k in feeds if k.startswith("initial_")]]
    node = onnx.helper.make_node(
        op, names, outputs, hidden_size=H, direction="bidirectional", **attributes
    )
    graph = onnx.helper.make_graph(
        [node],
        op.lower(),
        [onnx.helper.make_tensor_value_info(k, f32, v.shape) for k, v in feeds.items()],
        [onnx.helper.make_tensor_value_info(k, f32, None) for k in outputs],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 14)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options)
    return session.run(outputs, {k: v.astype(np.float32) for k, v in feeds.items()})


def onnx_feeds(gates: int, states: int, seed: int) -> dict[str, np.ndarray]:
    """Random ONNX-layout inputs of a bidirectional node, exactly representable in float32."""
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(H)
    feeds = {
        "X": rng.standard_normal((T, N, H_IN)),
        "W": rng.uniform(-bound, bound, (D, gates * H, H_IN)),
        "R": rng.uniform(-bound, bound, (D, gates * H, H)),
        "B": rng.uniform(-bound, bound, (D, 2 * gates * H)),
    }
    for name in ("initial_h", "initial_c")[:states]:
        feeds[name] = rng.standard_normal((D, N, H))
    return {k: v.astype(np.float32).astype(np.float64) for k, v in feeds.items()}


def converted(cls: type, page: ModuleType, feeds: dict[str, np.ndarray], order: list[int]):
    """An ``rnn`` model holding the ONNX node's weights, through the page's converter."""
    model = cls(H_IN, H, bidirectional=True, dtype=np.float64, seed=0)
    model.load_state_dict(page.onnx_to_state_dict(feeds["W"], feeds["R"], feeds["B"], order))
    return model


def as_rnn_output(Y: np.ndarray) -> np.ndarray:
    """ONNX's Y [T, D, N, H] as rnn's output (T, N, D*H)."""
    return Y.transpose(0, 2, 1, 3).reshape(T, N, D * H)


def test_gru_conversion_matches_onnxruntime(page: ModuleType) -> None:
    feeds = onnx_feeds(gates=3, states=1, seed=0)
    Y, Y_h = run_onnx("GRU", feeds, ["Y", "Y_h"], linear_before_reset=1)
    reference = page.onnx_gru(*(feeds[k] for k in ("X", "W", "R", "B", "initial_h")))
    np.testing.assert_allclose(reference[0], Y, **F32)
    np.testing.assert_allclose(reference[1], Y_h, **F32)
    model = converted(rnn.GRU, page, feeds, page.ONNX_GRU_ORDER)
    output, h_n = model(feeds["X"], feeds["initial_h"])
    np.testing.assert_allclose(output, as_rnn_output(Y), **F32)
    np.testing.assert_allclose(h_n, Y_h, **F32)


def test_lstm_conversion_matches_onnxruntime(page: ModuleType) -> None:
    feeds = onnx_feeds(gates=4, states=2, seed=1)
    Y, Y_h, Y_c = run_onnx("LSTM", feeds, ["Y", "Y_h", "Y_c"])
    args = (feeds[k] for k in ("X", "W", "R", "B", "initial_h", "initial_c"))
    reference = page.onnx_lstm(*args)
    for mine, theirs in zip(reference, (Y, Y_h, Y_c)):
        np.testing.assert_allclose(mine, theirs, **F32)
    model = converted(rnn.LSTM, page, feeds, page.ONNX_LSTM_ORDER)
    output, (h_n, c_n) = model(feeds["X"], (feeds["initial_h"], feeds["initial_c"]))
    np.testing.assert_allclose(output, as_rnn_output(Y), **F32)
    np.testing.assert_allclose(h_n, Y_h, **F32)
    np.testing.assert_allclose(c_n, Y_c, **F32)


def test_a_naive_copy_disagrees_with_onnxruntime() -> None:
    # The reason the page exists: ONNX's GRU rows are z, r, h; copied as is, they are wrong.
    feeds = onnx_feeds(gates=3, states=1, seed=2)
    Y, _ = run_onnx("GRU", feeds, ["Y", "Y_h"], linear_before_reset=1)
    model = rnn.GRU(H_IN, H, bidirectional=True, dtype=np.float64, seed=0)
    naive = {}
    for d, suffix in enumerate(("_l0", "_l0_reverse")):
        w_b, r_b = np.split(feeds["B"][d], 2)
        naive |= {f"weight_ih{suffix}": feeds["W"][d], f"weight_hh{suffix}": feeds["R"][d]}
        naive |= {f"bias_ih{suffix}": w_b, f"bias_hh{suffix}": r_b}
    model.load_state_dict(naive)
    output, _ = model(feeds["X"], feeds["initial_h"])
    assert np.abs(output - as_rnn_output(Y)).max() > 1e-2
