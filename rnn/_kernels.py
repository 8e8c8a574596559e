r"""The step kernels: the recurrent half of one time step of the Elman RNN, GRU and LSTM.

A step splits in two. The *input projection* $x_t W_{ih}^\top + b$ does not depend on
the state, so the driver (`rnn._recurrence`) computes it for every step at once. What is
left, the recurrent half, is what a kernel does: given the projected input ``g`` of one
step and the previous state, write the new state; and, backwards, turn the gradient of
the new state into the gradients of the previous state and of the pre-activations.

Each kernel has two forms:

- the **reference form** (`_reference_forward` / `_reference_backward`): the plain
  equation, one gate at a time. It implements every variant (ONNX's activations with
  alpha/beta, cell clip, the reset-before GRU, peepholes, coupled gates);
- the **fused form** (`_fused_forward` / `_fused_backward`), used when the kernel computes
  exactly PyTorch's cell (`Kernel.fused`): the sigmoid gates' rows of the weights are
  pre-scaled by 1/2 (`rnn._parameters.prepare`), so that one ``tanh`` over all gates
  gives $\sigma(a) = (1 + \tanh(a/2))/2$ too, and everything works in place. Its
  backward pass multiplies the incoming gradient by factors that depend only on the
  record (`Kernel.backward_factors`), which the driver computes for a chunk of steps at
  once, so that a step costs a handful of calls.

Both forms are tested against each other and against PyTorch and onnxruntime. Shapes:
``n`` active rows, ``H`` hidden size, ``P`` emitted state size (``proj_size`` or H),
``G`` gates. Gate blocks inside a kernel are in `Kernel.gate_order` (PyTorch's numbering).

**Gate-major.** A step's gates are laid out ``(G, n, H)``, each gate's block one
contiguous ``(n, H)`` array: the recurrent product is one ``matmul`` of ``h`` with the
stacked blocks of ``W_hh^T`` (`rnn._parameters.stacked`), and the driver lays out the
input projection the same way. In the row layout ``(n, G*H)`` of one product with
``W_hh^T``, a block is a strided view, and every element-wise call on it walks ``n``
rows of ``H`` elements. At the benchmark's small size, on an AMD EPYC and one thread, a
lean loop laid out gate-major takes 0.68 (GRU) and 0.76 (LSTM) of the row layout's time
(``benchmarks/experiments/layout.py``). The backward pass keeps the row layout for its
gradients, which its matrix products (the state's gradient, the weights') read whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rnn._activations import Activation, bind
from rnn._types import Array


class DirectionWeights(NamedTuple):
    """The weights the recurrent half of one layer-direction reads.

    Attributes
    ----------
    w_hh : ndarray, shape (G*H, P)
        ``weight_hh`` as PyTorch stores it, gate blocks in the kernel's order.
    w_hh_s : ndarray, shape (G, P, H)
        Its blocks' transposes (`rnn._parameters.stacked`; sigmoid rows halved on the fused
        path).
    b_h : ndarray of shape (H,), or None
        The part of ``bias_hh`` that stays inside the recurrence (GRU's $b_{hn}$).
    w_hr : ndarray of shape (P, H), or None
        LSTM's projection ``weight_hr``.
    w_hr_t : ndarray of shape (H, P), or None
    w_ch : ndarray of shape (3*H,), or None
        LSTM's peepholes, in the order (i, f, o).
    """

    w_hh: Array
    w_hh_s: Array
    b_h: Array | None = None
    w_hr: Array | None = None
    w_hr_t: Array | None = None
    w_ch: Array | None = None


class Step(NamedTuple):
    """What one step of one layer-direction reads and writes (its active rows only).

    Attributes
    ----------
    g : ndarray, shape (G, n, H)
        In: the input projection, biases folded. Out: the gate activations.
    prev, new : tuple of ndarray
        The previous and the new state: ``(h,)`` of shape (n, P), or LSTM's ``(h, c)``.
    extra : ndarray, shape (n, E)
        Values the backward pass needs beyond the state (`Kernel.extra_width`).
    """

    g: Array
    prev: tuple[Array, ...]
    new: tuple[Array, ...]
    extra: Array


class StepGrads(NamedTuple):
    """Where one step's backward pass writes.

    Attributes
    ----------
    d_state : tuple of ndarray
        In: the gradient with respect to the new state. Out: with respect to the previous
        state (updated in place).
    d_g : ndarray, shape (n, G*H)
        Out: the gradient with respect to the gates' pre-activations.
    d_hidden : ndarray, shape (n, G*H), or (n, H) for the GRU
        Out: the gradient with respect to the recurrent product ``h W_hh^T`` (+ ``b_h``),
        which `Kernel.weight_grads` pairs with the previous states in one product. Where
        it equals `d_g` (not `Kernel.separate_hidden_grad`) it is `d_g` itself; the GRU
        keeps only its ``n`` block, where the reset gate makes the two differ.
    w_hr : ndarray of shape (P, H), or None
        Accumulates the gradient of LSTM's projection ``weight_hr``.
    factors : ndarray, shape (n, F, H)
        The step's `Kernel.backward_factors` (fused form; empty for the reference form).
    work : ndarray, shape (n, 2*G*H)
        Scratch.
    """

    d_state: tuple[Array, ...]
    d_g: Array
    d_hidden: Array
    w_hr: Array | None
    factors: Array
    work: Array


@dataclass
class HiddenGrads:
    """The gradients of one layer-direction's recurrent weights, shaped as the weights."""

    w_hh: Array
    b_h: Array | None = None
    w_hr: Array | None = None
    w_ch: Array | None = None


# 0-d arrays of each dtype: numpy applies them faster than a Python float (no conversion).
_HALF = {np.dtype(t): np.array(0.5, t) for t in (np.float32, np.float64)}


def _sigmoid_from_tanh(t: Array) -> None:
    """Turn ``t = tanh(a / 2)`` into ``sigmoid(a) = (1 + t) / 2``, in place."""
    half = _HALF[t.dtype]
    t *= half
    t += half


def _blocks(a: Array, count: int) -> Array:
    """``a``, shape (n, count*H), viewed as its `count` gate blocks (column views), shape
    (count, n, H)."""
    blocks: Array = a.reshape(a.shape[0], count, -1).transpose(1, 0, 2)
    return blocks


def _sigmoid_slope(s: Array, out: Array) -> None:
    """``out = s (1 - s)``: the derivative of the sigmoid whose value is `s`."""
    np.subtract(1, s, out=out)
    out *= s


class Kernel:
    r"""The recurrent half of one step (an interface; see the subclasses).

    Parameters
    ----------
    activations : tuple of Activation
        One per gate role, in ONNX's order (RNN ``f``; GRU ``f, g``; LSTM ``f, g, h``).
    clip : float or None
        Clamp every gate pre-activation to ``[-clip, clip]`` (ONNX's cell clip).

    Attributes
    ----------
    gates : int
        G, the number of stacked gate blocks.
    states : int
        1 for ``h``, 2 for LSTM's ``(h, c)``.
    gate_order : tuple of int
        The gate blocks as the kernel lays them out, in PyTorch's numbering.
    sigmoid_gates : int
        How many leading blocks are sigmoid gates (halved on the fused path).
    factor_blocks : int
        F, the (n, H) blocks of `backward_factors` per step on the fused path.
    """

    forward: Callable[[Step, DirectionWeights, Array, bool], None]
    """Write the new state of one step (``work``, shape (G, n, H), is scratch), and with
    `keep` the gate activations into ``step.g``, for the backward pass (the fused form
    computes them in ``work``, contiguous, where ``step.g`` is a strided view of the
    projection; the reference form always writes them there)."""
    backward: Callable[[Step, StepGrads, DirectionWeights], None]
    """Backpropagate through one step recorded by `forward`."""

    gates = 1
    states = 1
    gate_order: tuple[int, ...] = (0,)
    sigmoid_gates = 0
    factor_blocks = 1
    default_activations: tuple[str, ...] = ("Tanh",)
    separate_hidden_grad = False  # True when d(h W_hh^T) differs from d(pre-activation)

    def hidden_grad_width(self, hidden: int) -> int:
        """The width of `StepGrads.d_hidden` when `separate_hidden_grad`."""
        return self.gates * hidden

    def __init__(self, activations: tuple[Activation, ...], clip: float | None) -> None:
        self.activations = activations
        self.clip = clip
        self.fused = self._fusable()
        """True when the kernel computes exactly PyTorch's cell and takes the fused form."""
        # the form each step runs, chosen once: a call per step, no dispatch
        self.forward: Callable[[Step, DirectionWeights, Array, bool], None] = (
            self._fused_forward if self.fused else self._reference_forward
        )
        self.backward: Callable[[Step, StepGrads, DirectionWeights], None] = (
            self._fused_backward if self.fused else self._reference_backward
        )

    def _fusable(self) -> bool:
        names = tuple(a.name for a in self.activations)
        return self.clip is None and names == self.default_activations

    def split_bias(self, b_ih: Array, b_hh: Array) -> tuple[Array, Array | None]:
        """Fold the biases: ``(b_x, b_h)``, added to the input projection and kept in the loop."""
        return b_ih + b_hh, None

    def merge_bias_grads(self, db_x: Array, db_h: Array | None) -> tuple[Array, Array]:
        """Undo `split_bias` for the gradients: ``(d bias_ih, d bias_hh)``."""
        return db_x, db_x.copy()

    def extra_width(self, hidden: int, proj: int) -> int:
        """E, the width of the per-step values the backward pass needs (0 if none)."""
        return 0 if self.fused else self.gates * hidden

    def factor_width(self) -> int:
        """F, the blocks of `backward_factors` the backward pass computes per step (0
        unless fused)."""
        return self.factor_blocks if self.fused else 0

    def backward_factors(self, steps: Step, out: Array) -> None:
        """The fused form's per-step factors of the gradient that do not depend on it.

        What a step's backward multiplies the incoming gradient by depends only on what
        its forward recorded (gate values, states), so the driver computes it for a chunk
        of steps at once, in a few calls, before running them one by one.

        Parameters
        ----------
        steps : Step
            The record of consecutive steps, each array with a leading axis T of steps.
        out : ndarray, shape (T, N, F, H)
        """
        raise NotImplementedError

    def weight_grads(
        self,
        d_hidden: Array,
        d_g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        extra: Array,
    ) -> HiddenGrads:
        """The recurrent weights' gradients over all steps at once (one matrix product).

        Parameters
        ----------
        d_hidden, d_g : ndarray, shape (M, G*H)
            `StepGrads.d_hidden` and `StepGrads.d_g` of every step, M = steps * rows;
            zero on inactive rows.
        prev, new : tuple of ndarray, each of shape (M, width)
            The states every step read and wrote.
        extra : ndarray, shape (M, E)
        """
        return HiddenGrads(w_hh=d_hidden.T @ prev[0])

    def _pre(self, a: Array) -> Array:
        """The pre-activation as the activation sees it: clipped when `clip` is set."""
        return a if self.clip is None else np.clip(a, -self.clip, self.clip)

    def _d_pre(self, act: Activation, a: Array, y: Array) -> Array:
        """d act(clip(a)) / da, from the unclipped pre-activation a and the output y."""
        d = act.derivative(self._pre(a), y)
        if self.clip is not None:
            d *= np.abs(a) <= self.clip
        return d

    def _fused_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        raise NotImplementedError

    def _fused_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        raise NotImplementedError

    def _reference_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        raise NotImplementedError

    def _reference_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        raise NotImplementedError


class ElmanKernel(Kernel):
    r"""The Elman step, $h_t = f(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})$.

    Fused for $f$ = tanh or ReLU without clip. The reference form keeps the
    pre-activation in ``extra``.
    """

    default_activations = ("Tanh",)

    def __init__(self, activations: tuple[Activation, ...], clip: float | None) -> None:
        self.tanh = activations[0].name == "Tanh"
        """Tanh (else ReLU) on the fused path."""
        super().__init__(activations, clip)

    def _fusable(self) -> bool:
        return self.clip is None and self.activations[0].name in ("Tanh", "Relu")

    def _fused_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        (h,), product = step.new, work[0]
        np.dot(step.prev[0], w.w_hh_s[0], out=product)
        np.add(product, step.g[0], out=h)
        if self.tanh:
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0, out=h)

    def backward_factors(self, steps: Step, out: Array) -> None:
        (h,), slope = steps.new, out[:, :, 0]
        if self.tanh:
            np.multiply(h, h, out=slope)
            np.subtract(1, slope, out=slope)  # 1 - h^2
        else:
            np.greater(h, 0, out=slope)  # 1 where h > 0, else 0

    def _fused_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        (dh,), d_a = grads.d_state, grads.d_g
        np.multiply(dh, grads.factors[:, 0], out=d_a)
        np.dot(d_a, w.w_hh, out=dh)

    def _reference_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        a = step.extra
        np.add(step.g[0], np.matmul(step.prev[0], w.w_hh_s[0]), out=a)
        step.new[0][...] = self.activations[0](self._pre(a))

    def _reference_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        (dh,) = grads.d_state
        grads.d_g[...] = dh * self._d_pre(self.activations[0], step.extra, step.new[0])
        np.dot(grads.d_g, w.w_hh, out=dh)


class GRUKernel(Kernel):
    r"""The GRU step, gates ``r | z | n``.

    $$
    \begin{aligned}
    r &= f(x W_{ir}^\top + b_{ir} + h W_{hr}^\top + b_{hr}), \quad
    z = f(x W_{iz}^\top + b_{iz} + h W_{hz}^\top + b_{hz}) \\
    n &= g(x W_{in}^\top + b_{in} + r \odot (h W_{hn}^\top + b_{hn}))
      \quad\text{(reset after, PyTorch)} \\
    n &= g(x W_{in}^\top + b_{in} + (r \odot h) W_{hn}^\top + b_{hn})
      \quad\text{(reset before, Cho et al. 2014)} \\
    h' &= (1 - z) \odot n + z \odot h
    \end{aligned}
    $$

    with $f = \sigma$, $g = \tanh$ by default. Reset after, $b_{hn}$ stays in the loop and
    ``extra`` keeps $h W_{hn}^\top + b_{hn}$; reset before, $b_{hn}$ folds into the input
    projection and ``extra`` keeps $r \odot h$. The reference form also keeps the three
    pre-activations.

    Parameters
    ----------
    activations, clip
        As in `Kernel`.
    reset_after : bool
    """

    gates = 3
    gate_order = (0, 1, 2)
    sigmoid_gates = 2
    factor_blocks = 6
    default_activations = ("Sigmoid", "Tanh")
    separate_hidden_grad = True

    def hidden_grad_width(self, hidden: int) -> int:
        return hidden  # the n block only: r and z's equal d_g

    def __init__(
        self, activations: tuple[Activation, ...], clip: float | None, reset_after: bool = True
    ) -> None:
        self.reset_after = reset_after
        super().__init__(activations, clip)

    def _fusable(self) -> bool:
        return self.reset_after and super()._fusable()

    def split_bias(self, b_ih: Array, b_hh: Array) -> tuple[Array, Array | None]:
        if not self.reset_after:
            return b_ih + b_hh, None
        hidden = b_hh.shape[0] // 3
        b_x = b_ih.copy()
        b_x[: 2 * hidden] += b_hh[: 2 * hidden]
        return b_x, b_hh[2 * hidden :].copy()

    def merge_bias_grads(self, db_x: Array, db_h: Array | None) -> tuple[Array, Array]:
        if db_h is None:
            return db_x, db_x.copy()
        hidden = db_h.shape[0]
        return db_x, np.concatenate([db_x[: 2 * hidden], db_h])

    def extra_width(self, hidden: int, proj: int) -> int:
        return hidden if self.fused else 4 * hidden

    def weight_grads(
        self,
        d_hidden: Array,
        d_g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        extra: Array,
    ) -> HiddenGrads:
        hidden = d_hidden.shape[1]
        d_rz = d_g[:, : 2 * hidden].T @ prev[0]
        if self.reset_after:
            w_hh = np.concatenate([d_rz, d_hidden.T @ prev[0]])
            return HiddenGrads(w_hh=w_hh, b_h=d_hidden.sum(axis=0))
        # reset before: the n rows of W_hh multiply r * h (kept in extra), not h
        return HiddenGrads(w_hh=np.concatenate([d_rz, d_hidden.T @ extra[:, :hidden]]))

    def _fused_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        (h_prev,), (h,), g = step.prev, step.new, step.g
        np.matmul(h_prev, w.w_hh_s, out=work)
        rz = work[:2]
        np.add(rz, g[:2], out=rz)
        np.tanh(rz, out=rz)
        _sigmoid_from_tanh(rz)
        r, z, n = work
        hn = step.extra
        if w.b_h is None:
            hn[...] = n
        else:
            np.add(n, w.b_h, out=hn)
        np.multiply(r, hn, out=n)
        n += g[2]
        np.tanh(n, out=n)
        np.subtract(h_prev, n, out=h)
        h *= z
        h += n
        if keep:
            np.copyto(g, work)

    def backward_factors(self, steps: Step, out: Array) -> None:
        # the gradients are dh times: d_g (r|z|n): (AC | B | A), d(h W_hh^T): (AC | B | Ar),
        # with A = (1 - z)(1 - n^2), B = (h - n) z (1 - z), C = (h W_hn^T + b_hn) r (1 - r)
        (h_prev,), hn = steps.prev, steps.extra
        r, z, n = steps.g  # each (T, N, H)
        ac, b, a, ac_rec, b_rec, ar = (out[:, :, k] for k in range(6))
        _sigmoid_slope(r, ac)  # ac, b: r (1 - r), z (1 - z) so far
        _sigmoid_slope(z, b)
        np.multiply(n, n, out=a)
        np.subtract(1, a, out=a)
        np.subtract(1, z, out=ar)
        a *= ar
        np.subtract(h_prev, n, out=ar)
        b *= ar
        ac *= hn
        ac *= a
        np.copyto(ac_rec, ac)
        np.copyto(b_rec, b)
        np.multiply(a, r, out=ar)

    def _fused_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        (dh,), hidden = grads.d_state, grads.d_hidden.shape[1]
        n = len(dh)
        d_rec = grads.work[:, : 3 * hidden]  # dr | dz | dn r
        dh_z = grads.work[:, 3 * hidden : 4 * hidden]
        dh_row = dh[:, None, :]
        np.multiply(dh_row, grads.factors[:, :3], out=grads.d_g.reshape(n, 3, hidden))
        np.multiply(dh_row, grads.factors[:, 3:], out=d_rec.reshape(n, 3, hidden))
        np.copyto(grads.d_hidden, d_rec[:, 2 * hidden :])  # the n block of d(h W_hh^T)
        np.multiply(dh, step.g[1], out=dh_z)
        np.dot(d_rec, w.w_hh, out=dh)
        dh += dh_z

    def _reference_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        f, g_act = self.activations[:2]
        (h_prev,), (h,) = step.prev, step.new
        hidden = h.shape[1]
        kept, a = step.extra[:, :hidden], step.extra[:, hidden:]  # (n, H), (n, 3H)
        a_blocks = _blocks(a, 3)
        a_r, a_z, a_n = a_blocks
        r, z, n = step.g
        w_rz, w_n = w.w_hh_s[:2], w.w_hh_s[2]
        np.add(step.g[:2], np.matmul(h_prev, w_rz), out=a_blocks[:2])
        r[...] = f(self._pre(a_r))
        z[...] = f(self._pre(a_z))
        if self.reset_after:
            np.matmul(h_prev, w_n, out=kept)  # h W_hn^T + b_hn
            if w.b_h is not None:
                kept += w.b_h
            np.add(n, r * kept, out=a_n)
        else:
            np.multiply(r, h_prev, out=kept)  # r * h
            np.add(n, kept @ w_n, out=a_n)
        n[...] = g_act(self._pre(a_n))
        h[...] = (1 - z) * n + z * h_prev

    def _reference_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        f, g_act = self.activations[:2]
        (dh,), (h_prev,) = grads.d_state, step.prev
        hidden = h_prev.shape[1]
        kept, a = step.extra[:, :hidden], step.extra[:, hidden:]
        a_r, a_z, a_n = _blocks(a, 3)
        r, z, n = step.g
        dr, dz, dn = _blocks(grads.d_g, 3)
        w_rz, w_n = w.w_hh[: 2 * hidden], w.w_hh[2 * hidden :]
        dn[...] = dh * (1 - z) * self._d_pre(g_act, a_n, n)
        dz[...] = dh * (h_prev - n) * self._d_pre(f, a_z, z)
        dh_prev = dh * z
        if self.reset_after:
            dr[...] = dn * kept * self._d_pre(f, a_r, r)
            d_n_hidden: Array = dn * r
        else:
            d_rh = dn @ w_n  # the gradient of r * h
            dr[...] = d_rh * h_prev * self._d_pre(f, a_r, r)
            dh_prev += d_rh * r
            d_n_hidden = dn
        grads.d_hidden[...] = d_n_hidden
        dh_prev += grads.d_g[:, : 2 * hidden] @ w_rz
        if self.reset_after:
            dh_prev += d_n_hidden @ w_n
        dh[...] = dh_prev


class LSTMKernel(Kernel):
    r"""The LSTM step, gates ``i | f | g | o`` (laid out ``i | f | o | g`` inside).

    $$
    \begin{aligned}
    i &= f(x W_{ii}^\top + b_{ii} + h W_{hi}^\top + b_{hi} + p_i \odot c) \\
    f_t &= f(x W_{if}^\top + b_{if} + h W_{hf}^\top + b_{hf} + p_f \odot c)
      \quad\text{or } 1 - i \text{ (coupled)} \\
    \tilde c &= g(x W_{ig}^\top + b_{ig} + h W_{hg}^\top + b_{hg}) \\
    c' &= f_t \odot c + i \odot \tilde c \\
    o &= f(x W_{io}^\top + b_{io} + h W_{ho}^\top + b_{ho} + p_o \odot c') \\
    h' &= (o \odot h_{act}(c'))\, W_{hr}^\top
    \end{aligned}
    $$

    with $f = \sigma$, $g = h_{act} = \tanh$ by default, peepholes $p$ (Gers &
    Schmidhuber 2000) only when given, and $W_{hr}$ only with a projection. Fused without
    peepholes, coupling, clip or other activations; there ``extra`` keeps
    $o \odot \tanh c'$ when there is a projection. The reference form keeps that and the
    four pre-activations.

    Parameters
    ----------
    activations, clip
        As in `Kernel`.
    peephole, input_forget : bool
    """

    gates = 4
    states = 2
    gate_order = (0, 1, 3, 2)
    sigmoid_gates = 3
    factor_blocks = 5
    default_activations = ("Sigmoid", "Tanh", "Tanh")

    def __init__(
        self,
        activations: tuple[Activation, ...],
        clip: float | None,
        peephole: bool = False,
        input_forget: bool = False,
    ) -> None:
        self.peephole = peephole
        self.input_forget = input_forget
        super().__init__(activations, clip)

    def _fusable(self) -> bool:
        return not (self.peephole or self.input_forget) and super()._fusable()

    def extra_width(self, hidden: int, proj: int) -> int:
        kept = hidden if proj else 0
        return kept if self.fused else kept + 4 * hidden

    def weight_grads(
        self,
        d_hidden: Array,
        d_g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        extra: Array,
    ) -> HiddenGrads:
        grads = HiddenGrads(w_hh=d_hidden.T @ prev[0])
        if self.peephole:
            di, df, do, _ = _blocks(d_g, 4)
            grads.w_ch = np.concatenate(
                [
                    (di * prev[1]).sum(axis=0),
                    (df * prev[1]).sum(axis=0),
                    (do * new[1]).sum(axis=0),
                ]
            )
        return grads

    def _fused_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        (h_prev, c_prev), (h, c), g = step.prev, step.new, step.g
        np.matmul(h_prev, w.w_hh_s, out=work)
        np.add(work, g, out=work)
        np.tanh(work, out=work)
        _sigmoid_from_tanh(work[:3])
        i, f, o, cand = work
        m = h if w.w_hr_t is None else step.extra  # o tanh(c'); i cand before that
        np.multiply(f, c_prev, out=c)
        np.multiply(i, cand, out=m)
        c += m
        np.tanh(c, out=m)
        m *= o
        if w.w_hr_t is not None:
            np.matmul(m, w.w_hr_t, out=h)
        if keep:
            np.copyto(g, work)

    @staticmethod
    def _output_grad(m: Array, grads: StepGrads, w: DirectionWeights) -> Array:
        """The gradient of $m = o \\odot h_{act}(c')$, through the projection if any
        (whose gradient it accumulates)."""
        dh = grads.d_state[0]
        if w.w_hr is None or grads.w_hr is None:
            return dh
        grads.w_hr[...] += dh.T @ m
        return dh @ w.w_hr

    def backward_factors(self, steps: Step, out: Array) -> None:
        # with m = o tanh(c'): dc += dm K_c, then d_g (i|f|o|g) = (dc K_i | dc K_f | dm K_o |
        # dc K_g): K_c = o (1 - tanh^2 c'), K_i = cand i (1 - i), K_f = c f (1 - f),
        # K_o = tanh(c') o (1 - o), K_g = i (1 - cand^2)
        (_, c_prev), (_, c) = steps.prev, steps.new
        i, f, o, cand = steps.g  # each (T, N, H)
        k_c, k_i, k_f, k_o, k_g = (out[:, :, k] for k in range(5))
        for gate, slope in ((i, k_i), (f, k_f), (o, k_o)):
            _sigmoid_slope(gate, slope)
        k_i *= cand
        k_f *= c_prev
        np.tanh(c, out=k_c)
        k_o *= k_c
        np.multiply(k_c, k_c, out=k_c)
        np.subtract(1, k_c, out=k_c)
        k_c *= o
        np.multiply(cand, cand, out=k_g)
        np.subtract(1, k_g, out=k_g)
        k_g *= i

    def _fused_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        (dh, dc), factors = grads.d_state, grads.factors
        n, hidden = dc.shape
        dm = self._output_grad(step.extra, grads, w)
        d_new = grads.work[:, :hidden]
        np.multiply(dm, factors[:, 0], out=d_new)
        dc += d_new
        d_g = grads.d_g.reshape(n, 4, hidden)
        np.multiply(dc[:, None, :], factors[:, 1:], out=d_g)  # i, f, g (o: below)
        np.multiply(dm, factors[:, 3], out=d_g[:, 2])
        dc *= step.g[1]  # f
        np.dot(grads.d_g, w.w_hh, out=dh)

    @staticmethod
    def _peepholes(w: DirectionWeights) -> Array | None:
        """The peepholes ``p_i, p_f, p_o``, shape (3, 1, H), or None."""
        return None if w.w_ch is None else _blocks(w.w_ch[None, :], 3)

    def _split_extra(self, step: Step, hidden: int) -> tuple[Array, Array]:
        """``extra`` as (m, a): the kept $o \\odot h_{act}(c')$ (may be empty) and the
        four pre-activations."""
        kept = step.extra.shape[1] - 4 * hidden
        return step.extra[:, :kept], step.extra[:, kept:]

    def _reference_forward(self, step: Step, w: DirectionWeights, work: Array, keep: bool) -> None:
        f_act, g_act, h_act = self.activations[:3]
        (h_prev, c_prev), (h, c) = step.prev, step.new
        hidden = c.shape[1]
        m_kept, a = self._split_extra(step, hidden)
        a_blocks = _blocks(a, 4)
        a_i, a_f, a_o, a_c = a_blocks
        i, f, o, cand = step.g
        peep = self._peepholes(w)
        np.add(step.g, np.matmul(h_prev, w.w_hh_s), out=a_blocks)
        if peep is not None:
            a_i += peep[0] * c_prev
            a_f += peep[1] * c_prev
        i[...] = f_act(self._pre(a_i))
        f[...] = 1 - i if self.input_forget else f_act(self._pre(a_f))
        cand[...] = g_act(self._pre(a_c))
        c[...] = f * c_prev + i * cand
        if peep is not None:
            a_o += peep[2] * c
        o[...] = f_act(self._pre(a_o))
        m = o * h_act(c)
        if w.w_hr_t is None:
            h[...] = m
        else:
            m_kept[...] = m
            np.matmul(m, w.w_hr_t, out=h)

    def _reference_backward(self, step: Step, grads: StepGrads, w: DirectionWeights) -> None:
        f_act, g_act, h_act = self.activations[:3]
        (dh, dc), (_, c_prev), (_, c) = grads.d_state, step.prev, step.new
        hidden = c.shape[1]
        m_kept, a = self._split_extra(step, hidden)
        a_i, a_f, a_o, a_c = _blocks(a, 4)
        i, f, o, cand = step.g
        di, df, do, d_cand = _blocks(grads.d_g, 4)
        peep = self._peepholes(w)
        dm = self._output_grad(m_kept, grads, w)
        hc = h_act(c)
        do[...] = dm * hc * self._d_pre(f_act, a_o, o)
        dc += dm * o * h_act.derivative(c, hc)
        if peep is not None:
            dc += do * peep[2]
        d_i = dc * cand
        d_f = dc * c_prev
        d_cand[...] = dc * i * self._d_pre(g_act, a_c, cand)
        if self.input_forget:  # f = 1 - i
            d_i -= d_f
            df[...] = 0
        else:
            df[...] = d_f * self._d_pre(f_act, a_f, f)
        di[...] = d_i * self._d_pre(f_act, a_i, i)
        dc *= f
        if peep is not None:
            dc += di * peep[0] + df * peep[1]
        np.dot(grads.d_g, w.w_hh, out=dh)


def make_kernels(
    mode: str,
    activations: tuple[tuple[str, ...], ...],
    alphas: tuple[float, ...],
    betas: tuple[float, ...],
    clip: float | None,
    *,
    reset_after: bool = True,
    peephole: bool = False,
    input_forget: bool = False,
) -> tuple[Kernel, ...]:
    """One kernel per direction for ``mode`` (``"RNN"``, ``"GRU"`` or ``"LSTM"``).

    `activations` holds each direction's names; `alphas` and `betas` are consumed in the
    order of all directions' activations, as ONNX does (`rnn._activations.bind`).
    """
    flat = [name for names in activations for name in names]
    bound = bind(flat, alphas, betas)
    roles = len(activations[0])
    kernels: list[Kernel] = []
    for d in range(len(activations)):
        acts = bound[d * roles : (d + 1) * roles]
        if mode == "RNN":
            kernels.append(ElmanKernel(acts, clip))
        elif mode == "GRU":
            kernels.append(GRUKernel(acts, clip, reset_after))
        else:
            kernels.append(LSTMKernel(acts, clip, peephole, input_forget))
    return tuple(kernels)
