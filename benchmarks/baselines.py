"""The implementations `run.py` times against `rnn`, each built from an `rnn` model's weights.

Every builder takes a model (``rnn.RNN``, ``rnn.GRU`` or ``rnn.LSTM``) and an input
``x`` of shape (L, N, H_in) and returns a callable without arguments that runs one
forward pass and returns ``(output, h_n)`` as numpy arrays, ``output`` of shape
(L, N, D*H) and ``h_n`` of shape (D*num_layers, N, H), so every implementation can be
checked against ``model(x)`` before it is timed. No builder draws weights of its own.

- `sketch`: the loop of the original sketch (state as columns ``(H, N)``, per step
  ``tanh(W_ih @ x_t.T + W_hh @ h)``), with the model's biases added; Elman tanh only.
- `lean_loop`: the leanest numpy loop of the same equations: one input GEMM per
  layer-direction, then per step one recurrent GEMM into a preallocated buffer and the
  fewest in-place ufunc calls.
- `matmul_bound`: the matrix products of a forward pass and nothing else;
  `train_matmul_bound`: those of a training step (forward and backward).
- `torch_forward`, `torch_packed`, `torch_train_step`: PyTorch CPU, same weights.
- `onnx_forward`: onnxruntime's RNN/GRU/LSTM operators, one node per layer.

torch, onnx and onnxruntime are imported inside the builders, so a process that times
only `rnn` never loads their thread pools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import rnn

Forward = Callable[[], tuple[np.ndarray, np.ndarray]]

# Gate blocks of PyTorch's stacked weights, in ONNX's order: GRU r|z|n -> z|r|h,
# LSTM i|f|g|o -> i|o|f|c.
ONNX_GATE_ORDER = {"RNN": [0], "GRU": [1, 0, 2], "LSTM": [0, 3, 1, 2]}


def kind(model: Any) -> str:
    """``"RNN"``, ``"GRU"`` or ``"LSTM"``."""
    return type(model).__name__


def _param_names(model: Any, layer: int, direction: int) -> dict[str, str]:
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    return {k: k + suffix for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def sketch(model: Any, x: np.ndarray) -> Forward:
    """The original sketch's loop, column layout, with the model's weights and biases.

    The sketch keeps each layer's state as an ``(H, N)`` column block and, at every step,
    multiplies the input step again (``W_ih @ x_t.T``) instead of projecting the whole
    sequence at once. Like the sketch, a unidirectional model runs time in the outer
    loop and layers in the inner one; a bidirectional model needs each layer's whole
    reverse pass before the next layer starts, so it runs layer by layer.
    """
    if kind(model) != "RNN" or model.nonlinearity != "tanh":
        raise ValueError("the sketch is an Elman tanh RNN")
    sd = model.state_dict()
    layers, directions = model.num_layers, 2 if model.bidirectional else 1
    w = [
        [
            (
                sd[n["weight_ih"]],
                sd[n["weight_hh"]],
                sd[n["bias_ih"]][:, None],  # (H, 1): broadcast over the N columns
                sd[n["bias_hh"]][:, None],
            )
            for n in (_param_names(model, k, d) for d in range(directions))
        ]
        for k in range(layers)
    ]
    steps, batch = x.shape[:2]
    size, dtype = model.hidden_size, model.dtype

    def unidirectional() -> tuple[np.ndarray, np.ndarray]:
        hidden = [np.zeros((size, batch), dtype) for _ in range(layers)]
        out = []
        for t in range(steps):
            w_ih, w_hh, b_ih, b_hh = w[0][0]
            hidden[0] = np.tanh(np.dot(w_ih, x[t].T) + b_ih + np.dot(w_hh, hidden[0]) + b_hh)
            for k in range(1, layers):
                w_ih, w_hh, b_ih, b_hh = w[k][0]
                hidden[k] = np.tanh(
                    np.dot(w_ih, hidden[k - 1]) + b_ih + np.dot(w_hh, hidden[k]) + b_hh
                )
            out.append(hidden[-1])
        # (L, H, N) and (layers, H, N) as the sketch returns them, to (L, N, H) / (., N, H)
        return np.array(out).transpose(0, 2, 1), np.array(hidden).transpose(0, 2, 1)

    def bidirectional() -> tuple[np.ndarray, np.ndarray]:
        columns = [x[t].T for t in range(steps)]  # (H_in, N) per step
        finals = []
        for k in range(layers):
            runs = []
            for d, (w_ih, w_hh, b_ih, b_hh) in enumerate(w[k]):
                h = np.zeros((size, batch), dtype)
                run: list[np.ndarray] = [h] * steps
                for t in range(steps - 1, -1, -1) if d else range(steps):
                    h = np.tanh(np.dot(w_ih, columns[t]) + b_ih + np.dot(w_hh, h) + b_hh)
                    run[t] = h
                runs.append(run)
                finals.append(h)
            columns = [np.concatenate([f, r]) for f, r in zip(*runs)]  # (2H, N)
        return np.array(columns).transpose(0, 2, 1), np.array(finals).transpose(0, 2, 1)

    return bidirectional if directions == 2 else unidirectional


def matmul_bound(model: Any, x: np.ndarray) -> Callable[[], None]:
    """The forward pass's matrix products with nothing else: a lower bound.

    Per layer, the input projection of the whole sequence for both directions, then
    ``L`` products ``h @ W_hh^T`` per direction into a preallocated buffer; no bias, no
    nonlinearity, no copies (and no LSTM projection: the benchmark has none).
    """
    sd = model.state_dict()
    layers, directions = model.num_layers, 2 if model.bidirectional else 1
    steps, batch = x.shape[:2]
    dtype, size = model.dtype, model.hidden_size
    plan = []
    layer_input = x.reshape(steps * batch, -1)
    for k in range(layers):
        names = [_param_names(model, k, d) for d in range(directions)]
        w_ih_t = np.ascontiguousarray(np.concatenate([sd[n["weight_ih"]] for n in names]).T)
        w_hh_t = [np.ascontiguousarray(sd[n["weight_hh"]].T) for n in names]
        gates = np.empty((steps * batch, w_ih_t.shape[1]), dtype)
        work = np.empty((batch, w_hh_t[0].shape[1]), dtype)
        h = np.zeros((batch, size), dtype)
        plan.append((layer_input, w_ih_t, gates, w_hh_t, h, work))
        layer_input = np.zeros((steps * batch, directions * size), dtype)

    def run() -> None:
        for layer_input, w_ih_t, gates, w_hh_t, h, work in plan:
            np.dot(layer_input, w_ih_t, out=gates)
            for w in w_hh_t:
                for _ in range(steps):
                    np.dot(h, w, out=work)

    return run


# Gate rows of the lean loop: sigmoid gates first (pre-scaled by 1/2), then the tanh gate.
LEAN_ORDER = {"RNN": [0], "GRU": [0, 1, 2], "LSTM": [0, 1, 3, 2]}  # LSTM i|f|g|o -> i|f|o|g
LEAN_SIGMOIDS = {"RNN": 0, "GRU": 2, "LSTM": 3}


class LeanParameters(NamedTuple):
    """One layer-direction's weights as the lean loop uses them (`lean_parameters`)."""

    layer: int
    direction: int
    w_ih_t: np.ndarray  # (H_in, G*H)
    bias: np.ndarray  # (G*H,)
    w_hh_t: np.ndarray  # (H, G*H)
    b_hn: np.ndarray | None  # (H,), the GRU's only


def lean_parameters(model: Any) -> list[LeanParameters]:
    """The lean loop's weights for each layer-direction, in the order it runs them.

    Gate blocks are reordered (`LEAN_ORDER`) and the sigmoid blocks' rows scaled by 1/2;
    ``bias`` is ``b_ih + b_hh``, except that the GRU's n block takes ``b_in`` alone and
    keeps ``b_hn`` apart (it sits inside ``r * (...)``).
    """
    name = kind(model)
    if getattr(model, "proj_size", 0):
        raise ValueError("the lean loop has no LSTM projection")
    sd = model.state_dict()
    size = model.hidden_size
    order, sigmoids = LEAN_ORDER[name], LEAN_SIGMOIDS[name]
    half = np.array(0.5, model.dtype)

    def rows(a: np.ndarray) -> np.ndarray:
        """Gate blocks reordered, the sigmoid blocks scaled by 1/2."""
        blocks = [a[i * size : (i + 1) * size] for i in order]
        return np.concatenate([b * half if j < sigmoids else b for j, b in enumerate(blocks)])

    plan = []
    for k in range(model.num_layers):
        for d in range(2 if model.bidirectional else 1):
            n = _param_names(model, k, d)
            b_ih, b_hh = rows(sd[n["bias_ih"]]), rows(sd[n["bias_hh"]])
            bias = b_ih + b_hh
            b_hn = None
            if name == "GRU":
                bias[2 * size :] = b_ih[2 * size :]
                b_hn = b_hh[2 * size :].copy()
            w_ih_t = np.ascontiguousarray(rows(sd[n["weight_ih"]]).T)
            w_hh_t = np.ascontiguousarray(rows(sd[n["weight_hh"]]).T)
            plan.append(LeanParameters(k, d, w_ih_t, bias, w_hh_t, b_hn))
    return plan


def lean_loop(model: Any, x: np.ndarray) -> Forward:
    """The leanest in-place numpy loop of the model's equations: a reference for `rnn`.

    Per layer-direction: one GEMM for every step's input part (biases added once), then
    per step one GEMM ``h_{t-1} @ W_hh^T`` into a preallocated buffer and as few
    in-place ufunc calls as the equations allow. Sigmoid gates use
    ``sigmoid(a) = (1 + tanh(a / 2)) / 2`` with their weight rows pre-scaled by 1/2
    (exact: a power of two), so all gates share one ``tanh`` call:

    - Elman: ``h = tanh(g_t + h W_hh^T)``: 3 calls per step (GEMM, add, tanh or maximum);
    - GRU (``r|z|n``): GEMM, add (r, z), 2 calls to finish both sigmoids, add b_hn,
      multiply by r, add the input part, tanh, then ``h = n + z (h - n)`` in 3: 12 calls;
    - LSTM (gates reordered ``i|f|o|g``): GEMM, add, one tanh over all gates, 2 calls to
      finish the sigmoids, ``c = f c + i g`` in 3, ``h = o tanh(c)`` in 2: 10 calls.
    """
    name = kind(model)
    size, dtype = model.hidden_size, model.dtype
    directions = 2 if model.bidirectional else 1
    steps, batch = x.shape[:2]
    half = np.array(0.5, dtype)
    plan = lean_parameters(model)
    width = len(LEAN_ORDER[name]) * size
    gi = np.empty((steps * batch, width), dtype)
    gh = np.empty((batch, width), dtype)
    tmp = np.empty((batch, size), dtype)
    c = np.empty((batch, size), dtype)

    def run() -> tuple[np.ndarray, np.ndarray]:
        layer_input = x.reshape(steps * batch, -1)
        finals = []
        out = np.empty((steps, batch, directions * size), dtype)
        for k, d, w_ih_t, bias, w_hh_t, b_hn in plan:
            if d == 0 and k > 0:
                layer_input = out.reshape(steps * batch, -1)
                out = np.empty((steps, batch, directions * size), dtype)
            np.dot(layer_input, w_ih_t, out=gi)
            np.add(gi, bias, out=gi)
            g = gi.reshape(steps, batch, width)
            h_all = out[:, :, d * size : (d + 1) * size]  # (L, N, H) view of this direction
            h = np.zeros((batch, size), dtype)
            c[...] = 0
            for t in range(steps - 1, -1, -1) if d else range(steps):
                h_new = h_all[t]
                np.dot(h, w_hh_t, out=gh)
                if name == "RNN":
                    np.add(gh, g[t], out=h_new)
                    if model.nonlinearity == "tanh":
                        np.tanh(h_new, out=h_new)
                    else:
                        np.maximum(h_new, 0, out=h_new)
                elif name == "GRU":
                    rz, gh_n = gh[:, : 2 * size], gh[:, 2 * size :]
                    np.add(rz, g[t, :, : 2 * size], out=rz)
                    np.tanh(rz, out=rz)
                    rz *= half
                    rz += half
                    r, z = rz[:, :size], rz[:, size:]
                    gh_n += b_hn
                    gh_n *= r
                    gh_n += g[t, :, 2 * size :]
                    np.tanh(gh_n, out=gh_n)  # n
                    np.subtract(h, gh_n, out=tmp)
                    np.multiply(tmp, z, out=tmp)
                    np.add(gh_n, tmp, out=h_new)
                else:
                    np.add(gh, g[t], out=gh)
                    np.tanh(gh, out=gh)
                    ifo = gh[:, : 3 * size]
                    ifo *= half
                    ifo += half
                    np.multiply(c, gh[:, size : 2 * size], out=c)  # f c
                    np.multiply(gh[:, :size], gh[:, 3 * size :], out=tmp)  # i g
                    np.add(c, tmp, out=c)
                    np.tanh(c, out=tmp)
                    np.multiply(gh[:, 2 * size : 3 * size], tmp, out=h_new)  # o tanh(c)
                h = h_new
            finals.append(h)
        return out, np.stack(finals)

    return run


def train_matmul_bound(model: Any, x: np.ndarray) -> Callable[[], None]:
    """The matrix products of one training step (forward and backward) and nothing else.

    The forward's GEMMs (as in `matmul_bound`), then per layer-direction, from the last
    layer down: ``L`` state-gradient products ``dg_t @ W_hh`` and one GEMM each for the
    input gradient ``dG @ W_ih``, the input-weight gradient ``dG^T @ X`` and the
    recurrent-weight gradient ``dG^T @ H_prev``, over all steps at once. A lower bound
    of a training step, like `matmul_bound` of a forward.
    """
    forward = matmul_bound(model, x)
    sd = model.state_dict()
    layers, directions = model.num_layers, 2 if model.bidirectional else 1
    steps, batch = x.shape[:2]
    dtype, size = model.dtype, model.hidden_size
    plan = []
    for k in range(layers - 1, -1, -1):
        for d in range(directions):
            n = _param_names(model, k, d)
            w_ih, w_hh = sd[n["weight_ih"]], sd[n["weight_hh"]]  # (G*H, H_in), (G*H, H)
            width = w_ih.shape[0]
            layer_input = (
                x.reshape(steps * batch, -1)
                if k == 0
                else np.zeros((steps * batch, w_ih.shape[1]), dtype)
            )
            plan.append(
                (
                    w_ih,
                    w_hh,
                    layer_input,
                    np.zeros((steps * batch, width), dtype),  # dG, every step's gates
                    np.zeros((steps * batch, size), dtype),  # H_prev
                    np.zeros((steps * batch, w_ih.shape[1]), dtype),  # d input
                    np.zeros((width, w_ih.shape[1]), dtype),  # d W_ih
                    np.zeros((width, size), dtype),  # d W_hh
                    np.zeros((batch, size), dtype),  # dh
                )
            )

    def run() -> None:
        forward()
        for w_ih, w_hh, layer_input, d_g, h_prev, d_in, d_w_ih, d_w_hh, dh in plan:
            for t in range(steps):
                np.dot(d_g[t * batch : (t + 1) * batch], w_hh, out=dh)
            np.dot(d_g, w_ih, out=d_in)
            np.dot(d_g.T, layer_input, out=d_w_ih)
            np.dot(d_g.T, h_prev, out=d_w_hh)

    return run


def torch_twin(model: Any) -> Any:
    """The ``torch.nn`` module with `model`'s configuration, dtype and parameters, in eval."""
    return rnn.to_torch(model).eval()


def _h_n(final: Any) -> Any:
    return final[0] if isinstance(final, tuple) else final


def torch_forward(model: Any, x: np.ndarray) -> Forward:
    """``torch.nn.RNN/GRU/LSTM`` forward under ``torch.no_grad()``."""
    import torch

    twin, xt = torch_twin(model), torch.from_numpy(x)

    def run() -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            out, final = twin(xt)
        return out.numpy(), _h_n(final).numpy()

    return run


def torch_packed(model: Any, x: np.ndarray, lengths: np.ndarray) -> Forward:
    """torch with variable lengths: pack (``enforce_sorted=False``), run, pad back."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    twin, xt = torch_twin(model), torch.from_numpy(x)
    lt = torch.as_tensor(lengths, dtype=torch.int64)

    def run() -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            packed = pack_padded_sequence(xt, lt, enforce_sorted=False)
            out, final = twin(packed)
            out, _ = pad_packed_sequence(out, total_length=xt.shape[0])
        return out.numpy(), _h_n(final).numpy()

    return run


def loss_weights(model: Any, x: np.ndarray, seed: int = 1) -> tuple[np.ndarray, ...]:
    """``(grad_output, grad_h_n[, grad_c_n])`` for the loss ``sum(out*g) + sum(h_n*gh) ...``."""
    rng = np.random.default_rng(seed)
    steps, batch = x.shape[:2]
    directions = 2 if model.bidirectional else 1
    rows = directions * model.num_layers
    shapes = [(steps, batch, directions * model.hidden_size), (rows, batch, model.hidden_size)]
    if kind(model) == "LSTM":
        shapes.append((rows, batch, model.hidden_size))
    return tuple(rng.standard_normal(s).astype(model.dtype) for s in shapes)


def rnn_train_step(model: Any, x: np.ndarray, grads: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    """`rnn`: a training-mode forward, then ``model.backward``; returns the gradient dict."""
    model.train()
    grad_output, *grad_states = grads
    grad_final = tuple(grad_states) if kind(model) == "LSTM" else grad_states[0]

    def run() -> dict[str, np.ndarray]:
        model(x)
        return model.backward(grad_output, grad_final)  # type: ignore[no-any-return]

    return run


def torch_train_step(
    model: Any, x: np.ndarray, grads: tuple[np.ndarray, ...]
) -> Callable[[], dict[str, np.ndarray]]:
    """torch: forward in training mode, the same loss, ``loss.backward()``; returns the grads."""
    import torch

    twin = torch_twin(model).train()
    params = dict(twin.named_parameters())
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    grad_output, *grad_states = (torch.from_numpy(g) for g in grads)

    def run() -> dict[str, np.ndarray]:
        xt.grad = None
        for p in params.values():
            p.grad = None
        out, final = twin(xt)
        finals = final if isinstance(final, tuple) else (final,)
        loss = (out * grad_output).sum()
        for f, g in zip(finals, grad_states):
            loss = loss + (f * g).sum()
        loss.backward()
        result = {"input": xt.grad.numpy()}
        result |= {name: p.grad.numpy() for name, p in params.items()}
        return result

    return run


def onnx_model(model: Any) -> bytes:
    """An ONNX graph equal to `model`: one RNN/GRU/LSTM node per layer, serialized.

    Inputs ``X`` (L, N, H_in); outputs ``Y`` (L, N, D*H) and ``Y_h`` (D*layers, N, H).
    Weights are reordered into ONNX's layout: ``W`` (D, G*H, I), ``R`` (D, G*H, H),
    ``B`` (D, 2*G*H) = ``[b_ih | b_hh]``, gate blocks in ONNX's order.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    name = kind(model)
    sd = model.state_dict()
    directions = 2 if model.bidirectional else 1
    size = model.hidden_size
    order = ONNX_GATE_ORDER[name]

    def gates(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a[i * size : (i + 1) * size] for i in order])

    elem = TensorProto.DOUBLE if model.dtype == np.float64 else TensorProto.FLOAT
    nodes, inits, finals = [], [], []
    layer_input = "X"
    for k in range(model.num_layers):
        names = [_param_names(model, k, d) for d in range(directions)]
        stacked = {
            "W": np.stack([gates(sd[n["weight_ih"]]) for n in names]),
            "R": np.stack([gates(sd[n["weight_hh"]]) for n in names]),
            "B": np.stack(
                [np.concatenate([gates(sd[n["bias_ih"]]), gates(sd[n["bias_hh"]])]) for n in names]
            ),
        }
        for key, value in stacked.items():
            inits.append(numpy_helper.from_array(value, f"{key}{k}"))
        attrs: dict[str, Any] = {
            "hidden_size": size,
            "direction": "bidirectional" if directions == 2 else "forward",
        }
        if name == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch's GRU
        nodes.append(
            helper.make_node(
                name, [layer_input, f"W{k}", f"R{k}", f"B{k}"], [f"Y{k}", f"Yh{k}"], **attrs
            )
        )
        out = f"out{k}" if k < model.num_layers - 1 else "Y"
        if directions == 1:  # (L, 1, N, H) -> (L, N, H)
            nodes.append(helper.make_node("Squeeze", [f"Y{k}", "axis1"], [out]))
        else:  # (L, 2, N, H) -> (L, N, 2, H) -> (L, N, 2H)
            nodes.append(helper.make_node("Transpose", [f"Y{k}"], [f"T{k}"], perm=[0, 2, 1, 3]))
            nodes.append(helper.make_node("Reshape", [f"T{k}", "flat"], [out]))
        finals.append(f"Yh{k}")
        layer_input = out
    if directions == 1:
        inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    else:
        inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "flat"))
    nodes.append(helper.make_node("Concat", finals, ["Y_h"], axis=0))
    graph = helper.make_graph(
        nodes,
        f"rnn_{name.lower()}",
        [helper.make_tensor_value_info("X", elem, ["L", "N", model.input_size])],
        [
            helper.make_tensor_value_info("Y", elem, ["L", "N", directions * size]),
            helper.make_tensor_value_info("Y_h", elem, [directions * model.num_layers, "N", size]),
        ],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto.SerializeToString()  # type: ignore[no-any-return]


def onnx_forward(model: Any, x: np.ndarray, threads: int = 1) -> Forward:
    """onnxruntime on the CPU, `threads` intra-op threads, one inter-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 4  # a missing float64 kernel is reported by the caller
    session = ort.InferenceSession(onnx_model(model), options, providers=["CPUExecutionProvider"])

    def run() -> tuple[np.ndarray, np.ndarray]:
        out, h_n = session.run(["Y", "Y_h"], {"X": x})
        return out, h_n

    return run
