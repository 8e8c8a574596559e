"""The driver's use of threads (`rnn.set_num_threads`): same answers as one thread.

- The two directions of a bidirectional layer run at once where a step's calls are long
  enough to pay (`PARALLEL_ELEMENTS`): every matrix product keeps its shape, so results
  are bit for bit those of one thread, forward and backward.
- A pass whose recurrent product is small keeps the BLAS on one thread (`SMALL_PRODUCT`),
  unless OpenBLAS keeps it there anyway (`_blas_alone`).
- In evaluation mode a one-direction model splits a large batch into one part per
  thread. A matrix product over fewer rows may round its last bit differently in
  OpenBLAS, so results agree to a few units in the last place, not bit for bit.
- In evaluation mode a one-direction stack of no more layers than threads runs each
  layer in a thread of its own (`rnn._pipeline`). The recurrent products keep the whole
  batch; the input projections are computed a different number of rows at a time, so
  results agree as the split batch's do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from layer_kinds import KINDS, make

import rnn
from rnn import _pipeline, _recurrence
from rnn._module import PART_ROWS
from rnn._recurrence import Schedule


@pytest.fixture
def threads() -> Iterator[None]:
    """Restore the thread count a test changes."""
    before = rnn.get_num_threads()
    yield
    rnn.set_num_threads(before)


def flat(result: object) -> list[np.ndarray]:
    if isinstance(result, tuple):
        return [a for part in result for a in flat(part)]
    return [np.asarray(result)]


def run_with(count: int, model: object, *args: object, **kwargs: object) -> list[np.ndarray]:
    rnn.set_num_threads(count)
    return flat(model(*args, **kwargs))  # type: ignore[operator]


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_with_two_threads_is_bit_for_bit_one_thread(
    kind: str, threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_recurrence, "PARALLEL_ELEMENTS", 1)  # parallel at this size too
    model = make(kind, 3, 6, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    assert _recurrence._directions_at_once(model._layout, 5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5, 3))
    results = []
    for count in (1, 2):
        rnn.set_num_threads(count)
        output, _ = model(x, lengths=[6, 2, 5, 1, 4])
        results.append((output, model.backward(np.cos(output))))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    for key, value in results[0][1].items():
        np.testing.assert_array_equal(results[1][1][key], value, err_msg=key)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lengths", [None, "sorted"])
def test_a_split_batch_agrees_with_one_thread(
    kind: str, lengths: str | None, threads: None
) -> None:
    model = make(kind, 3, 6, num_layers=2, dtype=np.float64, seed=1).eval()
    rng = np.random.default_rng(1)
    batch = 2 * PART_ROWS + 3
    x = rng.standard_normal((5, batch, 3))
    lens = None if lengths is None else np.sort(rng.integers(1, 6, batch))[::-1].copy()
    rnn.set_num_threads(2)
    assert len(model._batch_parts(Schedule.build(5, batch, lens))) == 2
    one, two = run_with(1, model, x, lengths=lens), run_with(2, model, x, lengths=lens)
    for a, b in zip(one, two):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-15)


def test_directions_run_at_once_only_where_the_calls_are_long_enough() -> None:
    small = rnn.GRU(64, 128, bidirectional=True)._layout  # the benchmark's small-bi
    medium = rnn.GRU(256, 512, bidirectional=True)._layout  # and medium-bi
    assert not _recurrence._directions_at_once(small, 32)
    assert _recurrence._directions_at_once(medium, 64)
    assert not _recurrence._directions_at_once(rnn.GRU(256, 512)._layout, 64)  # one direction


def blas_threads_during_forward(model: object, x: np.ndarray) -> int:
    """The BLAS threads numpy's OpenBLAS runs with inside a forward pass of `model`."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    forward = _recurrence.forward

    def spy(*args: object, **kwargs: object) -> object:
        info = threadpoolctl.threadpool_info()
        seen.append(max(i["num_threads"] for i in info if i["user_api"] == "blas"))
        return forward(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_recurrence, "forward", spy)
        model(x)  # type: ignore[operator]
    return seen[0]


def test_a_small_recurrent_product_keeps_the_blas_on_one_thread(threads: None) -> None:
    rnn.set_num_threads(2)
    rng = np.random.default_rng(3)
    small = rnn.GRU(64, 128, dtype=np.float32).eval()  # 32 x 128 x 384 per step
    assert blas_threads_during_forward(small, rng.random((3, 32, 64), np.float32)) == 1
    medium = rnn.GRU(16, 512, dtype=np.float32).eval()  # 16 x 512 x 1536 per step
    assert blas_threads_during_forward(medium, rng.random((2, 16, 16), np.float32)) == 2
    assert blas_threads_during_forward(small, rng.random((3, 32, 64), np.float32)) == 1


def test_a_product_openblas_keeps_on_one_thread_leaves_the_blas_alone(threads: None) -> None:
    rnn.set_num_threads(2)
    tiny = rnn.LSTM(8, 16, dtype=np.float32).eval()  # the benchmark's tiny: 1 x 16 x 64
    assert blas_threads_during_forward(tiny, np.ones((5, 1, 8), np.float32)) == 2
    tiny.train()  # one record: the batch is not split, whatever its size
    # 256 rows x 16 x 64 = 2**18 multiply-adds: still OpenBLAS's own one-thread size
    assert blas_threads_during_forward(tiny, np.ones((5, 256, 8), np.float32)) == 2
    assert blas_threads_during_forward(tiny, np.ones((5, 257, 8), np.float32)) == 1
    # one row is a matrix-vector product, which OpenBLAS threads from 9216 (here 64 x 256)
    wider = rnn.LSTM(8, 64, dtype=np.float32).eval()
    assert blas_threads_during_forward(wider, np.ones((5, 1, 8), np.float32)) == 1


def test_the_batch_is_split_only_where_it_can_be(threads: None) -> None:
    rnn.set_num_threads(2)
    batch = 2 * PART_ROWS
    full = Schedule.build(4, batch, None)
    shuffled = Schedule.build(4, batch, np.arange(batch) % 4 + 1)
    uni = rnn.GRU(3, 4).eval()
    assert len(uni._batch_parts(full)) == 2
    assert len(uni._batch_parts(shuffled)) == 1  # reordering by length: one part
    assert len(uni._batch_parts(Schedule.build(4, batch - 1, None))) == 1  # too few rows
    assert len(rnn.GRU(3, 4, bidirectional=True).eval()._batch_parts(full)) == 1
    assert len(rnn.GRU(3, 4)._batch_parts(full)) == 1  # training mode keeps one record
    rnn.set_num_threads(1)
    assert len(uni._batch_parts(full)) == 1


def test_threads_calling_one_model_that_splits_its_batch(threads: None) -> None:
    """A model in evaluation mode serves several calling threads at once, each of which
    splits its batch again (parallel_map inside parallel_map runs inline)."""
    rnn.set_num_threads(2)
    model = rnn.LSTM(3, 5, dtype=np.float64, seed=2).eval()
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((4, 2 * PART_ROWS, 3)) for _ in range(4)]
    expected = [model(x)[0] for x in xs]
    got = rnn._threads.parallel_map(lambda x: model(x)[0], xs)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def small_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline at a test's size: chunks of 8 rows, any step's work."""
    monkeypatch.setattr(_recurrence, "CHUNK_ROWS", 8)
    monkeypatch.setattr(_pipeline, "PARALLEL_ELEMENTS", 1)


def pipelined_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets an item for each pass `rnn._pipeline.forward` runs."""
    calls: list[int] = []
    forward = _pipeline.forward

    def spy(*args: object) -> object:
        calls.append(1)
        return forward(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_pipeline, "forward", spy)
    return calls


VARIANTS = [
    *[(kind, {}) for kind in KINDS],
    ("gru", {"reset_after": False}),  # the reference form of a kernel
    ("lstm", {"peephole": True}),
    ("lstm", {"clip": 0.5}),
]


@pytest.mark.parametrize(("kind", "options"), VARIANTS, ids=lambda v: str(v))
@pytest.mark.parametrize("layers", [2, 3])
def test_a_pipeline_of_layers_agrees_with_one_thread(
    kind: str,
    options: dict[str, object],
    layers: int,
    threads: None,
    small_pipeline: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = make(kind, 3, 6, num_layers=layers, dtype=np.float64, seed=4, **options).eval()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((19, 4, 3))  # chunks of 2 steps, 1 at the ends: 1, 2 x 8, 1, 1
    initial = tuple(rng.standard_normal(s) for s in model._state_shapes(4))
    state = initial if len(initial) == 2 else initial[0]
    one = run_with(1, model, x, state)
    calls = pipelined_calls(monkeypatch)
    two = run_with(layers, model, x, state)
    assert calls == [1]
    for a, b in zip(one, two):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-15)
    for given, before in zip(initial, (np.asarray(s) for s in initial)):
        np.testing.assert_array_equal(given, before)


def test_a_layer_copies_its_final_state_before_the_next_overwrites_it(
    threads: None, small_pipeline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last chunk is one step here: a slow copy of the final state must still read
    the first layer's state, not what the second layer wrote over it."""
    model = rnn.RNN(3, 6, num_layers=2, dtype=np.float64, seed=7).eval()
    x = np.random.default_rng(7).standard_normal((19, 4, 3))
    assert _pipeline._ranges(19, 2)[-1] == (18, 19)
    expected = run_with(1, model, x)
    final = _pipeline._final

    def slow(*args: object) -> np.ndarray:
        time.sleep(0.05)
        return final(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_pipeline, "_final", slow)
    for a, b in zip(expected, run_with(2, model, x)):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-15)


def test_the_pipeline_runs_only_where_it_applies(threads: None) -> None:
    # the smallest that applies: 32 rows x 512 (PARALLEL_ELEMENTS), 4 chunks of 16 steps
    full = Schedule.build(64, 32, None)
    stack = rnn.GRU(8, 512, num_layers=2)._layout
    assert _pipeline.applies(stack, full, threads=2)
    assert not _pipeline.applies(stack, full, threads=1)
    assert not _pipeline.applies(rnn.GRU(8, 512, num_layers=3)._layout, full, threads=2)
    assert not _pipeline.applies(rnn.GRU(8, 512)._layout, full, threads=2)  # one layer
    assert not _pipeline.applies(rnn.GRU(8, 511, num_layers=2)._layout, full, threads=2)
    assert not _pipeline.applies(stack, Schedule.build(63, 32, None), threads=2)
    assert not _pipeline.applies(stack, Schedule.build(64, 31, None), threads=2)
    lengths = np.full(32, 64)
    lengths[-1] = 63
    assert not _pipeline.applies(stack, Schedule.build(64, 32, lengths), threads=2)
    backwards = rnn.GRU(8, 512, num_layers=2, go_backwards=True)._layout
    bidirectional = rnn.GRU(8, 512, num_layers=2, bidirectional=True)._layout
    for layout in (backwards, bidirectional):
        assert not _pipeline.applies(layout, Schedule.build(64, 32, None), threads=2)


def test_a_call_inside_a_parallel_item_does_not_pipeline(
    threads: None, small_pipeline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside `parallel_map`'s items the threads are taken: the call runs on its own."""
    model = rnn.GRU(3, 6, num_layers=2, dtype=np.float64).eval()
    calls = pipelined_calls(monkeypatch)
    rnn.set_num_threads(2)
    rnn._threads.parallel_map(model, [np.ones((19, 4, 3))] * 2)
    assert calls == []


def test_training_mode_does_not_pipeline(
    threads: None, small_pipeline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = rnn.LSTM(3, 6, num_layers=2, dtype=np.float64)
    calls = pipelined_calls(monkeypatch)
    rnn.set_num_threads(2)
    model(np.ones((19, 4, 3)))
    assert calls == []
    model.eval()(np.ones((19, 4, 3)))
    assert calls == [1]


def test_a_failing_layer_thread_raises_its_error_and_the_model_still_works(
    threads: None, small_pipeline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = rnn.GRU(3, 6, num_layers=2, dtype=np.float64, seed=5).eval()
    x = np.random.default_rng(5).standard_normal((19, 4, 3))
    expected = run_with(1, model, x)
    calls = pipelined_calls(monkeypatch)
    kernel = model._layout.kernels[0]  # both layers' steps call it
    forward, count = kernel.forward, [0]

    def failing(*args: object) -> None:
        count[0] += 1
        if count[0] == 25:  # in the middle of the pass, in one of the two threads
            raise ZeroDivisionError("a step failed")
        forward(*args)

    kernel.forward = failing
    rnn.set_num_threads(2)
    with pytest.raises(ZeroDivisionError, match="a step failed"):
        model(x)
    kernel.forward = forward
    for a, b in zip(expected, run_with(2, model, x)):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-15)
    assert calls == [1, 1]


def test_threads_calling_one_pipelined_model(threads: None, small_pipeline: None) -> None:
    """Each calling thread's pass gets its own layer threads and buffers."""
    model = rnn.LSTM(3, 6, num_layers=2, dtype=np.float64, seed=6).eval()
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal((19, 4, 3)) for _ in range(4)]
    rnn.set_num_threads(1)
    expected = [model(x)[0] for x in xs]
    rnn.set_num_threads(2)
    got: dict[int, np.ndarray] = {}
    callers = [
        threading.Thread(target=lambda k=k: got.__setitem__(k, model(xs[k])[0])) for k in range(4)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    for k, want in enumerate(expected):
        np.testing.assert_allclose(got[k], want, rtol=1e-14, atol=1e-15)
