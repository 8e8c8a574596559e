"""`rnn.dask_forward`: a model over a Dask array chunked along the batch, locally and on a cluster.

What holds exactly: the result equals the model run chunk by chunk and concatenated (the
same matrix products, row for row), on any scheduler, and equals the whole-batch run
when there is one chunk. Against the whole-batch run with several chunks, BLAS may round
products over fewer rows differently in the last bits, so that comparison has a tolerance.
"""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

import numpy as np
import pytest
from layer_kinds import KINDS, make

import rnn

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

L, N, H_IN, H = 6, 10, 4, 6
CHUNK = 3  # N = 10 -> chunks (3, 3, 3, 1)


def model_of(kind: str, **kwargs: Any) -> Any:
    return make(kind, H_IN, H, num_layers=2, bidirectional=True, seed=0, **kwargs)


def data(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((L, N, H_IN)).astype(np.float32)


def leaves(result: Any) -> list[np.ndarray]:
    out, final = result
    return [np.asarray(a) for a in (out, *(final if isinstance(final, tuple) else (final,)))]


def by_chunks(model: Any, x: np.ndarray) -> list[np.ndarray]:
    """The model run chunk by chunk over the batch, concatenated: what Dask computes."""
    parts = [leaves(model(x[:, start : start + CHUNK])) for start in range(0, N, CHUNK)]
    return [np.concatenate(p, axis=1) for p in zip(*parts)]


def computed(result: Any, **kwargs: Any) -> list[np.ndarray]:
    return [np.asarray(a) for a in dask.compute(*leaves_lazy(result), **kwargs)]


def leaves_lazy(result: Any) -> list[Any]:
    out, final = result
    return [out, *(final if isinstance(final, tuple) else (final,))]


@pytest.mark.parametrize("kind", KINDS)
def test_equals_the_model_run_chunk_by_chunk(kind: str) -> None:
    model = model_of(kind)
    x = data()
    lazy = rnn.dask_forward(model, da.from_array(x, chunks=(L, CHUNK, H_IN)))
    assert lazy[0].chunks[1] == (3, 3, 3, 1)
    got = computed(lazy, scheduler="sync")
    model.eval()
    for g, want in zip(got, by_chunks(model, x)):
        np.testing.assert_array_equal(g, want)
    for g, want in zip(got, leaves(model(x))):  # the whole batch: up to rounding
        np.testing.assert_allclose(g, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_one_chunk_equals_the_whole_batch_exactly(kind: str) -> None:
    model = model_of(kind)
    x = data()
    got = computed(rnn.dask_forward(model, da.from_array(x)), scheduler="threads")
    for g, want in zip(got, leaves(model.eval()(x))):
        np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm_proj"])
def test_lengths_and_initial_states_are_chunked_alongside(kind: str) -> None:
    model = model_of(kind).eval()
    x = data()
    lengths = np.random.default_rng(1).integers(1, L + 1, N)
    rows = 2 * 2  # D * num_layers
    rng = np.random.default_rng(2)
    h0 = rng.standard_normal((rows, N, model.proj_size or H)).astype(np.float32)
    c0 = rng.standard_normal((rows, N, H)).astype(np.float32)
    hx = (h0, c0) if kind.startswith("lstm") else h0
    lazy_hx = tuple(da.from_array(a, chunks=(rows, 5, -1)) for a in (h0, c0))
    lazy = rnn.dask_forward(
        model,
        da.from_array(x, chunks=(L, CHUNK, H_IN)),
        lazy_hx if kind.startswith("lstm") else lazy_hx[0],
        lengths=da.from_array(lengths, chunks=4),  # chunked differently from x: rechunked
    )
    parts = []
    for start in range(0, N, CHUNK):
        b = slice(start, start + CHUNK)
        chunk_hx = (h0[:, b], c0[:, b]) if kind.startswith("lstm") else h0[:, b]
        parts.append(leaves(model(x[:, b], chunk_hx, lengths=lengths[b])))
    for g, want in zip(computed(lazy, scheduler="sync"), zip(*parts)):
        np.testing.assert_array_equal(g, np.concatenate(want, axis=1))
    for g, want in zip(computed(lazy, scheduler="sync"), leaves(model(x, hx, lengths=lengths))):
        np.testing.assert_allclose(g, want, rtol=0, atol=1e-6)
    out = np.asarray(lazy[0])
    assert np.all(out[lengths[None, :] <= np.arange(L)[:, None]] == 0)  # padding stays 0


def test_batch_first_chunks_the_first_axis() -> None:
    model = make("gru", H_IN, H, batch_first=True, seed=0)
    x = data().transpose(1, 0, 2).copy()  # (N, L, H_in)
    out, h_n = rnn.dask_forward(model, da.from_array(x, chunks=(N, 2, 1)))  # rechunked
    assert out.chunks == ((N,), (L,), (H,)) and h_n.shape == (1, N, H)
    np.testing.assert_array_equal(out.compute(), model.eval()(x)[0])


def test_the_callers_model_is_left_as_it_was() -> None:
    model = model_of("lstm")  # training mode
    before = {k: v.copy() for k, v in model.state_dict().items()}
    x = data()
    out, _ = rnn.dask_forward(model, da.from_array(x, chunks=(L, CHUNK, H_IN)))
    model.load_state_dict({k: np.zeros_like(v) for k, v in before.items()})  # after the call
    got = out.compute(scheduler="sync")  # the weights as they were at the call
    assert model.training
    np.testing.assert_array_equal(got, by_chunks(_loaded(before), x)[0])


def _loaded(state: dict[str, np.ndarray]) -> Any:
    model = model_of("lstm")
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture(scope="module")
def client() -> Any:
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # no fixed port: 8787 may be taken (a warning)
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.parametrize("kind", ["rnn_relu", "gru", "lstm_proj"])
def test_a_cluster_of_processes_gives_the_local_result(client: Any, kind: str) -> None:
    model = model_of(kind)
    x = data()
    lengths = np.random.default_rng(3).integers(1, L + 1, N)
    lazy = rnn.dask_forward(
        model, da.from_array(x, chunks=(L, CHUNK, H_IN)), lengths=da.from_array(lengths, 5)
    )
    with distributed.get_task_stream(client) as stream:
        remote = [np.asarray(a) for a in client.compute(leaves_lazy(lazy), sync=True)]
    local = computed(lazy, scheduler="sync")
    for r, want in zip(remote, local):
        np.testing.assert_array_equal(r, want)
    ran = {t["worker"] for t in stream.data if "_forward_chunk" in str(t["key"])}
    assert len(ran) == 2  # both worker processes ran chunks


def _traced_peak() -> int:
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _forward_peak(model: Any, x: np.ndarray) -> int:
    """Peak bytes traced over one forward of a new copy of `model` (its workspace included)."""
    tracemalloc.start()
    copy = make("lstm", 32, 64, seed=0).eval()
    copy.load_state_dict(model.state_dict())
    copy(x)
    return _traced_peak()


def test_peak_memory_per_worker_is_about_one_chunk(client: Any) -> None:
    steps, rows, chunks = 40, 128, 8  # N = 1024 in 8 chunks: each worker runs about 4
    model = make("lstm", 32, 64, seed=0)
    x = da.random.default_rng(0).standard_normal((steps, rows * chunks, 32), chunks=(-1, rows, -1))
    out, (h_n, _) = rnn.dask_forward(model, x.astype(np.float32))
    one_chunk = _forward_peak(model, x[:, :rows].compute().astype(np.float32))
    client.run(tracemalloc.start)
    total = (out.sum() + h_n.sum()).compute()  # reduced per chunk on the workers
    # stdlib functions only: the worker processes cannot import this test module
    traced = client.run(tracemalloc.get_traced_memory)
    client.run(tracemalloc.stop)
    assert np.isfinite(total) and len(traced) == 2
    for _, peak in traced.values():
        # One chunk's forward, plus what dask holds around it (the float64 chunk drawn,
        # its float32 copy, a finished chunk's results not yet summed): measured at
        # 1.8-2.1 times one chunk's forward, a quarter of the whole batch's (8 chunks).
        assert one_chunk < peak < 2.5 * one_chunk


def test_bad_arguments_are_refused() -> None:
    x = da.zeros((L, N, H_IN), chunks=(L, 5, H_IN), dtype=np.float32)
    with pytest.raises(
        TypeError, match=r"model must be an rnn\.RNN, rnn\.GRU or rnn\.LSTM; got GRUCell"
    ):
        rnn.dask_forward(rnn.GRUCell(H_IN, H), x)
    with pytest.raises(ValueError, match=r"input must have 3 dimensions \(L, N, H_in\)"):
        rnn.dask_forward(model_of("gru"), x[0])
    with pytest.raises(ValueError, match="lengths must have the batch size N=10 on axis 0"):
        rnn.dask_forward(model_of("gru"), x, lengths=np.ones(9, np.int64))
    with pytest.raises(ValueError, match=r"hx must be a pair \(h0, c0\) for an LSTM"):
        rnn.dask_forward(model_of("lstm"), x, np.zeros((4, N, H)))


def test_without_dask_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(
        ImportError,
        match=r'rnn.dask_forward needs dask: pip install "dask\[array\]" distributed',
    ):
        rnn.dask_forward(model_of("gru"), np.zeros((L, N, H_IN)))
