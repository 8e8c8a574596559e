"""How fast can two threads run a recurrence's matrix products alone? A floor for each way
of parallelising a one-direction stack.

A pass of a one-direction layer makes, per step, one recurrent product ``h @ W_hh^T`` of
(N, H) by (H, G*H): no two steps of a layer can run at once. Two threads can still share
the work of a stack in two ways, and this times the recurrent products of each, with
nothing else (no input projection, no gate arithmetic, no Python loop beyond the calls):

- ``batch halves``: the batch split in two, each half's products in its own thread, both
  with the same ``W_hh`` (what ``rnn`` does from `rnn._module.PART_ROWS` rows per thread);
- ``two layers``: two layers at once, each thread one layer's products over the whole
  batch with its own ``W_hh`` (what a pipeline of layers would do).

Each is divided by the same products run one after the other on one thread, in the same
round; the median over rounds is printed. BLAS runs on one thread throughout
(threadpoolctl). A ratio above 0.5 is what the two threads lose to each other (memory
bandwidth, shared cache) or, for the halves, what the smaller product loses on its own;
a whole pass split the same way cannot go below it by much, since its other work, the
gate arithmetic, parallelises at best as well.

    python benchmarks/experiments/products.py --sizes medium --cells rnn,gru,lstm
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

SIZES = {"small": (100, 32, 128), "medium": (200, 64, 512), "large": (100, 256, 1024)}
"""(L, N, H), as the benchmark's sizes of the same names (benchmarks/run.py)."""
GATES = {"rnn": 1, "gru": 3, "lstm": 4}

Job = tuple[np.ndarray, np.ndarray, np.ndarray]  # h, W_hh^T, out


def job(rows: int, w_t: np.ndarray, rng: np.random.Generator) -> Job:
    h = rng.standard_normal((rows, w_t.shape[0])).astype(np.float32)
    return h, w_t, np.empty((rows, w_t.shape[1]), np.float32)


def products(work: Job, steps: int) -> None:
    h, w_t, out = work
    for _ in range(steps):
        np.dot(h, w_t, out=out)


def at_once(first: Callable[[], None], second: Callable[[], None]) -> None:
    thread = threading.Thread(target=second)
    thread.start()
    first()
    thread.join()


def measure(steps: int, batch: int, hidden: int, gates: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((hidden, gates * hidden)).astype(np.float32) for _ in "ab"]
    layers = [job(batch, w_t, rng) for w_t in weights]
    halves = [job(batch // 2, weights[0], rng) for _ in "ab"]

    def layer(k: int) -> Callable[[], None]:
        return lambda: products(layers[k], steps)

    def half(k: int) -> Callable[[], None]:
        return lambda: products(halves[k], steps)

    ratios: dict[str, list[float]] = {"batch halves": [], "two layers": []}
    one_ms = []
    for _ in range(rounds):
        start = time.perf_counter()
        layer(0)()
        whole = time.perf_counter() - start
        at_once(half(0), half(1))
        split = time.perf_counter() - start - whole
        layer(0)()
        layer(1)()
        sequence = time.perf_counter() - start - whole - split
        at_once(layer(0), layer(1))
        pipeline = time.perf_counter() - start - whole - split - sequence
        ratios["batch halves"].append(split / whole)
        ratios["two layers"].append(pipeline / sequence)
        one_ms.append(whole * 1e3)
    return {"one layer ms": statistics.median(one_ms)} | {
        name: statistics.median(values) for name, values in ratios.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="medium")
    parser.add_argument("--cells", default="rnn,gru,lstm")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"{'case':<14} {'one layer ms':>12} {'batch halves':>13} {'two layers':>11}")
    with threadpool_limits(1):
        for size in args.sizes.split(","):
            steps, batch, hidden = SIZES[size]
            for cell in args.cells.split(","):
                r = measure(steps, batch, hidden, GATES[cell], args.rounds)
                print(
                    f"{size + ' ' + cell:<14} {r['one layer ms']:12.1f}"
                    f" {r['batch halves']:13.3f} {r['two layers']:11.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
