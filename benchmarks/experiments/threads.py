"""Which way of using two threads pays, per size: BLAS threads, directions, or batch chunks.

A standalone experiment on the public API, to decide what the recurrence driver should
do with ``rnn.set_num_threads(2)``. Each round times, interleaved, for one model:

- ``one``: one thread, BLAS at one thread (``rnn.set_num_threads(1)``), ``model(x)``;
- ``blas2``: BLAS at two threads, ``model(x)`` in one Python thread;
- ``chunks``: the batch split in two halves, each ``model(x[:, half])`` in its own thread
  (`rnn._threads.parallel_map`, BLAS at one thread each);
- ``directions`` (bidirectional sizes): per layer, the forward and the reverse direction
  as two one-direction models in two threads (BLAS at one thread each), their outputs
  concatenated; what a driver running the directions in parallel would do, plus a copy.

Printed: the median over rounds of each variant's time divided by ``one``'s in the same
round (below 1: faster than one thread), and the same for the process's CPU time (all
threads; above 1: work added by the threads, such as BLAS threads spinning while they
wait). On a busy machine the wall-time ratios of the two-thread variants suffer most;
the CPU-time ratios much less. Each variant's output is checked against ``model(x)``
first.

    python benchmarks/experiments/threads.py --sizes small,medium-bi --cells gru
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

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

import rnn  # noqa: E402
from rnn._threads import parallel_map  # noqa: E402

SIZES = {  # (L, N, H_in, H, layers, bidirectional), as in benchmarks/run.py
    "small": (100, 32, 64, 128, 1, False),
    "small-bi": (100, 32, 64, 128, 2, True),
    "medium": (200, 64, 256, 512, 2, False),
    "medium-bi": (200, 64, 256, 512, 2, True),
    "large": (100, 256, 1024, 1024, 1, False),
}
CELLS = {"rnn": rnn.RNN, "gru": rnn.GRU, "lstm": rnn.LSTM}


def one_direction_models(model: Any) -> list[tuple[Any, Any]]:
    """Per layer, (forward, reverse) one-layer unidirectional models with `model`'s weights."""
    state, kind, pairs = model.state_dict(), type(model), []
    for k in range(model.num_layers):
        width = model.input_size if k == 0 else 2 * model.hidden_size
        pair = []
        for suffix in (f"_l{k}", f"_l{k}_reverse"):
            part = kind(width, model.hidden_size, dtype=model.dtype, seed=0).eval()
            # weight_ih_l0 <- weight_ih_l{k}[_reverse], and so on
            part.load_state_dict(
                {name: state[name.removesuffix("_l0") + suffix] for name in part.state_dict()}
            )
            pair.append(part)
        pairs.append((pair[0], pair[1]))
    return pairs


def variants(model: Any, x: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    half = x.shape[1] // 2
    halves = [x[:, :half], x[:, half:]]

    def one() -> np.ndarray:
        return model(x)[0]  # type: ignore[no-any-return]

    def chunks() -> np.ndarray:
        return np.concatenate(parallel_map(lambda part: model(part)[0], halves), axis=1)

    found = {"one": one, "blas2": one, "chunks": chunks}
    if model.bidirectional:
        layers = one_direction_models(model)

        def directions() -> np.ndarray:
            layer_input = x
            for forward, reverse in layers:
                out_f, out_r = parallel_map(
                    lambda job: job[0](job[1])[0],
                    [(forward, layer_input), (reverse, layer_input[::-1])],
                )
                layer_input = np.concatenate([out_f, out_r[::-1]], axis=2)
            return layer_input

        found["directions"] = directions
    return found


def threads_of(name: str) -> int:
    return 1 if name == "one" else 2


def measure(model: Any, x: np.ndarray, rounds: int) -> dict[str, Any]:
    fns = variants(model, x)
    want = model(x)[0]
    for name, fn in fns.items():
        rnn.set_num_threads(threads_of(name))
        got = fn()
        assert np.allclose(got, want, rtol=0, atol=1e-5), f"{name} differs from model(x)"
    times: dict[str, list[float]] = {n: [] for n in fns}
    cpu: dict[str, list[float]] = {n: [] for n in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rnn.set_num_threads(threads_of(name))
            start, start_cpu = time.perf_counter(), time.process_time()
            fns[name]()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    rnn.set_num_threads(1)

    def ratios(t: dict[str, list[float]]) -> dict[str, float]:
        return {n: statistics.median(a / b for a, b in zip(t[n], t["one"])) for n in names[1:]}

    return {"one_ms": statistics.median(times["one"]) * 1e3, "wall": ratios(times)} | {
        "cpu": ratios(cpu)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,small-bi,medium,medium-bi")
    parser.add_argument("--cells", default="rnn,gru,lstm")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"{'':<29}{'time / one thread':^24}  {'CPU time / one thread':^24}")
    head = f"{'blas2':>6} {'chunks':>6} {'directions':>10}"
    print(f"{'case':<20} {'one ms':>8} {head}  {head}")
    for size in args.sizes.split(","):
        steps, batch, h_in, hidden, layers, bi = SIZES[size]
        for cell in args.cells.split(","):
            model = CELLS[cell](h_in, hidden, layers, bidirectional=bi, seed=0).eval()
            x = np.random.default_rng(0).standard_normal((steps, batch, h_in)).astype(np.float32)
            r = measure(model, x, args.rounds)
            line = f"{size + ' ' + cell:<20} {r['one_ms']:8.1f}"
            for kind in ("wall", "cpu"):
                ratio = r[kind]
                line += f" {ratio['blas2']:6.2f} {ratio['chunks']:6.2f}"
                line += f" {ratio.get('directions', float('nan')):10.2f} "
            print(line, flush=True)


if __name__ == "__main__":
    main()
