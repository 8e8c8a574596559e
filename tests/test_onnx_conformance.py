"""ONNX's own operator test cases for RNN, GRU and LSTM, through rnn.from_onnx.

The ``onnx`` wheel defines them in ``onnx.backend.test.case.node`` (``rnn.py``, ``gru.py``,
``lstm.py``) without their data files: each ``export_*`` function computes the expected
outputs with ONNX's numpy reference and hands node, inputs and outputs to ``expect``,
which is patched here to collect them. W, R and B are graph inputs in these cases, so
they reach `rnn.from_onnx` through its ``weights`` mapping. Skipped without onnx.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from interop_support import as_hx, flat_finals, tolerance

import rnn

onnx = pytest.importorskip("onnx")
helper = onnx.helper


def collect(op: str) -> list[tuple[str, Any, list[np.ndarray], list[np.ndarray]]]:
    """Every (name, node, inputs, expected outputs) of ONNX's test cases for `op`."""
    module = importlib.import_module(f"onnx.backend.test.case.node.{op.lower()}")
    cases = []

    def expect(node: Any, inputs: Any, outputs: Any, name: str, **_: Any) -> None:
        cases.append((name, node, list(inputs), list(outputs)))

    # A few cases draw their weights from numpy's legacy global generator: seed it, and
    # give it back as it was.
    saved_expect, saved_random = module.expect, np.random.get_state()  # noqa: NPY002
    module.expect = expect
    np.random.seed(0)  # noqa: NPY002
    try:
        for attribute in sorted(vars(getattr(module, op))):
            if attribute.startswith("export"):
                getattr(getattr(module, op), attribute)()
    finally:
        module.expect = saved_expect
        np.random.set_state(saved_random)  # noqa: NPY002
    return cases


CASES = [case for op in ("RNN", "GRU", "LSTM") for case in collect(op)]
PARAMS = [pytest.param(*case[1:], id=case[0]) for case in CASES]


def test_every_case_is_collected() -> None:
    ops = sorted({case[1].op_type for case in CASES})
    assert ops == ["GRU", "LSTM", "RNN"] and len(CASES) >= 18


@pytest.mark.parametrize(("node", "inputs", "expected"), PARAMS)
def test_onnx_node_case(node: Any, inputs: list[np.ndarray], expected: list[np.ndarray]) -> None:
    present = [name for name in node.input if name]
    by_role = dict(zip(present, inputs))
    elem = helper.np_dtype_to_tensor_dtype(inputs[0].dtype)
    graph = helper.make_graph(
        [node],
        "case",
        [helper.make_tensor_value_info(n, elem, v.shape) for n, v in by_role.items()],
        [helper.make_tensor_value_info(n, elem, None) for n in node.output if n],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    roles = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    named = dict(zip(roles, node.input))
    weights = {named[r]: by_role[named[r]] for r in ("W", "R", "B", "P") if named.get(r)}
    model = rnn.from_onnx(proto, weights=weights)
    initial = tuple(by_role[named[r]] for r in ("initial_h", "initial_c") if named.get(r))
    lengths = by_role.get(named.get("sequence_lens", ""))
    layout = model.batch_first
    if initial and layout:
        initial = tuple(s.swapaxes(0, 1) for s in initial)  # [N, D, H] -> (D, N, H)
    output, finals = model(
        by_role[named["X"]], as_hx(model, initial) if initial else None, lengths=lengths
    )
    D = 2 if model.bidirectional else 1
    ours = {"Y": output.reshape(*output.shape[:2], D, -1)}  # (L, N, D, H), or (N, L, D, H)
    if not layout:
        ours["Y"] = ours["Y"].transpose(0, 2, 1, 3)  # [L, D, N, H]
    for role, value in zip(("Y_h", "Y_c"), flat_finals(finals)):
        ours[role] = value.swapaxes(0, 1) if layout else value
    outputs = dict(zip(["Y", "Y_h", "Y_c"], node.output))
    compared = 0
    for role, name in outputs.items():
        if name:
            theirs = expected[[n for n in node.output if n].index(name)]
            np.testing.assert_allclose(ours[role], theirs, **tolerance(np.float32), err_msg=role)
            compared += 1
    assert compared == len(expected)
