"""`rnn.set_num_threads` / `rnn.get_num_threads` and the driver's `parallel_map`."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

import rnn
from rnn import _threads
from rnn._threads import parallel_map, run_together


def blas_threads() -> list[int]:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    """Every test starts from the default and leaves the thread settings as they were."""
    saved = _threads._num_threads
    blas = _threads._blas_libraries()
    saved_blas = [lib.num_threads for lib in blas]
    _threads._num_threads = None
    yield
    _threads._num_threads, _threads._blas = saved, blas
    for lib, n in zip(blas, saved_blas):
        lib.set_num_threads(n)


def test_the_default_is_the_cpus_this_process_may_use() -> None:
    assert rnn.get_num_threads() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("n", [1, 2, 3, np.int64(2)])
def test_round_trip(n: int) -> None:
    rnn.set_num_threads(n)
    got = rnn.get_num_threads()
    assert got == n and type(got) is int


@pytest.mark.parametrize(
    ("n", "error", "message"),
    [
        (0, ValueError, "number of threads must be greater than zero; got 0"),
        (-2, ValueError, "number of threads must be greater than zero; got -2"),
        (True, TypeError, "number of threads must be an int; got bool True"),
        (2.0, TypeError, "number of threads must be an int; got float 2.0"),
        ("2", TypeError, "number of threads must be an int; got str '2'"),
    ],
)
def test_bad_counts_are_refused_and_change_nothing(n: object, error: type, message: str) -> None:
    rnn.set_num_threads(1)
    with pytest.raises(error, match=message):
        rnn.set_num_threads(n)  # type: ignore[arg-type]
    assert rnn.get_num_threads() == 1


def test_the_blas_gets_the_thread_count() -> None:
    rnn.set_num_threads(1)
    assert blas_threads() and set(blas_threads()) == {1}
    rnn.set_num_threads(2)
    assert set(blas_threads()) == {2}


def test_without_threadpoolctl_only_rnns_threads_change(monkeypatch: pytest.MonkeyPatch) -> None:
    rnn.set_num_threads(1)
    before = blas_threads()
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    rnn.set_num_threads(3)
    assert rnn.get_num_threads() == 3
    monkeypatch.undo()
    assert blas_threads() == before


def test_results_come_back_in_the_order_of_the_items() -> None:
    rnn.set_num_threads(2)

    def slow_first(k: int) -> int:
        time.sleep(0.02 * (4 - k))  # later items finish first
        return k * k

    assert parallel_map(slow_first, range(5)) == [0, 1, 4, 9, 16]


@pytest.mark.parametrize("n", [2, 3])
def test_items_run_at_once_on_n_threads(n: int) -> None:
    rnn.set_num_threads(2)
    parallel_map(abs, [1, 2])  # a pool of the old size exists: it must be replaced
    rnn.set_num_threads(n)
    barrier = threading.Barrier(n, timeout=10)  # passes only if n items run at once
    idents = parallel_map(lambda _: (barrier.wait(), threading.get_ident())[1], range(n))
    assert len(set(idents)) == n and threading.get_ident() in idents


def test_the_blas_is_shared_while_items_run_in_parallel() -> None:
    rnn.set_num_threads(2)
    during = parallel_map(lambda _: blas_threads(), range(2))
    assert during == [[1] * len(blas_threads())] * 2  # 2 threads // 2 items
    assert set(blas_threads()) == {2}  # restored afterwards


def test_the_first_failing_items_error_is_raised_after_all_finish() -> None:
    rnn.set_num_threads(2)
    done = []

    def work(k: int) -> int:
        if k in (1, 3):
            raise KeyError(k)
        time.sleep(0.01)
        done.append(k)
        return k

    with pytest.raises(KeyError, match="1"):
        parallel_map(work, range(5))
    assert sorted(done) == [0, 2, 4]


@pytest.mark.parametrize(("n", "items"), [(1, 4), (2, 1), (2, 0)])
def test_one_thread_or_one_item_runs_inline_in_order(n: int, items: int) -> None:
    rnn.set_num_threads(n)
    calls: list[tuple[int, int]] = []
    result = parallel_map(lambda k: calls.append((k, threading.get_ident())) or k, range(items))
    assert result == list(range(items))
    assert calls == [(k, threading.get_ident()) for k in range(items)]


def test_nested_calls_run_inline_in_the_items_thread() -> None:
    rnn.set_num_threads(2)

    def outer(k: int) -> tuple[int, set[int]]:
        inner = parallel_map(lambda _: threading.get_ident(), range(3))
        return threading.get_ident(), set(inner)

    for ident, inner in parallel_map(outer, range(2)):
        assert inner == {ident}


@pytest.mark.parametrize("count", [1, 2])
def test_run_together_runs_every_item_at_once_whatever_the_thread_count(count: int) -> None:
    rnn.set_num_threads(count)
    barrier = threading.Barrier(3, timeout=10)  # passes only if the 3 items run at once
    idents: list[int] = []
    run_together(lambda _: idents.append((barrier.wait(), threading.get_ident())[1]), range(3))
    assert len(set(idents)) == 3 and threading.get_ident() in idents


def test_run_together_shares_the_blas_between_its_items() -> None:
    rnn.set_num_threads(2)
    during: list[list[int]] = []
    run_together(lambda _: during.append(blas_threads()), range(2))
    assert during == [[1] * len(blas_threads())] * 2
    assert set(blas_threads()) == {2}


def test_run_together_raises_the_first_failing_items_error_after_all_end() -> None:
    done = []

    def work(k: int) -> None:
        if k in (1, 2):
            raise KeyError(k)
        time.sleep(0.01)
        done.append(k)

    with pytest.raises(KeyError, match="1"):
        run_together(work, range(4))
    assert sorted(done) == [0, 3]


def test_inside_run_together_the_threads_are_taken() -> None:
    rnn.set_num_threads(2)
    seen: list[tuple[int, set[int]]] = []

    def item(_: int) -> None:
        inner = parallel_map(lambda _: threading.get_ident(), range(3))  # inline
        seen.append((threading.get_ident(), set(inner)))
        assert _threads.available_threads() == 1

    run_together(item, range(2))
    assert [{ident} for ident, _ in seen] == [inner for _, inner in seen]
    assert _threads.available_threads() == 2  # the calling thread is itself again
