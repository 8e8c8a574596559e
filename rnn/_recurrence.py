r"""The recurrence driver: runs any kernel over time, layers, directions and lengths.

This is the package's time loop (`rnn._pipeline` runs the same steps, from the same
pieces, with the layers of a one-direction stack in threads of their own). For each layer
it

1. projects the whole input sequence at once, one stacked matrix product per direction:
   ``gates[d] = x.reshape(L*N, H_in) @ W_ih^T + b`` gate block by gate block, viewed as
   ``(D, G, L, N, H)``, so that a step's gates are ``(G, N, H)``, each block contiguous
   (`rnn._kernels`; in evaluation mode, a chunk of steps at a time, just before running
   them);
2. runs each direction's kernel step by step, forwards in time or backwards, writing each
   new state straight into the layer's state buffer;
3. merges the directions (concatenated by default) and hands the result to the next layer,
   through dropout in training mode.

**The state buffer** of a layer is ``(L+2, N, D, width)``: time slots 0 and ``L+1``
frame the ``L`` steps. Step ``t`` writes slot ``t+1``; it reads slot ``t`` going forwards
and slot ``t+2`` going backwards (`_slots`). So the emitted states ``buffer[1:L+1]`` are
the layer's output, with no copy; the initial state of a forward direction sits in slot
0, and that of a backward direction in the slot after each sequence's last valid step
(`_place_initial`).

**Variable lengths** follow PyTorch's packed sequences. The batch is sorted by length,
longest first, so the rows still running at step ``t`` are the first
``sizes[t] = #{b : lengths[b] > t}``; each step touches only those rows. Positions past a
sequence's length are never read: the caller's padding is zeroed before the projection
(`rnn._module.Module`), outputs there are zero, and no gradient reaches them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

import numpy as np

from rnn._kernels import DirectionWeights, HiddenGrads, Kernel, Step, StepGrads
from rnn._parameters import LayerGrads, LayerWeights, Layout
from rnn._threads import blas_share, get_num_threads, parallel_map
from rnn._types import Array

R = TypeVar("R")


@dataclass(frozen=True)
class Schedule:
    """Which rows of the batch run at each step.

    Attributes
    ----------
    steps : int
        L, the padded sequence length.
    sizes : list of int
        ``sizes[t]``, the number of rows (of the sorted batch) active at step ``t``.
    lengths : ndarray of int, shape (N,)
        Sorted lengths, longest first (all L without lengths).
    order, inverse : ndarray of int, shape (N,), or None
        ``sorted_batch = batch[order]`` and ``batch = sorted_batch[inverse]``; None when the
        batch is already sorted.
    """

    steps: int
    sizes: list[int]
    lengths: np.ndarray
    order: np.ndarray | None = None
    inverse: np.ndarray | None = None

    @classmethod
    def build(cls, steps: int, batch: int, lengths: np.ndarray | None) -> Schedule:
        """The schedule for `batch` sequences of `steps` steps, or of the given lengths."""
        if lengths is None or bool(np.all(lengths == steps)):
            return cls(steps, [batch] * steps, np.full(batch, steps, np.intp))
        order = np.argsort(-lengths, kind="stable")
        ordered = lengths[order]
        sizes = (ordered[None, :] > np.arange(steps)[:, None]).sum(axis=1)
        if bool(np.all(order == np.arange(batch))):
            return cls(steps, sizes.tolist(), ordered)
        return cls(steps, sizes.tolist(), ordered, order, np.argsort(order))

    @property
    def full(self) -> bool:
        """True when every sequence has length L (no row ever sits out)."""
        return self.sizes[-1] == len(self.lengths) if self.steps else True

    @property
    def live(self) -> int:
        """The number of steps with any row active (later steps are skipped)."""
        return int(self.lengths[0]) if len(self.lengths) else self.steps

    def padding(self) -> np.ndarray | None:
        """Boolean mask of shape (L, N), True at padded positions; None without padding."""
        if self.full:
            return None
        return np.arange(self.steps)[:, None] >= self.lengths[None, :]

    def times(self, reverse: bool) -> range:
        """The steps in processing order."""
        return range(self.live - 1, -1, -1) if reverse else range(self.live)


class Workspace:
    """Arrays kept from one pass to the next, one per role, so that a pass does not touch
    fresh memory (which the system hands out page by page, a fault per page).

    In evaluation mode layers run one after the other, so they share one input projection,
    one scratch array and one cell-state buffer, except in a pipelined pass
    (`rnn._pipeline`), whose layers run at once: there every layer after the first has its
    own (`layer`). A recorded (training-mode) pass keeps every layer's arrays until its
    backward pass, so there each layer has its own, which the next recorded pass reuses
    once its record has been replaced. A workspace serves one
    thread at a time; `rnn._module.Module` keeps one per thread for evaluation, and one for
    training.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, Array] = {}
        self._layers: dict[int, Workspace] = {}

    def take(self, role: str, shape: tuple[int, ...], dtype: np.dtype) -> Array:
        """An array of `shape` and `dtype` for `role`; its contents are garbage."""
        array = self._arrays.get(role)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[role] = np.empty(shape, dtype)
        return array

    def cleared(self, role: str, shape: tuple[int, ...], dtype: np.dtype, zero: bool) -> Array:
        """`take`, filled with zeros when `zero`."""
        array = self.take(role, shape, dtype)
        if zero:
            array.fill(0)
        return array

    def layer(self, index: int) -> Workspace:
        """The arrays of layer `index` of a recorded pass (or of a pipelined one)."""
        return self._layers.setdefault(index, Workspace())


@dataclass
class LayerTape:
    """What the backward pass needs from one layer's forward pass.

    Attributes
    ----------
    x : ndarray, shape (L, N, H_in)
        The layer's input (zero at padded positions).
    gates : ndarray, shape (D, G, L, N, H)
        The gate activations of every step.
    states : tuple of ndarray, each of shape (L+2, N, D, width)
        The state buffers (see the module docstring).
    extra : ndarray, shape (L, N, D, E)
        Per-step values the kernels kept for their backward pass.
    extra_widths : tuple of int
        How many columns of `extra` each direction's kernel uses.
    mask : ndarray or None
        The scaled dropout mask applied to this layer's output.
    """

    x: Array
    gates: Array
    states: tuple[Array, ...]
    extra: Array
    extra_widths: tuple[int, ...]
    mask: Array | None = None


@dataclass
class Tape:
    """The record of one training-mode forward pass.

    Attributes
    ----------
    schedule : Schedule
    workspace : Workspace
        Where the record's arrays come from; the backward pass takes its own there too.
    batched : bool
        Whether the caller's input had a batch axis (the backward pass answers in kind).
    layers : list of LayerTape
    """

    schedule: Schedule
    workspace: Workspace
    batched: bool = True
    layers: list[LayerTape] = field(default_factory=list)


def _slots(reverse: bool, t: int) -> tuple[int, int]:
    """The slots step `t` reads and writes, before taking them modulo a buffer's length
    (a buffer of L+2 slots keeps every state; a ring of 2 keeps the current one only)."""
    return (t + 2 if reverse else t), t + 1


class _Lane(NamedTuple):
    """One direction of one layer's buffers, as lists of per-slot views (built once, so a
    step only picks from lists)."""

    states: tuple[list[Array], ...]  # per state: the (N, width) view of every slot
    extra: list[Array]  # the (N, E_d) view of every slot of ``extra``
    batch: int


def _per_step(gates: Array) -> list[Array]:
    """The steps of projected `gates`, (G, T, N, H), as T views (G, N, H)."""
    return list(gates.transpose(1, 0, 2, 3))


def _lane(tape: LayerTape, d: int) -> _Lane:
    return _Lane(
        tuple(list(s[:, :, d]) for s in tape.states),
        list(tape.extra[:, :, d, : tape.extra_widths[d]]),
        tape.extra.shape[1],
    )


def _steps(
    lane: _Lane,
    reverse: bool,
    times: range,
    sizes: Sequence[int],
    gate_rows: Sequence[Array],
    extra_slot: int | None,
) -> list[Step]:
    """What each step of `times` (in processing order) reads and writes.

    Step ``t`` reads the slots `_slots` names (taken modulo each buffer's length), rows
    ``:n`` with ``n = sizes[t]``: its gate rows (``gate_rows``, aligned with `times`), its
    previous and new states, and ``extra`` at `extra_slot` (None: slot ``t``). The views
    are picked by slicing lists, so a step costs the loop little more than a call.
    """
    count, stride = len(times), times.step

    def pick(views: list[Array], start: int) -> list[Array]:
        """``views[start]``, ``views[start + stride]``, ... (`count` of them), modulo
        ``len(views)``."""
        last = start + stride * (count - 1)
        low, high = min(start, last), max(start, last)
        if high >= len(views):  # a ring of slots, gone round
            return [views[i % len(views)] for i in range(start, last + stride, stride)]
        picked = views[low : high + 1]
        return picked[::-1] if stride < 0 else picked

    read, write = _slots(reverse, times[0])
    prev = zip(*[pick(s, read) for s in lane.states])
    new = zip(*[pick(s, write) for s in lane.states])
    extra = pick(lane.extra, times[0]) if extra_slot is None else [lane.extra[extra_slot]] * count
    steps = list(map(Step, gate_rows, prev, new, extra))
    batch = lane.batch
    if sizes[max(times[0], times[-1])] == batch:  # sizes never grow: every step is full
        return steps
    return [_rows(step, sizes[t]) if sizes[t] < batch else step for step, t in zip(steps, times)]


def _rows(step: Step, n: int) -> Step:
    """`step` restricted to its first `n` rows (those still running)."""
    return Step(
        step.g[:, :n],
        tuple(p[:n] for p in step.prev),
        tuple(v[:n] for v in step.new),
        step.extra[:n],
    )


def _place_initial(
    states: tuple[Array, ...], initial: tuple[Array, ...], schedule: Schedule, d: int, reverse: bool
) -> None:
    """Write direction `d`'s initial states into the slot each sequence's first step reads."""
    rows = np.arange(len(schedule.lengths))
    for state, init in zip(states, initial):
        if reverse:
            state[(schedule.lengths + 1) % len(state), rows, d] = init[d]
        else:
            state[0, :, d] = init[d]


def _final(state: Array, schedule: Schedule, d: int, reverse: bool) -> Array:
    """The state each sequence's last step wrote, shape (N, width); a view of `state`
    unless the sequences end at different steps."""
    if reverse:
        return state[1, :, d]
    if schedule.full:
        return state[schedule.steps % len(state), :, d]
    final: Array = state[schedule.lengths % len(state), np.arange(len(schedule.lengths)), d]
    return final


def _project(x: Array, w_s: Array, b: Array | None, out: Array) -> Array:
    """``x @ w_s + b`` into `out`: the input projection of the steps `x` holds, gate block
    by gate block.

    `x` is (T, N, H_in), `w_s` (G, H_in, H) and `b` (G, 1, H) one direction's
    ``LayerWeights.w_ih_s`` and ``b_x``, `out` (G, T*N, H), possibly rows of a longer
    array; returns `out` viewed as (G, T, N, H).
    """
    steps, batch = x.shape[:2]
    np.matmul(x.reshape(steps * batch, x.shape[2]), w_s, out=out)
    if b is not None:
        out += b
    return out.reshape(w_s.shape[0], steps, batch, w_s.shape[2])


PARALLEL_ELEMENTS = 1 << 14
"""Rows times hidden size from which a bidirectional layer runs its directions in two
threads. Below it a step's numpy calls are so short that two threads contending for the
GIL between them cost more than they gain (the benchmark's small-bi size, 32 x 128: the
GRU 7 % slower with two threads, the LSTM 2 %)."""

SMALL_PRODUCT = 1 << 22
"""Multiply-adds (rows x P x G*H) of a step's recurrent product below which a pass keeps
numpy's BLAS on one thread: OpenBLAS's threads cost more than they save on products that
small (the benchmark's small size, 32 x 128 x 128 to 512, ran 1.9 to 9 times slower with
two BLAS threads than with one)."""


def _blas_alone(rows: int, product: int) -> bool:
    """Whether OpenBLAS runs a step's recurrent product of `product` multiply-adds on one
    thread by itself, so that `blas_for` leaves its setting alone (changing it costs about
    3 µs each way, 3 to 8 % of a call at the benchmark's tiny size). numpy hands a single
    row to ``gemv``, which OpenBLAS keeps on one thread below 2304 x 4 multiply-adds
    (``interface/gemv.c``), and more rows to ``gemm``, up to 65536 x 4
    (``interface/gemm.c``; 4 is ``GEMM_MULTITHREAD_THRESHOLD``)."""
    return product < 2304 * 4 if rows == 1 else product <= 65536 * 4


def _directions_at_once(layout: Layout, batch: int) -> bool:
    """Whether a layer's directions run in parallel threads (`PARALLEL_ELEMENTS`)."""
    return len(layout.kernels) > 1 and batch * layout.hidden_size >= PARALLEL_ELEMENTS


def blas_for(layout: Layout, batch: int) -> AbstractContextManager[None]:
    """Where a pass over `batch` rows runs: BLAS on one thread for a small recurrent
    product (`SMALL_PRODUCT`), else as `rnn.set_num_threads` set it (one thread there
    too when it set one, and for a product that OpenBLAS keeps on one thread anyway,
    `_blas_alone`: then nothing needs changing)."""
    if get_num_threads() == 1:
        return nullcontext()
    product = batch * layout.state_sizes[0] * layout.kernels[0].gates * layout.hidden_size
    small = product < SMALL_PRODUCT and not _blas_alone(batch, product)
    return blas_share(1) if small else nullcontext()


def _each_direction(fn: Callable[[int], R], layout: Layout, batch: int) -> list[R]:
    """``[fn(d) for d in directions]``, in parallel threads where it pays."""
    directions = range(len(layout.kernels))
    if _directions_at_once(layout, batch):
        return parallel_map(fn, directions)
    return [fn(d) for d in directions]


CHUNK_ROWS = 512
"""Rows (steps x batch) of one chunk of the evaluation-mode input projection: enough for an
efficient matrix product, small enough that the chunk costs a fraction of the output."""


def chunk_steps(live: int, batch: int) -> int:
    """The steps of a chunk of `CHUNK_ROWS` rows over `batch` rows: at least one, at most
    `live`."""
    return max(1, min(live, -(-CHUNK_ROWS // max(batch, 1))))


def _chunks(live: int, batch: int, reverse: bool, whole: bool) -> list[tuple[int, int]]:
    """The ranges of steps ``[t0, t1)`` projected at once, in processing order."""
    size = live if whole else chunk_steps(live, batch)
    ranges = [(t0, min(t0 + size, live)) for t0 in range(0, live, size)]
    return ranges[::-1] if reverse else ranges


def merge(emitted: Array, mode: str | None) -> Array | tuple[Array, Array]:
    """A layer's output from its directions' states ``emitted``, shape (L, N, D, P).

    ``"concat"`` gives (L, N, D*P) (a view); ``"sum"``, ``"mul"``, ``"ave"`` give (L, N, P);
    None gives the two directions apart.
    """
    if emitted.shape[2] == 1 or mode == "concat":
        return emitted.reshape(*emitted.shape[:2], emitted.shape[2] * emitted.shape[3])
    forward, backward = emitted[:, :, 0], emitted[:, :, 1]
    if mode is None:
        return forward.copy(), backward.copy()
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    return (forward + backward) / 2  # "ave"


def _unmerge(d_out: Array | tuple[Array, Array], emitted: Array, mode: str | None) -> Array:
    """`merge` backwards: the gradient of each direction's states, shape (L, N, D, P)."""
    shape = emitted.shape
    if isinstance(d_out, tuple):
        return np.stack(d_out, axis=2)
    if shape[2] == 1 or mode == "concat":
        return d_out.reshape(shape)
    if mode == "mul":
        return np.stack([d_out * emitted[:, :, 1], d_out * emitted[:, :, 0]], axis=2)
    half = d_out / 2 if mode == "ave" else d_out
    return np.stack([half, half], axis=2)


def _run_layer(
    layout: Layout,
    weights: LayerWeights,
    x: Array,
    initial: tuple[Array, ...],
    schedule: Schedule,
    keep: bool,
    workspace: Workspace,
    h_out: Array | None,
) -> tuple[LayerTape, tuple[Array, ...]]:
    """Run one layer, every direction; return its record and final states (D, N, width).

    Every array but the evaluation-mode output comes from the `workspace`. Recording
    (`keep`), the projection of every step is kept (the backward pass reads the gates)
    and so is every state; with padding, those buffers start at zero, since the backward
    pass reads them whole. In evaluation mode each direction projects its input a chunk
    of steps at a time, just before running them, LSTM's cell state is a ring of two
    slots, and `h_out`, if given, becomes the buffer of ``h`` (else fresh memory, the
    output). `forward` hands a one-direction layer its own input's buffer, since a step
    overwrites only input that has been projected, and a bidirectional layer, whose
    directions read the input from both ends, another buffer. Each direction projects in
    a thread of its own: one matrix product on several BLAS threads would leave the
    BLAS's worker threads spinning, for a while after it returns, on the cores the
    directions then run on.
    """
    steps, batch = x.shape[:2]
    directions, blocks, _, hidden = weights.w_ih_s.shape
    zero = keep and not schedule.full
    whole = keep
    biases = [None if weights.b_x is None else weights.b_x[d] for d in range(directions)]
    if whole:
        flat = workspace.take("gates", (directions, blocks, steps * batch, hidden), x.dtype)

        def project(d: int) -> None:
            _project(x, weights.w_ih_s[d], biases[d], flat[d])

        _each_direction(project, layout, batch)
        gates = flat.reshape(directions, blocks, steps, batch, hidden)
    else:  # projected by chunks
        gates = np.empty((directions, blocks, 0, batch, hidden), x.dtype)
    tape = layer_buffers(layout, x, gates, keep, zero, workspace, h_out)
    states = tape.states

    def run(d: int) -> None:
        kernel, w, reverse = layout.kernels[d], weights.directions[d], layout.reverse(d)
        _place_initial(states, initial, schedule, d, reverse)
        lane, sizes = _lane(tape, d), schedule.sizes
        work = np.empty((blocks, batch, hidden), x.dtype)
        projected = _per_step(gates[d])  # none when projected by chunks
        for t0, t1 in _chunks(schedule.live, batch, reverse, whole):
            times = range(t1 - 1, t0 - 1, -1) if reverse else range(t0, t1)
            if whole:
                rows = [projected[t] for t in times]
            else:
                out = workspace.take(f"chunk{d}", (blocks, (t1 - t0) * batch, hidden), x.dtype)
                chunk = _per_step(_project(x[t0:t1], weights.w_ih_s[d], biases[d], out))
                rows = chunk[::-1] if reverse else chunk
            planned = _steps(lane, reverse, times, sizes, rows, None if keep else 0)
            if schedule.full:
                for step in planned:
                    kernel.forward(step, w, work, keep)
            else:
                for step in planned:
                    kernel.forward(step, w, work[:, : step.g.shape[1]], keep)

    _each_direction(run, layout, batch)  # the directions are independent
    final = tuple(  # copies: np.array stacks the directions' views
        np.array([_final(s, schedule, d, layout.reverse(d)) for d in range(directions)])
        for s in states
    )
    return tape, final


def layer_buffers(
    layout: Layout,
    x: Array,
    gates: Array,
    keep: bool,
    zero: bool,
    workspace: Workspace,
    h_out: Array | None,
) -> LayerTape:
    """A layer's record around its input `x` and `gates`: its state buffers and ``extra``
    from the `workspace` (zeroed when `zero`), the buffer of ``h`` being `h_out` if given
    (else fresh memory, the output, in evaluation mode). Recording (`keep`), every state
    and every step's ``extra`` is kept; else LSTM's cell state is a ring of two slots and
    ``extra`` a single one."""
    steps, batch = x.shape[:2]
    directions, widths = len(layout.kernels), layout.state_sizes
    h_shape = (steps + 2, batch, directions, widths[0])
    if keep:
        h = workspace.cleared("h", h_shape, x.dtype, zero)
    elif h_out is None:  # the output: fresh memory, not scratch
        h = np.empty(h_shape, x.dtype)
    else:
        h = h_out
    slots = steps + 2 if keep else 2
    states = (
        h,
        *(workspace.cleared("c", (slots, batch, directions, w), x.dtype, zero) for w in widths[1:]),
    )
    # each direction's kernel may keep a different amount (one fused, one not)
    extras = tuple(k.extra_width(layout.hidden_size, layout.proj_size) for k in layout.kernels)
    extra_shape = (steps if keep else 1, batch, directions, max(extras))
    extra = workspace.cleared("extra", extra_shape, x.dtype, zero)
    return LayerTape(x, gates, states, extra, extras)


def _outside_the_record(
    output: Array | tuple[Array, Array], padding: np.ndarray | None, space: Workspace | None
) -> Array | tuple[Array, Array]:
    """A training-mode layer output that shares no memory with the states it was read
    from, zero at padded positions (where the buffer may hold a backward direction's
    initial state). A copy goes into `space` when given (the next layer's input, part of
    the record), else into fresh memory (the output returned to the caller)."""
    parts: tuple[Array, ...] = output if isinstance(output, tuple) else (output,)
    parts = tuple(
        p if p.base is None else p.copy() if space is None else _copy(p, space) for p in parts
    )
    if padding is not None:
        for part in parts:
            part[padding] = 0
    return (parts[0], parts[1]) if len(parts) == 2 else parts[0]


def _copy(a: Array, space: Workspace) -> Array:
    """A copy of `a` in `space`'s array for a layer's output."""
    copy = space.take("output", a.shape, a.dtype)
    np.copyto(copy, a)
    return copy


def forward(
    layout: Layout,
    weights: list[LayerWeights],
    x: Array,
    initial: tuple[Array, ...],
    schedule: Schedule,
    *,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    keep: bool = False,
    workspace: Workspace,
    out: Array | None = None,
) -> tuple[Array | tuple[Array, Array], tuple[Array, ...], Tape | None]:
    """Run a stack of recurrent layers over a batch of sequences.

    Parameters
    ----------
    layout : Layout
    weights : list of LayerWeights
        One per layer.
    x : ndarray, shape (L, N, H_in)
        The input, batch sorted as `schedule` says, zero at padded positions.
    initial : tuple of ndarray
        The initial states, each of shape (num_layers*D, N, width), layer-major.
    schedule : Schedule
    dropout : float
        Probability of zeroing an element of each layer's output but the last.
    rng : numpy.random.Generator, optional
        Draws the dropout masks; required when `dropout` > 0.
    keep : bool
        Record a `Tape` for the backward pass.
    workspace : Workspace
        Where the pass takes its arrays from. Recording, they stay in use until the
        backward pass, so hand the same workspace to the next recorded pass only once
        the tape has been used or dropped.
    out : ndarray, shape (L+2, N, 1, P), optional
        Evaluation mode, one direction: the first layer's state buffer, whose slots
        ``1..L`` become the output (every layer writes its states over its input there;
        a caller running parts of a batch at once hands each its rows of one).

    Returns
    -------
    output : ndarray of shape (L, N, D*P) or (L, N, P), or a pair of (L, N, P)
        The last layer's output (see `merge`); zero at padded positions. In evaluation mode
        it may be a view of the workspace: copy it before the next pass.
    final : tuple of ndarray
        The final states, shaped like `initial`.
    tape : Tape or None
        The record of the pass, when `keep`.
    """
    tape = Tape(schedule, workspace) if keep else None
    padding = schedule.padding()
    finals: list[tuple[Array, ...]] = []
    directions, last = len(layout.kernels), len(weights) - 1
    h_out = out
    output: Array | tuple[Array, Array] = x
    for layer, w in enumerate(weights):
        rows = slice(layer * directions, (layer + 1) * directions)
        init = tuple(s[rows] for s in initial)
        space = workspace.layer(layer) if keep else workspace
        if not keep and directions > 1:  # states never overwrite this layer's input
            shape = (schedule.steps + 2, x.shape[1], directions, layout.state_sizes[0])
            h_out = None if layer == last else workspace.take(f"h{layer % 2}", shape, x.dtype)
        layer_tape, final = _run_layer(layout, w, x, init, schedule, keep, space, h_out)
        finals.append(final)
        emitted = layer_tape.states[0][1 : schedule.steps + 1]  # (L, N, D, P)
        if not keep:
            h_out = layer_tape.states[0]  # one direction: the next layer's states overwrite it
            if padding is not None:
                emitted[padding] = 0
        output = merge(emitted, layout.merge_mode)
        inner = layer < last
        if keep:
            output = _outside_the_record(output, padding, space if inner else None)
        if dropout and inner:
            assert rng is not None and not isinstance(output, tuple)
            keep_prob = 1.0 - dropout
            mask = (rng.random(output.shape) < keep_prob).astype(output.dtype)
            if keep_prob:
                mask /= keep_prob
            layer_tape.mask = mask
            output *= mask  # a copy outside the states, or merge's own array
        if tape is not None:
            tape.layers.append(layer_tape)
        if not isinstance(output, tuple):
            x = output
    final_states = tuple(np.concatenate(parts) for parts in zip(*finals))
    return output, final_states, tape


def _record(tape: LayerTape, d: int, reverse: bool, t0: int, t1: int) -> Step:
    """What steps ``t0 .. t1-1`` of direction `d` read and wrote (the slots `_slots`
    names), each array of shape (t1 - t0, N, width)."""
    read, write = _slots(reverse, t0)
    count = t1 - t0
    return Step(
        tape.gates[d, :, t0:t1],
        tuple(s[read : read + count, :, d] for s in tape.states),
        tuple(s[write : write + count, :, d] for s in tape.states),
        tape.extra[t0:t1, :, d, : tape.extra_widths[d]],
    )


def _backward_direction(
    kernel: Kernel,
    w: DirectionWeights,
    tape: LayerTape,
    schedule: Schedule,
    d: int,
    reverse: bool,
    d_emitted: Array,
    carry: list[Array],
    d_gates: Array,
    space: Workspace,
) -> HiddenGrads:
    """BPTT through one direction of one layer; `carry` enters as the gradient of the
    final states and leaves as that of the initial states."""
    steps, batch, units = tape.gates.shape[2:]
    # d(h W_hh^T) of every step: d_gates itself, (L, N, G*H), unless the kernel keeps its own
    if kernel.separate_hidden_grad:
        shape = (steps, batch, kernel.hidden_grad_width(units))
        d_hidden = space.cleared(f"d_hidden{d}", shape, d_gates.dtype, not schedule.full)
    else:
        d_hidden = d_gates[:, :, d]
    w_hr = None if w.w_hr is None else np.zeros_like(w.w_hr)
    sizes, lane, blocks = schedule.sizes, _lane(tape, d), kernel.factor_width()
    work = space.take(f"work{d}", (batch, 2 * d_gates.shape[3]), d_gates.dtype)
    d_state = tuple(carry)  # views of the whole batch, updated in place
    recorded = _per_step(tape.gates[d])
    # backwards in time: the chunks of steps, and the steps in each, in reverse order
    for t0, t1 in _chunks(schedule.live, batch, not reverse, whole=False):
        times = range(t0, t1) if reverse else range(t1 - 1, t0 - 1, -1)
        factors = space.take(f"factors{d}", (t1 - t0, batch, blocks, units), d_gates.dtype)
        if blocks:
            kernel.backward_factors(_record(tape, d, reverse, t0, t1), factors)
        rows = [recorded[t] for t in times]
        views = zip(
            _steps(lane, reverse, times, sizes, rows, None),
            [sizes[t] for t in times],
            [d_emitted[t, :, d] for t in times],
            [d_gates[t, :, d] for t in times],
            [d_hidden[t] for t in times],
            [factors[t - t0] for t in times],
        )
        for step, n, d_out, d_g, d_h, f in views:
            if n == batch:
                grads = StepGrads(d_state, d_g, d_h, w_hr, f, work)
            else:
                rows_n = tuple(c[:n] for c in d_state)
                grads = StepGrads(rows_n, d_g[:n], d_h[:n], w_hr, f[:n], work[:n])
                d_out = d_out[:n]
            dh = grads.d_state[0]
            dh += d_out
            kernel.backward(step, grads, w)
    every = _record(tape, d, reverse, 0, steps)

    def flat(a: Array) -> Array:
        """(L, N, width) as (L*N, width)."""
        return a.reshape(steps * batch, a.shape[-1])

    hidden = kernel.weight_grads(
        flat(d_hidden),
        flat(d_gates[:, :, d]),
        tuple(map(flat, every.prev)),
        tuple(map(flat, every.new)),
        flat(every.extra),
    )
    hidden.w_hr = w_hr
    return hidden


def backward(
    layout: Layout,
    weights: list[LayerWeights],
    tape: Tape,
    d_output: Array | tuple[Array, Array],
    d_final: tuple[Array, ...],
) -> tuple[Array, tuple[Array, ...], list[LayerGrads]]:
    """Backpropagate through time, through every layer of a `forward` pass.

    Parameters
    ----------
    layout : Layout
    weights : list of LayerWeights
        The weights the forward pass ran with.
    tape : Tape
        Its record.
    d_output : ndarray or pair of ndarray
        Gradient of the loss with respect to the output, shaped like it (padded positions
        are ignored).
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
    directions = len(layout.kernels)
    d_initial = [np.empty_like(s) for s in d_final]
    grads: list[LayerGrads] = []
    for layer in range(len(weights) - 1, -1, -1):
        w, lt = weights[layer], tape.layers[layer]
        if lt.mask is not None:
            assert not isinstance(d_output, tuple)
            d_output *= lt.mask  # the previous layer's (internal) input gradient
        steps, batch = lt.x.shape[:2]
        emitted = lt.states[0][1 : steps + 1]
        d_emitted = _unmerge(d_output, emitted, layout.merge_mode)
        space = tape.workspace.layer(layer)
        width = layout.kernel.gates * layout.hidden_size
        d_gates = space.cleared(
            "d_gates", (steps, batch, directions, width), lt.gates.dtype, not schedule.full
        )
        carries = [[s[layer * directions + d].copy() for s in d_final] for d in range(directions)]

        def run(
            d: int,
            w: LayerWeights = w,
            lt: LayerTape = lt,
            d_emitted: Array = d_emitted,
            d_gates: Array = d_gates,
            carries: list[list[Array]] = carries,
            space: Workspace = space,
        ) -> HiddenGrads:
            return _backward_direction(
                layout.kernels[d],
                w.directions[d],
                lt,
                schedule,
                d,
                layout.reverse(d),
                d_emitted,
                carries[d],
                d_gates,
                space,
            )

        hidden = _each_direction(run, layout, batch)  # the directions are independent
        for d, carry in enumerate(carries):
            for d_init, c in zip(d_initial, carry):
                d_init[layer * directions + d] = c
        flat = d_gates.reshape(steps * batch, d_gates.shape[2] * d_gates.shape[3])  # (L*N, D*G*H)
        grads.append(
            LayerGrads(
                w_ih=flat.T @ lt.x.reshape(steps * batch, lt.x.shape[2]),
                b_x=None if w.b_x is None else flat.sum(axis=0),
                hidden=hidden,
            )
        )
        # the input's gradient: the caller's at the first layer, else the layer below's
        d_input = (
            space.take("d_input", (steps * batch, w.w_ih.shape[1]), flat.dtype) if layer else None
        )
        d_output = np.dot(flat, w.w_ih, out=d_input).reshape(steps, batch, w.w_ih.shape[1])
    grads.reverse()
    assert not isinstance(d_output, tuple)
    return d_output, tuple(d_initial), grads
