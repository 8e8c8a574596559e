"""Helpers shared by the converter and conformance tests (tests/test_interop_*.py)."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import rnn

F64 = {"rtol": 0, "atol": 1e-12}
F32 = {"rtol": 1e-4, "atol": 1e-5}


def tolerance(dtype: Any) -> dict[str, float]:
    """float64 to ~1e-12, float32 to ~1e-5."""
    return F64 if np.dtype(dtype) == np.float64 else F32


def import_keras() -> ModuleType:
    """Keras 3 on the torch backend (no TensorFlow needed); the test is skipped without it."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on {keras.backend.backend()}; these tests use its torch backend")
    return keras


def run_onnxruntime(proto: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Every output of an ONNX model run by onnxruntime's CPU kernels on one thread."""
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options)
    return [np.asarray(v) for v in session.run(None, feeds)]


def states(model: Any, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Random initial states of a layer model: (h0,) or (h0, c0)."""
    rows = model.num_layers * (2 if model.bidirectional else 1)
    widths = [model.hidden_size]
    if isinstance(model, rnn.LSTM):
        widths = [model.proj_size or model.hidden_size, model.hidden_size]
    return tuple(rng.standard_normal((rows, batch, w)).astype(model.dtype) for w in widths)


def as_hx(model: Any, initial: tuple[np.ndarray, ...]) -> Any:
    """The ``hx`` argument of a model call: h0, or (h0, c0) for an LSTM."""
    return initial if isinstance(model, rnn.LSTM) else initial[0]


def sequence(model: Any, steps: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """A random input of the model's layout."""
    shape = (batch, steps) if model.batch_first else (steps, batch)
    return rng.standard_normal((*shape, model.input_size)).astype(model.dtype)


def flat_finals(finals: Any) -> tuple[np.ndarray, ...]:
    """h_n, or (h_n, c_n), as a tuple."""
    return tuple(finals) if isinstance(finals, tuple) else (finals,)
