"""Which layout of a step's gates pays? Three ways to lay out the lean loop's arithmetic.

- ``row`` (`baselines.lean_loop`, and `rnn` today): the state is (N, H) and a step's gates
  an (N, G*H) array from one product ``h @ W_hh^T``; a gate block is H columns of it, so
  every element-wise call on a block walks N rows of H elements.
- ``gate-major`` (`gate_major_loop`): the state is still (N, H), but the gates are
  (G, N, H), each block one contiguous (N, H) array, from one stacked ``matmul`` of
  ``h`` with the G blocks of ``W_hh^T``; the input projection is laid out the same way
  (G, L*N, H). The output needs no change.
- ``column`` (`column_loop`; the original sketch's layout): the state is (H, N) and a
  step's gates (G*H, N) from ``W_hh @ h``, each block a contiguous (H, N) array; the
  input projection is L products ``W_ih @ x_t^T`` over a transposed copy of the input,
  and the output, written as (L, H, N), is transposed back at the end.

All three make the same ufunc calls per step and give the same results. For one-layer,
one-direction models in evaluation mode, float32, one BLAS thread, this prints, as the
median over rounds of interleaved runs, each layout's time ÷ the row layout's (below 1,
faster), for the L recurrent products alone and for the whole loop (projection and
output included), and the row loop ÷ `baselines.matmul_bound`.

    python benchmarks/experiments/layout.py --sizes small,medium --cells rnn,gru,lstm
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

import baselines  # noqa: E402

import rnn  # noqa: E402

SIZES = {
    "small": (100, 32, 64, 128),
    "medium": (200, 64, 256, 512),
    "large": (100, 256, 1024, 1024),
}
"""(L, N, H_in, H), as the benchmark's sizes of the same names, one layer."""
CELLS = {"rnn": (rnn.RNN, 1), "gru": (rnn.GRU, 3), "lstm": (rnn.LSTM, 4)}
"""Each cell's class and its number of gate blocks."""


def gate_major_loop(model: Any, x: np.ndarray) -> baselines.Forward:
    """`baselines.lean_loop` for a one-layer, one-direction model, the gates as (G, N, H)."""
    ((_, _, w_ih_t, bias, w_hh_t, b_hn),) = baselines.lean_parameters(model)
    name, size, dtype = baselines.kind(model), model.hidden_size, model.dtype
    steps, batch, inputs = x.shape
    gates = w_hh_t.shape[1] // size

    def stack(w_t: np.ndarray) -> np.ndarray:
        """(K, G*H) as G blocks (G, K, H)."""
        return np.ascontiguousarray(w_t.reshape(-1, gates, size).transpose(1, 0, 2))

    w_ih_s, w_hh_s = stack(w_ih_t), stack(w_hh_t)
    bias = bias.reshape(gates, 1, size)
    gi = np.empty((gates, steps * batch, size), dtype)
    gh = np.empty((gates, batch, size), dtype)
    tmp = np.empty((batch, size), dtype)
    c = np.empty((batch, size), dtype)
    half = np.array(0.5, dtype)

    def run() -> tuple[np.ndarray, np.ndarray]:
        np.matmul(x.reshape(steps * batch, inputs), w_ih_s, out=gi)
        np.add(gi, bias, out=gi)
        g = gi.reshape(gates, steps, batch, size)
        out = np.empty((steps, batch, size), dtype)
        h = np.zeros((batch, size), dtype)
        c[...] = 0
        for t in range(steps):
            h_new = out[t]
            np.matmul(h, w_hh_s, out=gh)
            if name == "RNN":
                np.add(gh[0], g[0, t], out=h_new)
                np.tanh(h_new, out=h_new)
            elif name == "GRU":
                rz, gh_n = gh[:2], gh[2]
                np.add(rz, g[:2, t], out=rz)
                np.tanh(rz, out=rz)
                rz *= half
                rz += half
                gh_n += b_hn
                gh_n *= rz[0]
                gh_n += g[2, t]
                np.tanh(gh_n, out=gh_n)
                np.subtract(h, gh_n, out=tmp)
                np.multiply(tmp, rz[1], out=tmp)
                np.add(gh_n, tmp, out=h_new)
            else:
                np.add(gh, g[:, t], out=gh)
                np.tanh(gh, out=gh)
                ifo = gh[:3]
                ifo *= half
                ifo += half
                np.multiply(c, gh[1], out=c)
                np.multiply(gh[0], gh[3], out=tmp)
                np.add(c, tmp, out=c)
                np.tanh(c, out=tmp)
                np.multiply(gh[2], tmp, out=h_new)
            h = h_new
        return out, h[None].copy()

    return run


def column_loop(model: Any, x: np.ndarray) -> baselines.Forward:
    """`baselines.lean_loop` for a one-layer, one-direction model, the state as columns."""
    ((_, _, w_ih_t, bias, w_hh_t, b_hn),) = baselines.lean_parameters(model)
    name, size, dtype = baselines.kind(model), model.hidden_size, model.dtype
    steps, batch, inputs = x.shape
    w_ih, w_hh = np.ascontiguousarray(w_ih_t.T), np.ascontiguousarray(w_hh_t.T)
    width = w_hh.shape[0]
    bias = bias[:, None]
    b_hn = None if b_hn is None else b_hn[:, None]
    x_cols = np.empty((steps, inputs, batch), dtype)
    g = np.empty((steps, width, batch), dtype)
    gh = np.empty((width, batch), dtype)
    tmp = np.empty((size, batch), dtype)
    c = np.empty((size, batch), dtype)
    half = np.array(0.5, dtype)

    def run() -> tuple[np.ndarray, np.ndarray]:
        x_cols[...] = x.transpose(0, 2, 1)
        np.matmul(w_ih, x_cols, out=g)
        np.add(g, bias, out=g)
        states = np.empty((steps, size, batch), dtype)
        h = np.zeros((size, batch), dtype)
        c[...] = 0
        for t in range(steps):
            h_new = states[t]
            np.dot(w_hh, h, out=gh)
            if name == "RNN":
                np.add(gh, g[t], out=h_new)
                np.tanh(h_new, out=h_new)
            elif name == "GRU":
                rz, gh_n = gh[: 2 * size], gh[2 * size :]
                np.add(rz, g[t, : 2 * size], out=rz)
                np.tanh(rz, out=rz)
                rz *= half
                rz += half
                gh_n += b_hn
                gh_n *= rz[:size]
                gh_n += g[t, 2 * size :]
                np.tanh(gh_n, out=gh_n)
                np.subtract(h, gh_n, out=tmp)
                np.multiply(tmp, rz[size:], out=tmp)
                np.add(gh_n, tmp, out=h_new)
            else:
                np.add(gh, g[t], out=gh)
                np.tanh(gh, out=gh)
                ifo = gh[: 3 * size]
                ifo *= half
                ifo += half
                np.multiply(c, gh[size : 2 * size], out=c)
                np.multiply(gh[:size], gh[3 * size :], out=tmp)
                np.add(c, tmp, out=c)
                np.tanh(c, out=tmp)
                np.multiply(gh[2 * size : 3 * size], tmp, out=h_new)
            h = h_new
        return states.transpose(0, 2, 1).copy(), h.T[None].copy()

    return run


def products(steps: int, batch: int, hidden: int, gates: int) -> list[Callable[[], None]]:
    """The L recurrent products of a layer: row, gate-major and column layouts."""
    rng = np.random.default_rng(0)
    w_t = rng.standard_normal((hidden, gates * hidden)).astype(np.float32)
    w_s = np.ascontiguousarray(w_t.reshape(hidden, gates, hidden).transpose(1, 0, 2))
    w = np.ascontiguousarray(w_t.T)
    h_row, h_col = np.ones((batch, hidden), np.float32), np.ones((hidden, batch), np.float32)
    out_row = np.empty((batch, gates * hidden), np.float32)
    out_s = np.empty((gates, batch, hidden), np.float32)
    out_col = np.empty((gates * hidden, batch), np.float32)

    def row() -> None:
        for _ in range(steps):
            np.dot(h_row, w_t, out=out_row)

    def gate_major() -> None:
        for _ in range(steps):
            np.matmul(h_row, w_s, out=out_s)

    def column() -> None:
        for _ in range(steps):
            np.dot(w, h_col, out=out_col)

    return [row, gate_major, column]


def interleaved(fns: list[Callable[[], Any]], rounds: int) -> list[list[float]]:
    """Each round, every function of `fns` once, in turn; the seconds each took, per round."""
    times = []
    for _ in range(rounds):
        row = []
        for f in fns:
            start = time.perf_counter()
            f()
            row.append(time.perf_counter() - start)
        times.append(row)
    return times


def median_ratio(times: list[list[float]], i: int, j: int) -> float:
    """The median over rounds of time i / time j."""
    return statistics.median(t[i] / t[j] for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--cells", default="rnn,gru,lstm")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"{'':<14} {'products ÷ row':>23} {'loop ÷ row':>23}")
    columns = ["gate-major", "column"] * 2 + ["row ÷ bound"]
    print(f"{'case':<14}" + "".join(f" {c:>11}" for c in columns))
    with threadpool_limits(1):
        for size in args.sizes.split(","):
            steps, batch, inputs, hidden = SIZES[size]
            for cell in args.cells.split(","):
                kind, gates = CELLS[cell]
                model = kind(inputs, hidden, dtype=np.float32, seed=0)
                model.eval()
                x = np.random.default_rng(0).standard_normal((steps, batch, inputs))
                x = x.astype(np.float32)
                loops = [f(model, x) for f in (baselines.lean_loop, gate_major_loop, column_loop)]
                output, h_n = model(x)
                for loop in loops[1:]:
                    got = loop()
                    assert np.allclose(got[0], output, rtol=0, atol=1e-5), cell
                    assert np.allclose(got[1], h_n[0] if cell == "lstm" else h_n, rtol=0, atol=1e-5)
                bound = baselines.matmul_bound(model, x)
                runs = interleaved([*loops, bound], args.rounds)
                alone = interleaved(products(steps, batch, hidden, gates), args.rounds)
                ratios = [median_ratio(alone, i, 0) for i in (1, 2)]
                ratios += [median_ratio(runs, i, 0) for i in (1, 2)]
                ratios.append(median_ratio(runs, 0, 3))
                print(
                    f"{size + ' ' + cell:<14}" + "".join(f" {r:11.3f}" for r in ratios), flush=True
                )


if __name__ == "__main__":
    main()
