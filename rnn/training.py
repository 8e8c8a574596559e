r"""Training loops: truncated backpropagation through time, and a progress line.

Truncated BPTT trains on a sequence too long to backpropagate through in one piece. It
cuts the sequence into chunks of $k$ steps and, chunk after chunk, runs forward from
the state the previous chunk ended in, backpropagates through the chunk only, and
updates the parameters. The state crosses the chunk boundary as a plain array, so the
gradient stops there: nothing is kept beyond one chunk.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from typing import Any, Generic, Protocol, TextIO, TypeVar

import numpy as np

from rnn._types import Array
from rnn._validation import check_float, check_int
from rnn.optim import clip_grad_norm

T = TypeVar("T")

LossFn = Callable[[Array, Array], tuple[float, Array]]
"""``loss_fn(output, target) -> (loss, d loss / d output)``, e.g. `rnn.mse_loss`."""


class Recurrent(Protocol):
    """A model as `truncated_bptt` uses it: ``model(x, hx)`` and ``model.backward(grad)``."""

    def __call__(self, input: Any, hx: Any = None) -> tuple[Array, Any]: ...

    def backward(self, grad_output: Any = None) -> dict[str, Array]: ...


class Stepper(Protocol):
    """Anything with ``step(grads)``, like `rnn.SGD` and `rnn.Adam`."""

    def step(self, grads: Mapping[str, Any]) -> None: ...


def chunks(sequence: Any, k: int, *, axis: int = 0) -> Iterator[Array]:
    """Split a sequence into consecutive pieces of `k` time steps (views, no copies).

    Parameters
    ----------
    sequence : array_like, shape (L, ...) (time along `axis`)
    k : int
        Steps per piece, >= 1. The last piece is shorter when `k` does not divide L.
    axis : int, default 0
        The time axis: 0 for ``(L, N, ...)``, 1 for batch-first ``(N, L, ...)``.

    Yields
    ------
    ndarray
        ``sequence`` restricted to steps ``[s, s + k)`` along `axis`, for s = 0, k, 2k, ...

    Examples
    --------
    >>> import numpy as np
    >>> from rnn import chunks
    >>> [piece.tolist() for piece in chunks(np.arange(7), 3)]
    [[0, 1, 2], [3, 4, 5], [6]]
    """
    k = check_int("k", k, minimum=1)
    array = np.asarray(sequence)
    steps = array.shape[axis]
    for start in range(0, steps, k):
        yield array[(slice(None),) * (axis % array.ndim) + (slice(start, start + k),)]


def truncated_bptt(
    model: Recurrent,
    x: Any,
    target: Any,
    k: int,
    loss_fn: LossFn,
    optimizer: Stepper,
    hx: Any = None,
    *,
    max_norm: float | None = None,
) -> tuple[list[float], Any]:
    r"""One pass of truncated backpropagation through time over a long sequence.

    The sequence is cut into chunks of `k` steps. For chunk $j$ (steps $s_j$ to
    $s_j + k - 1$):

    1. ``output, state = model(x_chunk, state)``, starting from the state the previous
       chunk ended in (`hx` for the first);
    2. ``loss, grad = loss_fn(output, target_chunk)``;
    3. ``grads = model.backward(grad)``: BPTT through this chunk only; the state entering
       it is a constant, so no gradient flows into earlier chunks;
    4. optionally `rnn.clip_grad_norm`, then ``optimizer.step(grads)``.

    With ``k >= L`` this is one step of full BPTT.

    What carries from one chunk to the next is the state alone, so a pass can be split:
    calls on consecutive stretches of the sequence, each a multiple of `k` steps long
    (the last excepted), each given the state the previous one returned as `hx`, compute
    exactly what one call on the whole sequence does. Between two such calls, a
    checkpoint of the model, the optimiser, the state and the position
    (`rnn.save_checkpoint`) is all a resumed run needs.

    Parameters
    ----------
    model : RNN, GRU, LSTM, or anything called as ``model(x, hx) -> (output, state)``
        with ``backward(grad_output) -> grads``; in training mode.
    x : array_like, shape (L, N, H_in), or (N, L, H_in) if ``model.batch_first``
    target : array_like
        What `loss_fn` compares the output with, with time on the same axis as `x`.
    k : int
        Steps per chunk, >= 1.
    loss_fn : callable
        ``loss_fn(output, target_chunk) -> (loss, grad_output)``, e.g. `rnn.mse_loss`.
    optimizer : rnn.SGD, rnn.Adam, or anything with ``step(grads)``
    hx : optional
        The initial state, as the model takes it (LSTM: ``(h0, c0)``); zeros if None.
    max_norm : float, optional
        Clip each chunk's parameter gradients to this global norm.

    Returns
    -------
    losses : list of float
        The loss of each chunk, before its update.
    state
        The state after the last step, as the model returns it (LSTM: ``(h_n, c_n)``);
        pass it as `hx` to continue on the next stretch of the sequence.

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.LSTM(1, 8, proj_size=1, dtype=np.float64, seed=0)
    >>> wave = np.sin(0.2 * np.arange(101))[:, None, None]  # (L+1, N=1, H_in=1)
    >>> opt = rnn.SGD(model, lr=0.1)
    >>> losses, (h_n, c_n) = rnn.truncated_bptt(
    ...     model, wave[:-1], wave[1:], 25, rnn.mse_loss, opt
    ... )
    >>> len(losses), h_n.shape, c_n.shape
    (4, (1, 1, 1), (1, 1, 8))
    """
    if max_norm is not None:
        max_norm = check_float("max_norm", max_norm, 0, closed="neither")
    axis = 1 if getattr(model, "batch_first", False) else 0
    xs = list(chunks(x, k, axis=axis))
    targets = list(chunks(target, k, axis=axis))
    if len(xs) != len(targets) or xs[-1].shape[axis] != targets[-1].shape[axis]:
        raise ValueError(
            f"target must have as many time steps as x along axis {axis}, "
            f"{np.shape(x)[axis]}; got {np.shape(target)[axis]}"
        )
    losses = []
    state = hx
    for x_chunk, target_chunk in zip(xs, targets):
        output, state = model(x_chunk, state)
        loss, grad = loss_fn(output, target_chunk)
        grads = model.backward(grad)
        if max_norm is not None:
            grads, _ = clip_grad_norm(grads, max_norm)
        optimizer.step(grads)
        losses.append(loss)
    return losses, state


class Progress(Generic[T]):
    """Iterate over `iterable`, showing progress: a tqdm bar or a status line every `every` items.

    Create it with `progress`; see there.
    """

    def __init__(
        self,
        iterable: Iterable[T],
        total: int | None,
        every: int | None,
        file: TextIO | None,
        disable: bool,
        clock: Callable[[], float],
    ) -> None:
        self.iterable = iterable
        if total is None and isinstance(iterable, Sized):
            total = len(iterable)
        self.total = total
        if every is None:
            every = max(1, total // 10) if total else 100
        self.every = check_int("every", every, minimum=1)
        self.file = file
        self.disable = disable
        self.clock = clock
        self.count = 0
        self.values: dict[str, Any] = {}
        self._start = 0.0

    def set(self, **values: Any) -> None:
        """Show these values (e.g. ``loss=0.01``) on the next lines, replacing older ones."""
        self.values.update(values)

    def line(self) -> str:
        """The status line: ``step/total | rate | elapsed | name value ...``."""
        elapsed = self.clock() - self._start
        width = len(str(self.total)) if self.total else 0
        parts = [f"{self.count:>{width}}" + (f"/{self.total}" if self.total is not None else "")]
        rate = self.count / elapsed if elapsed > 0 else math.nan
        parts.append(f"{rate:.3g} it/s")
        parts.append(f"{elapsed:.1f}s")
        parts += [f"{name} {shown}" for name, shown in self._shown().items()]
        return " | ".join(parts)

    def _shown(self) -> dict[str, str]:
        """The values set, as shown: floats to 4 significant digits."""
        return {
            name: f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
            for name, value in self.values.items()
        }

    def _write(self) -> None:
        if self.disable:
            return
        file = self.file if self.file is not None else sys.stderr
        file.write(self.line() + "\n")
        file.flush()

    def _bar(self) -> Any:
        """A ``tqdm.auto`` bar, if tqdm is installed and the output is a terminal or a
        notebook; None (status lines) otherwise."""
        if self.disable:
            return None
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            return None
        notebook = self.file is None and any(
            cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__
        )
        file = self.file if self.file is not None else sys.stderr
        if not notebook and not (hasattr(file, "isatty") and file.isatty()):
            return None
        progress = self

        class Bar(tqdm):  # type: ignore[misc, valid-type, unused-ignore]
            @property
            def format_dict(self) -> dict[str, Any]:
                """tqdm's values, with the elapsed time and mean rate from our clock."""
                values: dict[str, Any] = super().format_dict
                values["elapsed"] = progress.clock() - progress._start
                values["rate"] = None  # format_meter then shows n / elapsed
                return values

        return Bar(total=self.total, file=None if notebook else file)

    def __iter__(self) -> Iterator[T]:
        self._start = self.clock()
        self.count = 0
        bar = self._bar()
        if bar is not None:
            with bar:
                for item in self.iterable:
                    yield item
                    self.count += 1
                    if self.values:
                        bar.set_postfix(self._shown(), refresh=False)
                    bar.update(1)
            return
        for item in self.iterable:
            yield item
            self.count += 1
            if self.count % self.every == 0:
                self._write()
        if self.count % self.every != 0:
            self._write()


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    *,
    every: int | None = None,
    file: TextIO | None = None,
    disable: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> Progress[T]:
    """Wrap a training loop to show its progress: step, rate and the latest values.

    In a terminal or a notebook, with tqdm installed (``pip install tqdm``, the extra ``progress``),
    a ``tqdm.auto`` bar is drawn (a widget in Jupyter). Otherwise (without tqdm, or
    writing to a file or a pipe) a line is written after every `every` items and after
    the last one::

        40/200 | 812 it/s | 0.0s | loss 0.0123

    Values shown come from ``set(name=value)``, typically the latest loss.

    Parameters
    ----------
    iterable : iterable
        What the loop runs over, e.g. ``range(steps)``.
    total : int, optional
        The number of items; taken from ``len(iterable)`` when it has one.
    every : int, optional
        Items between status lines; by default a tenth of `total` (100 if unknown).
        A tqdm bar redraws on its own schedule.
    file : text stream, optional
        Where to write; ``sys.stderr`` (looked up at each write) if None.
    disable : bool, default False
        Write nothing.
    clock : callable, default time.perf_counter
        Seconds, for the rate and the elapsed time (of a tqdm bar too); pass a fake one
        for reproducible output.

    Returns
    -------
    Progress
        Iterate over it instead of `iterable`; call its ``set`` inside the loop.

    Examples
    --------
    >>> import io
    >>> from rnn import progress
    >>> out = io.StringIO()
    >>> fake_clock = lambda: 0.5 * bar.count  # as if every step took half a second
    >>> bar = progress(range(4), every=2, file=out, clock=fake_clock)
    >>> for step in bar:
    ...     bar.set(loss=1 / (step + 1))
    >>> print(out.getvalue(), end="")
    2/4 | 2 it/s | 1.0s | loss 0.5
    4/4 | 2 it/s | 2.0s | loss 0.25
    """
    return Progress(iterable, total, every, file, disable, clock)
