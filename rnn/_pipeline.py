"""A one-direction stack in evaluation mode with each layer in a thread of its own.

A layer's steps run one after the other, but layer ``k + 1`` can run steps ``t0 .. t1-1``
while layer ``k`` runs the steps after them: the layers form a pipeline, a chunk of steps
apart. Every matrix product keeps the whole batch, which splitting the batch between the
threads would halve (a product of half the rows costs more than half as much, since it
reads the same weights).

As in `rnn._recurrence.forward`, the layers share one state buffer: step ``t`` of layer
``k`` reads slot ``t`` and writes slot ``t + 1``, over the output of layer ``k - 1`` that
it has already projected. So layer ``k + 1`` runs a chunk only once layer ``k`` has
written it *and* taken the first step of the next one (which reads the chunk's last
slot). Layer ``k`` also copies its final state before it lets layer ``k + 1`` run its
last chunk.

The threads balance their multiply-adds: the thread of layer ``k - 1`` also projects the
first `shares` steps of each of layer ``k``'s chunks (a two-layer stack whose input is
half as wide as its hidden size: a quarter of them), into a pair of buffers the chunks
of that layer use in turn. The first layer takes its arrays where a pass on one thread
does; each other layer has its own (`rnn._recurrence.Workspace.layer`), so a pipelined
pass keeps one or two chunks of input projection, a cell state and a step's scratch
more per layer.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np

from rnn._parameters import LayerWeights, Layout
from rnn._recurrence import (
    PARALLEL_ELEMENTS,
    Schedule,
    Workspace,
    _final,
    _lane,
    _per_step,
    _place_initial,
    _project,
    _steps,
    chunk_steps,
    layer_buffers,
)
from rnn._threads import run_together
from rnn._types import Array

MIN_CHUNKS = 4
"""Fewest chunks of a pass run as a pipeline: with fewer, the layers overlap little (the
first layer runs a chunk alone at the start, the last one at the end)."""


def applies(layout: Layout, schedule: Schedule, threads: int) -> bool:
    """Whether an evaluation-mode pass runs as a pipeline of layers: a one-direction stack
    (forwards in time) of 2 to `threads` layers, every sequence of the full length and
    at least `MIN_CHUNKS` chunks long, and a step's work large enough to share
    (`rnn._recurrence.PARALLEL_ELEMENTS`)."""
    batch = len(schedule.lengths)
    return (
        layout.directions == 1
        and not layout.go_backwards
        and 2 <= layout.num_layers <= threads
        and schedule.full
        and schedule.order is None
        and batch * layout.hidden_size >= PARALLEL_ELEMENTS
        and schedule.steps >= MIN_CHUNKS * chunk_steps(schedule.steps, batch)
    )


def _ranges(steps: int, size: int) -> list[tuple[int, int]]:
    """The chunks ``[t0, t1)`` of a pass: `size` steps, and smaller at both ends, where
    the first layer's first chunk and the last layer's last run alone.

    >>> _ranges(12, 4)
    [(0, 1), (1, 3), (3, 7), (7, 9), (9, 11), (11, 12)]
    """
    edge = [s for s in (size // 4, size // 2) if s >= 1]
    middle = steps - 2 * sum(edge)
    if middle < size:
        edge, middle = [], steps
    lengths = [*edge, *[size] * (middle // size), *([middle % size] if middle % size else [])]
    bounds = itertools.accumulate([*lengths, *edge[::-1]], initial=0)
    return list(itertools.pairwise(bounds))


def shares(weights: list[LayerWeights]) -> list[float]:
    """The fraction of the steps of each chunk of layer ``k``'s input projection that the
    thread of layer ``k - 1`` computes (0 for the first layer), so that every thread
    does about the same number of multiply-adds per row and step.

    >>> import numpy as np
    >>> from rnn._kernels import DirectionWeights
    >>> def layer(inputs, hidden):  # an Elman layer: weights' shapes only
    ...     w = DirectionWeights(np.zeros((hidden, hidden)), np.zeros((hidden, hidden)), None)
    ...     return LayerWeights(np.zeros(0), np.zeros((inputs, hidden)), None, (w,))
    >>> shares([layer(256, 512), layer(512, 512)])  # x 512 per row: 768 + 128 | 384 + 512
    [0.0, 0.25]
    """
    projection = [w.w_ih_s.size for w in weights]
    recurrence = [
        w.directions[0].w_hh_s.size
        + (0 if w.directions[0].w_hr_t is None else w.directions[0].w_hr_t.size)
        for w in weights
    ]
    target = (sum(projection) + sum(recurrence)) / len(weights)
    fractions, load = [0.0], float(projection[0] + recurrence[0])
    for proj, rec in zip(projection[1:], recurrence[1:]):
        taken = min(max((target - load) / proj, 0.0), 1.0)
        fractions.append(taken)
        load = proj * (1 - taken) + rec
    return fractions


class _Aborted(Exception):
    """Raised in a layer's thread when another layer's thread failed."""


class _Progress:
    """What each layer's thread has done, under one condition variable.

    ``steps[k]``: steps layer ``k`` has run (its slots up to ``steps[k]`` are written, and
    slot ``steps[k] - 1`` read); ``chunks[k]``: chunks it has finished; ``shared[k]``:
    chunks of layer ``k`` whose share of the projection the thread before wrote.
    """

    def __init__(self, layers: int) -> None:
        self.condition = threading.Condition()
        self.steps = [0] * layers
        self.chunks = [0] * layers
        self.shared = [0] * layers
        self.failed = False

    def wait(self, counts: list[int], k: int, value: int) -> None:
        """Until ``counts[k] >= value``; raises `_Aborted` if another thread failed."""
        with self.condition:
            self.condition.wait_for(lambda: self.failed or counts[k] >= value)
            if self.failed:
                raise _Aborted

    def set(self, counts: list[int], k: int, value: int) -> None:
        with self.condition:
            counts[k] = value
            self.condition.notify_all()

    def fail(self) -> None:
        with self.condition:
            self.failed = True
            self.condition.notify_all()


def forward(
    layout: Layout,
    weights: list[LayerWeights],
    x: Array,
    initial: tuple[Array, ...],
    schedule: Schedule,
    workspace: Workspace,
) -> tuple[Array, tuple[Array, ...]]:
    """`rnn._recurrence.forward` in evaluation mode, each layer in a thread of its own
    (where `applies`); the same arguments and results, bit for bit where the BLAS gives
    a row of a matrix product the same value whatever the other rows are."""
    steps, batch = x.shape[:2]
    layers, dtype = len(weights), x.dtype
    size = chunk_steps(steps, batch)
    chunks = _ranges(steps, size)
    share = shares(weights)
    h = np.empty((steps + 2, batch, 1, layout.output_size), dtype)  # becomes the output
    emitted = h[1 : steps + 1].reshape(steps, batch, layout.output_size)
    inputs = [x, *([emitted] * (layers - 1))]
    # the first layer takes what a pass on one thread takes; the others, arrays of their own
    spaces = [workspace, *(workspace.layer(k) for k in range(1, layers))]
    blocks, hidden = weights[0].w_ih_s.shape[1], weights[0].w_ih_s.shape[3]
    projections = [(w.w_ih_s[0], None if w.b_x is None else w.b_x[0]) for w in weights]
    buffers = [  # a chunk's input projection; two where the thread before writes a share
        [
            spaces[k].take(f"chunk{j}", (blocks, size * batch, hidden), dtype)
            for j in range(2 if share[k] else 1)
        ]
        for k in range(layers)
    ]
    gates = np.empty((1, blocks, 0, batch, hidden), dtype)
    tapes = [
        layer_buffers(layout, inputs[k], gates, False, False, spaces[k], h) for k in range(layers)
    ]
    finals: list[tuple[Array, ...]] = [()] * layers
    progress = _Progress(layers)

    def project_next(k: int, c: int, t0: int, t1: int) -> None:
        """Layer ``k + 1``'s share of the projection of chunk `c`, once its buffer is free."""
        steps_shared = round(share[k + 1] * (t1 - t0))
        progress.wait(progress.chunks, k + 1, c - 1)
        _project(
            inputs[k + 1][t0 : t0 + steps_shared],
            *projections[k + 1],
            buffers[k + 1][c % 2][:, : steps_shared * batch],  # two buffers: a share is written
        )
        progress.set(progress.shared, k + 1, c + 1)

    def run(k: int) -> None:
        kernel, w, tape = layout.kernels[0], weights[k].directions[0], tapes[k]
        lane, work = _lane(tape, 0), np.empty((blocks, batch, hidden), dtype)
        init = tuple(s[k : k + 1] for s in initial)
        for c, (t0, t1) in enumerate(chunks):
            if k:
                progress.wait(progress.steps, k - 1, min(t1 + 1, steps))
            if c == 0:  # slot 0 is read: the initial state goes there
                _place_initial(tape.states, init, schedule, 0, False)
            ready = round(share[k] * (t1 - t0))  # steps the thread before projects
            out = buffers[k][c % len(buffers[k])][:, : (t1 - t0) * batch]
            _project(inputs[k][t0 + ready : t1], *projections[k], out[:, ready * batch :])
            if ready:
                progress.wait(progress.shared, k, c + 1)
            rows = _per_step(out.reshape(blocks, t1 - t0, batch, hidden))
            planned = _steps(lane, False, range(t0, t1), schedule.sizes, rows, 0)
            kernel.forward(planned[0], w, work, False)
            if t1 < steps:  # the last chunk's last slot holds the final state: not yet
                progress.set(progress.steps, k, t0 + 1)
            for step in planned[1:]:
                kernel.forward(step, w, work, False)
            if t1 == steps:  # before the next layer may overwrite the last slot
                finals[k] = tuple(np.array([_final(s, schedule, 0, False)]) for s in tape.states)
            progress.set(progress.steps, k, t1)
            progress.set(progress.chunks, k, c + 1)
            if k + 1 < layers and share[k + 1]:
                project_next(k, c, t0, t1)

    def guarded(k: int) -> None:
        try:
            run(k)
        except _Aborted:
            return  # the failing thread raises its own error
        except BaseException:
            progress.fail()
            raise

    run_together(guarded, range(layers))
    return emitted, tuple(np.concatenate(parts) for parts in zip(*finals))
