"""The one place that decides how many threads `rnn` uses: its own workers and numpy's BLAS.

`set_num_threads` / `get_num_threads` carry PyTorch's names. `parallel_map` is what the
recurrence driver calls to run independent pieces of work (the two directions of a
layer, chunks of a batch) at once, and `run_together` runs pieces that wait on each other
(the layers of `rnn._pipeline`): numpy releases the GIL inside BLAS calls and ufunc
loops, so Python threads do run in parallel there.
"""

from __future__ import annotations

import importlib
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from rnn._validation import check_size

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_num_threads: int | None = None  # None until set_num_threads: the default below
_pool: ThreadPoolExecutor | None = None  # num_threads - 1 workers; the caller is the last
_inside = threading.local()  # set while a thread runs parallel_map's or run_together's items
_blas: list[Any] | None = None  # threadpoolctl's controllers of the BLAS libraries loaded
_blas_users = 0  # parallel_map calls currently holding BLAS at fewer threads
_blas_saved: list[int] = []  # the BLAS threads to restore when the last of them ends


def _default_threads() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded, or [] without threadpoolctl."""
    global _blas
    if _blas is None:
        try:
            threadpoolctl = importlib.import_module("threadpoolctl")
        except ImportError:
            _blas = []
        else:
            controller = threadpoolctl.ThreadpoolController()
            _blas = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    return _blas


def _set_blas_threads(n: int) -> None:
    for lib in _blas_libraries():
        lib.set_num_threads(n)


def set_num_threads(n: int) -> None:
    """Set the number of threads `rnn` uses, as ``torch.set_num_threads`` does.

    It sets two things. First, how many threads `rnn` runs parts of a pass on at once:
    the two directions of a bidirectional layer; in evaluation mode, the layers of a
    one-direction stack of at most `n` layers, each in a thread of its own, a chunk of
    steps apart, or else parts of a large batch. Second, when threadpoolctl is
    installed (``pip install threadpoolctl``, the extra ``threads``), the number of threads
    of every BLAS library loaded in the process (numpy's OpenBLAS, and also MKL if PyTorch
    is loaded), which run each matrix product. Without threadpoolctl only `rnn`'s own worker threads
    change and the BLAS keeps its own setting (for OpenBLAS, the ``OPENBLAS_NUM_THREADS``
    environment variable read at start-up).

    While `rnn` runs parts of a call in parallel, it lowers the BLAS threads so that the
    parts together use ``n`` threads, and restores them afterwards. It uses threads only
    where they pay: a pass whose per-step recurrent product is small keeps the BLAS on
    one thread, and a bidirectional layer runs its directions at once only when a step's
    work is large enough (the limits are on the Performance page).

    Parameters
    ----------
    n : int
        A positive number of threads; numpy integers are accepted.

    Raises
    ------
    TypeError
        If `n` is not an integer (``True`` and ``False`` are not).
    ValueError
        If `n` is zero or negative.

    Examples
    --------
    >>> import rnn
    >>> before = rnn.get_num_threads()
    >>> rnn.set_num_threads(1)
    >>> rnn.get_num_threads()
    1
    >>> rnn.set_num_threads(before)
    """
    global _num_threads, _pool, _blas
    n = check_size("number of threads", n)
    with _lock:
        _blas = None  # rescan: libraries loaded since the last call are included
        _set_blas_threads(n)
        if n != _num_threads and _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None
        _num_threads = n


def get_num_threads() -> int:
    """The number of threads `rnn` uses, as ``torch.get_num_threads`` does.

    Returns
    -------
    int
        The last value given to `set_num_threads`; before any, the number of CPUs this
        process may run on (``os.sched_getaffinity`` where the OS has it, else
        ``os.cpu_count()``).

    Examples
    --------
    >>> import rnn
    >>> rnn.get_num_threads() >= 1
    True
    """
    return _default_threads() if _num_threads is None else _num_threads


def available_threads() -> int:
    """`get_num_threads`, or 1 in a thread that runs an item of `parallel_map` or
    `run_together`: there the threads are taken, and nested work runs inline."""
    return 1 if getattr(_inside, "active", False) else get_num_threads()


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="rnn")
        return _pool


@contextmanager
def blas_share(threads: int) -> Iterator[None]:
    """BLAS at `threads` threads while inside; as before when the last caller leaves.

    The setting is the process's: a thread that enters lowers it for every thread until
    the last one inside leaves (the first to enter sets it; nested entries keep it).
    """
    global _blas_users, _blas_saved
    with _lock:
        _blas_users += 1
        if _blas_users == 1:
            _blas_saved = [lib.num_threads for lib in _blas_libraries()]
            _set_blas_threads(threads)
    try:
        yield
    finally:
        with _lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, saved in zip(_blas_libraries(), _blas_saved):
                    lib.set_num_threads(saved)


def parallel_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]``, running up to `get_num_threads` items at once.

    The calling thread runs items too, beside ``get_num_threads() - 1`` workers of a
    persistent pool (made again when the count changes); each takes the next item not
    yet started. Everything runs in the calling thread, in order, when the count is 1,
    when there is a single item, or when called from inside another `parallel_map`'s
    item (nesting never waits on a busy pool). While items run in parallel, each BLAS
    call gets ``get_num_threads() // workers`` threads (at least 1).

    Parameters
    ----------
    fn : callable
        Called once per item. Items must not depend on each other.
    items : iterable

    Returns
    -------
    list
        ``fn(item)`` for each item, in the order of `items`.

    Raises
    ------
    Exception
        Whatever `fn` raised, for the first item (in order) that raised; every item has
        finished (or failed) by then.

    Examples
    --------
    >>> from rnn._threads import parallel_map
    >>> parallel_map(lambda k: k * k, range(5))
    [0, 1, 4, 9, 16]
    """
    items = list(items)
    threads = available_threads()
    workers = min(threads, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    results: list[Any] = [None] * len(items)
    errors: dict[int, BaseException] = {}
    order = itertools.count()
    order_lock = threading.Lock()

    def drain() -> None:
        _inside.active = True
        try:
            while True:
                with order_lock:
                    i = next(order)
                if i >= len(items):
                    return
                try:
                    results[i] = fn(items[i])
                except BaseException as error:  # re-raised in the caller below
                    errors[i] = error
        finally:
            _inside.active = False

    with blas_share(max(1, threads // workers)):
        pool = _executor(threads - 1)
        futures = [pool.submit(drain) for _ in range(workers - 1)]
        drain()
        for future in futures:
            future.result()
    if errors:
        raise errors[min(errors)]
    return results


def run_together(fn: Callable[[T], None], items: Sequence[T]) -> None:
    """``fn(item)`` for every item at once, each in a thread of its own, for parts of one
    task that wait on each other (which `parallel_map`'s pool could queue one behind the
    other). The calling thread runs the first item; each BLAS call gets
    ``get_num_threads() // len(items)`` threads (at least 1) while they run.

    Raises
    ------
    Exception
        Whatever `fn` raised, for the first item (in order) that raised, once every item
        has ended.

    Examples
    --------
    >>> import threading
    >>> from rnn._threads import run_together
    >>> both = threading.Barrier(2)  # each waits for the other: one thread would hang
    >>> run_together(lambda k: both.wait(timeout=10) and None, [0, 1])
    """
    errors: dict[int, BaseException] = {}

    def call(i: int) -> None:
        outer = getattr(_inside, "active", False)
        _inside.active = True
        try:
            fn(items[i])
        except BaseException as error:  # re-raised in the caller below
            errors[i] = error
        finally:
            _inside.active = outer

    with blas_share(max(1, get_num_threads() // len(items))):
        others = [threading.Thread(target=call, args=(i,)) for i in range(1, len(items))]
        for thread in others:
            thread.start()
        call(0)
        for thread in others:
            thread.join()
    if errors:
        raise errors[min(errors)]
