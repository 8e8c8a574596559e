r"""The recurrence driver: runs any cell over time, layers, directions and lengths.

This is the only time loop in the package. For each layer it

1. projects the whole input sequence at once, one matrix product for both directions:
   ``gates = x.reshape(L*N, H_in) @ W_ih^T + b``, shape ``(L, N, D*G*H)``;
2. runs the cell's recurrent half step by step, forwards in time for direction 0 and
   backwards for direction 1, writing each new state straight into the layer's output;
3. hands that output to the next layer (through dropout in training mode).

The state buffer of a layer has two time slots more than the output, ``(L+2, N, D*P)``:
slot 0 holds the forward direction's initial state and slot ``L+1`` the reverse
direction's, so step ``t`` reads slot ``t`` (forward) or ``t+2`` (reverse) and writes slot
``t+1``, and the output is the view ``buffer[1:L+1]``: no copy per step, none at the end.

Variable lengths follow PyTorch's packed sequences. The batch is sorted by length,
longest first, so the rows still running at step ``t`` are the first
``sizes[t] = #{b : lengths[b] > t}``; each step touches only those rows. The forward
direction of a sequence stops after its last valid step, the reverse direction starts
there (from the initial state), and the final state of each sequence is its last valid
one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rnn._types import Array
from rnn.cells import Cell, HiddenGrads
from rnn.parameters import LayerGrads, LayerWeights


@dataclass(frozen=True)
class Schedule:
    """Which rows of the batch run at each step.

    Attributes
    ----------
    steps : int
        L, the padded sequence length.
    sizes : list of int
        ``sizes[t]``, the number of rows (of the sorted batch) active at step ``t``.
    lengths : ndarray of int, shape (N,), or None
        Sorted lengths, longest first; None when every sequence has length L.
    order : ndarray of int, shape (N,), or None
        ``sorted_batch = batch[order]``; None when the batch is already sorted.
    """

    steps: int
    sizes: list[int]
    lengths: np.ndarray | None = None
    order: np.ndarray | None = None

    @classmethod
    def build(cls, steps: int, batch: int, lengths: np.ndarray | None) -> Schedule:
        """The schedule for `batch` sequences of `steps` steps, or of the given lengths."""
        if lengths is None or bool(np.all(lengths == steps)):
            return cls(steps, [batch] * steps)
        order = np.argsort(-lengths, kind="stable")
        ordered = lengths[order]
        sizes = (ordered[None, :] > np.arange(steps)[:, None]).sum(axis=1)
        identity = bool(np.all(order == np.arange(batch)))
        return cls(steps, sizes.tolist(), ordered, None if identity else order)

    @property
    def live(self) -> int:
        """The number of steps with any row active: the longest length (steps after it are
        padding in every sequence and are skipped)."""
        return self.steps if self.lengths is None else int(self.lengths[0])

    @property
    def full(self) -> bool:
        """True when every sequence has length L (no row ever sits out)."""
        return self.lengths is None

    def entering(self) -> list[tuple[int, int, int]]:
        """Where the reverse direction starts sequences shorter than L.

        Returns
        -------
        list of (t, lo, hi)
            Rows ``lo:hi`` of the sorted batch take their first reverse step at ``t``,
            from the initial state.
        """
        sizes = self.sizes
        return [
            (t, sizes[t + 1], sizes[t]) for t in range(self.steps - 1) if sizes[t] > sizes[t + 1]
        ]

    def padding(self) -> np.ndarray | None:
        """Boolean mask of shape (L, N), True at padded positions; None without padding."""
        if self.lengths is None:
            return None
        return np.arange(self.steps)[:, None] >= self.lengths[None, :]


class Workspace:
    """Scratch arrays kept between evaluation-mode passes, one per role.

    Layers run one after the other, so in evaluation mode they share one input
    projection, one scratch array and (LSTM) one cell-state buffer, all kept from one
    pass to the next: fresh memory, which the system hands out page by page, is then
    touched only for the output. A workspace serves one thread at a time;
    `rnn.module.Module` keeps one per thread.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, Array] = {}

    def take(self, role: str, shape: tuple[int, ...], dtype: np.dtype) -> Array:
        """An array of `shape` and `dtype` for `role`; its contents are garbage."""
        array = self._arrays.get(role)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[role] = np.empty(shape, dtype)
        return array


def _empty(
    workspace: Workspace | None, role: str, shape: tuple[int, ...], dtype: np.dtype
) -> Array:
    """A fresh array, or the workspace's one for `role`."""
    if workspace is None:
        return np.empty(shape, dtype)
    return workspace.take(role, shape, dtype)


@dataclass
class LayerTape:
    """What the backward pass needs from one layer's forward pass.

    Attributes
    ----------
    x : ndarray, shape (L, N, H_in)
        The layer's input.
    gates : ndarray, shape (L, N, D*G*H)
        The gate activations of every step.
    states : tuple of ndarray
        The state buffers, each of shape (L+2, N, D*width).
    extra : ndarray, shape (L, N, D*E)
        Per-step values the cell kept for its backward pass.
    initial : tuple of ndarray
        The layer's initial states, each of shape (D, N, width).
    mask : ndarray or None
        The scaled dropout mask applied to this layer's output.
    """

    x: Array
    gates: Array
    states: tuple[Array, ...]
    extra: Array
    initial: tuple[Array, ...]
    mask: Array | None = None


@dataclass
class Tape:
    """The record of one training-mode forward pass."""

    schedule: Schedule
    layers: list[LayerTape] = field(default_factory=list)


def _trim(views: Sequence[Array] | Array, schedule: Schedule) -> list[Array]:
    """Keep the rows of each per-step view that are active at that step."""
    if schedule.full:
        return list(views)
    return [v[:n] for v, n in zip(views, schedule.sizes)]


def _run_layer(
    cell: Cell,
    weights: LayerWeights,
    x: Array,
    initial: tuple[Array, ...],
    schedule: Schedule,
    keep: bool,
    workspace: Workspace | None,
    reuse: Array | None,
) -> tuple[Array, tuple[Array, ...], LayerTape]:
    """Run one layer, every direction; see the module docstring for the layout.

    With a `workspace`, the scratch arrays come from it. `reuse`, if given, becomes the
    buffer of the emitted state ``h``: in evaluation mode a layer writes its states over
    its own input, which nothing reads after the input projection.
    """
    steps, batch = x.shape[:2]
    directions = len(weights.directions)
    gate_width = weights.w_ih_t.shape[1] // directions
    widths = [s.shape[-1] for s in initial]
    dtype = x.dtype
    flat_x = x.reshape(steps * batch, x.shape[2])  # (L*N, H_in); explicit sizes allow N = 0
    flat_gates = _empty(workspace, "gates", (steps * batch, directions * gate_width), dtype)
    np.dot(flat_x, weights.w_ih_t, out=flat_gates)
    gates = flat_gates.reshape(steps, batch, directions * gate_width)
    if weights.b_x is not None:
        gates += weights.b_x
    shapes = [(steps + 2, batch, directions * w) for w in widths]
    h_states = np.empty(shapes[0], dtype) if reuse is None else reuse
    states = (h_states, *(_empty(workspace, "c", shape, dtype) for shape in shapes[1:]))
    proj = widths[0] if weights.directions[0].w_hr is not None else 0
    extra_width = cell.extra_width(gate_width // cell.gates, proj)
    extra_shape = (steps if keep else 1, batch, directions * extra_width)
    extra = _empty(workspace, "extra", extra_shape, dtype)
    work = _empty(workspace, "work", (batch, gate_width), dtype)
    for d, w in enumerate(weights.directions):
        cols = [slice(d * width, (d + 1) * width) for width in widths]
        start, prev_slots = (steps + 1, slice(2, steps + 2)) if d else (0, slice(0, steps))
        for state, c, init in zip(states, cols, initial):
            state[start, :, c] = init[d]
        if d:
            for t, lo, hi in schedule.entering():
                for state, c, init in zip(states, cols, initial):
                    state[t + 2, lo:hi, c] = init[d, lo:hi]
        g = _trim(gates[:, :, d * gate_width : (d + 1) * gate_width], schedule)
        prev = zip(*(_trim(s[prev_slots, :, c], schedule) for s, c in zip(states, cols)))
        new = zip(*(_trim(s[1 : steps + 1, :, c], schedule) for s, c in zip(states, cols)))
        ex = extra[:, :, d * extra_width : (d + 1) * extra_width]
        ex_steps = _trim(ex if keep else [ex[0]] * steps, schedule)
        work_steps = _trim([work] * steps, schedule)
        step_args = list(zip(g, prev, new, work_steps, ex_steps))
        live = schedule.live
        for t in range(live - 1, -1, -1) if d else range(live):
            g_t, prev_t, new_t, work_t, extra_t = step_args[t]
            cell.forward(g_t, prev_t, new_t, w, work_t, extra_t)
    final = tuple(_final(state, schedule, directions) for state in states)
    for t, n in enumerate(schedule.sizes):
        if n < batch:  # rows n: are padding at step t (the batch is sorted by length)
            for state in states:
                state[t + 1, n:] = 0
    tape = LayerTape(x, gates, states, extra, initial)
    return states[0][1 : steps + 1], final, tape


def _final(state: Array, schedule: Schedule, directions: int) -> Array:
    """The last valid state of each sequence, shape (D, N, width)."""
    steps, batch, width = schedule.steps, state.shape[1], state.shape[2] // directions
    final = np.empty((directions, batch, width), state.dtype)
    if schedule.lengths is None:
        final[0] = state[steps, :, :width]
    else:
        final[0] = state[schedule.lengths, np.arange(batch), :width]
    if directions == 2:
        final[1] = state[1, :, width:]
    return final


def forward(
    cell: Cell,
    weights: list[LayerWeights],
    x: Array,
    initial: tuple[Array, ...],
    schedule: Schedule,
    *,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    keep: bool = False,
    workspace: Workspace | None = None,
    copied: bool = False,
) -> tuple[Array, tuple[Array, ...], Tape | None]:
    """Run a stack of recurrent layers over a batch of sequences.

    Parameters
    ----------
    cell : Cell
    weights : list of LayerWeights
        One per layer.
    x : ndarray, shape (L, N, H_in)
        The input, batch sorted as `schedule` says.
    initial : tuple of ndarray
        The initial states, each of shape (num_layers*D, N, width), layer-major.
    schedule : Schedule
    dropout : float
        Probability of zeroing an element of each layer's output but the last.
    rng : numpy.random.Generator, optional
        Draws the dropout masks; required when `dropout` > 0.
    keep : bool
        Record a `Tape` for the backward pass.
    workspace : Workspace, optional
        Where to take scratch arrays from (evaluation mode only: a `Tape` keeps its own).
    copied : bool
        The caller copies `output` before returning it (to restore the batch order), so
        with a `workspace` the output may live there too.

    Returns
    -------
    output : ndarray, shape (L, N, D*P)
        The last layer's states; padded positions hold 0.
    final : tuple of ndarray
        The final states, shaped like `initial`.
    tape : Tape or None
        The record of the pass, when `keep`.
    """
    directions = len(weights[0].directions)
    tape = Tape(schedule) if keep else None
    finals: list[tuple[Array, ...]] = []
    scratch = None if keep else workspace
    reuse = None
    if scratch is not None and copied:
        shape = (schedule.steps + 2, x.shape[1], directions * initial[0].shape[-1])
        reuse = scratch.take("h", shape, x.dtype)
    for layer, w in enumerate(weights):
        rows = slice(layer * directions, (layer + 1) * directions)
        init = tuple(s[rows] for s in initial)
        output, final, layer_tape = _run_layer(cell, w, x, init, schedule, keep, scratch, reuse)
        if scratch is not None:
            reuse = layer_tape.states[0]  # the next layer's states overwrite this output
        finals.append(final)
        if dropout and layer < len(weights) - 1:
            assert rng is not None
            keep_prob = 1.0 - dropout
            mask = (rng.random(output.shape) < keep_prob).astype(output.dtype)
            if keep_prob:
                mask /= keep_prob
            layer_tape.mask = mask
            output = output * mask
        if tape is not None:
            tape.layers.append(layer_tape)
        x = output
    final_states = tuple(np.concatenate(parts) for parts in zip(*finals))
    return x, final_states, tape


def _previous(tape: LayerTape, schedule: Schedule, d: int, t: int, n: int) -> tuple[Array, ...]:
    """The states step `t` of direction `d` read, restored where padding overwrote them."""
    prev = []
    for state, init in zip(tape.states, tape.initial):
        width = init.shape[-1]
        cols = slice(d * width, (d + 1) * width)
        slot = state[t + 2 if d else t, :n, cols]
        lo = schedule.sizes[t + 1] if d and t + 1 < schedule.steps else n
        if lo < n:
            slot = np.concatenate([slot[:lo], init[d, lo:n]])
        prev.append(slot)
    return tuple(prev)


def backward(
    cell: Cell,
    weights: list[LayerWeights],
    tape: Tape,
    d_output: Array,
    d_final: tuple[Array, ...],
) -> tuple[Array, tuple[Array, ...], list[LayerGrads]]:
    """Backpropagate through time, through every layer of a `forward` pass.

    Parameters
    ----------
    cell : Cell
    weights : list of LayerWeights
        The weights the forward pass ran with.
    tape : Tape
        Its record.
    d_output : ndarray, shape (L, N, D*P)
        Gradient of the loss with respect to the output (padded positions are ignored).
    d_final : tuple of ndarray
        Gradients with respect to the final states, shaped like them.

    Returns
    -------
    d_x : ndarray, shape (L, N, H_in)
    d_initial : tuple of ndarray
        Shaped like the initial states.
    grads : list of LayerGrads
        One per layer.
    """
    schedule = tape.schedule
    steps, sizes = schedule.steps, schedule.sizes
    directions = len(weights[0].directions)
    d_initial = [np.empty_like(s) for s in d_final]
    grads: list[LayerGrads] = []
    for layer in range(len(weights) - 1, -1, -1):
        w, lt = weights[layer], tape.layers[layer]
        if lt.mask is not None:
            d_output = d_output * lt.mask
        batch = lt.x.shape[1]
        gate_width = w.w_ih_t.shape[1] // directions
        d_gates = np.zeros_like(lt.gates)
        hidden = []
        extra_width = lt.extra.shape[2] // directions
        for d, dw in enumerate(w.directions):
            row = layer * directions + d
            carry = [s[row].copy() for s in d_final]
            h_cols = slice(d * carry[0].shape[1], (d + 1) * carry[0].shape[1])
            grad = HiddenGrads(
                w_hh=np.zeros_like(dw.w_hh),
                b_h=None if dw.b_h is None else np.zeros_like(dw.b_h),
                w_hr=None if dw.w_hr is None else np.zeros_like(dw.w_hr),
            )
            live = schedule.live
            for t in range(live) if d else range(live - 1, -1, -1):
                n = sizes[t]
                carry[0][:n] += d_output[t, :n, h_cols]
                new = tuple(
                    s[t + 1, :n, d * c.shape[1] : (d + 1) * c.shape[1]]
                    for s, c in zip(lt.states, carry)
                )
                cell.backward(
                    tuple(c[:n] for c in carry),
                    lt.gates[t, :n, d * gate_width : (d + 1) * gate_width],
                    _previous(lt, schedule, d, t, n),
                    new,
                    lt.extra[t, :n, d * extra_width : (d + 1) * extra_width],
                    dw,
                    d_gates[t, :n, d * gate_width : (d + 1) * gate_width],
                    grad,
                )
            for d_init, c in zip(d_initial, carry):
                d_init[row] = c
            hidden.append(grad)
        flat = d_gates.reshape(steps * batch, d_gates.shape[2])  # (L*N, D*G*H)
        grads.append(
            LayerGrads(
                w_ih=flat.T @ lt.x.reshape(steps * batch, lt.x.shape[2]),
                b_x=None if w.b_x is None else flat.sum(axis=0),
                hidden=hidden,
            )
        )
        d_output = (flat @ w.w_ih).reshape(steps, batch, w.w_ih.shape[1])
    grads.reverse()
    return d_output, tuple(d_initial), grads
