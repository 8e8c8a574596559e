"""Speed benchmark of `rnn` against PyTorch, onnxruntime, a lean numpy loop and a matmul bound.

Run ``python benchmarks/run.py`` (``make bench``); ``--help`` lists the options and
benchmarks/README.md explains what is measured and how results.json is laid out.

Every comparison runs in one process, one thread per library, and is interleaved: each
round times every implementation once, in an order rotated from round to round, and
the reported figures are medians over rounds, of the times and of the per-round
ratios ``rnn / other``. Every implementation's output is checked against `rnn`'s
before anything is timed. ``--threads 2`` instead gives each library its own worker
process with two threads (and `rnn` a second one with one thread) and interleaves rounds
across the workers, letting each worker's idle threads settle before the next one's
turn. The ``dask`` section times `rnn.dask_forward` on local clusters of one and of two
worker processes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import gc
import json
import logging
import math
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # `python benchmarks/run.py` from anywhere

import baselines  # noqa: E402

import rnn  # noqa: E402


@dataclass(frozen=True)
class Size:
    steps: int  # L
    batch: int  # N
    input_size: int  # H_in
    hidden_size: int  # H
    num_layers: int
    bidirectional: bool = False

    @property
    def layer_directions(self) -> int:
        return self.num_layers * (2 if self.bidirectional else 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "L": self.steps,
            "N": self.batch,
            "H_in": self.input_size,
            "H": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
        }


SIZES = {
    "tiny": Size(50, 1, 8, 16, 1),
    "small": Size(100, 32, 64, 128, 1),
    "small-bi": Size(100, 32, 64, 128, 2, True),
    "medium": Size(200, 64, 256, 512, 2),
    "medium-bi": Size(200, 64, 256, 512, 2, True),
    "large": Size(100, 256, 1024, 1024, 1),
}
MODELS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
DTYPES = {"float32": np.float32, "float64": np.float64}
TOLERANCE = {"float32": 1e-4, "float64": 1e-10}  # max |difference| allowed before timing
SECTIONS = ("forward", "memory", "train", "lengths", "dask")
# Set on some machines for old OpenBLAS builds; they slow a current one, so the benchmark
# runs without them (main() restarts itself with both removed and records what they were).
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REMOVED = "RNN_BENCH_REMOVED_OPENBLAS"  # the removed values, JSON, for the restarted process


@dataclass(frozen=True)
class Settings:
    """How long to measure: per comparison, rounds until `budget` seconds, within limits."""

    budget: float  # seconds of timing per comparison, aimed at
    min_rounds: int
    max_rounds: int
    heavy_rounds: int  # rounds when one round takes longer than `heavy` seconds
    heavy: float
    target: float  # each measurement repeats a call until it lasts about this long


FULL = Settings(budget=2.5, min_rounds=5, max_rounds=40, heavy_rounds=3, heavy=4.0, target=0.01)
QUICK = Settings(budget=0.1, min_rounds=2, max_rounds=5, heavy_rounds=2, heavy=1.0, target=0.002)


def sig(x: float, digits: int = 4) -> float:
    """`x` rounded to `digits` significant digits, for a readable results.json."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


# -- timing -------------------------------------------------------------------------------


def minor_faults() -> int:
    """Minor page faults of this process so far (fresh memory touched for the first time)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class Local:
    """Times a callable in this process, and counts the page faults its calls cause."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.faults: list[float] = []

    def time(self, number: int) -> float:
        fn = self.fn
        gc.disable()
        try:
            faults = minor_faults()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = (time.perf_counter() - start) / number
            self.faults.append((minor_faults() - faults) / number)
            return elapsed
        finally:
            gc.enable()


SETTLE = 0.25
"""Seconds a worker process waits before each timing: the implementation timed just before
it, in another process, leaves its idle BLAS or OpenMP threads spinning for a while
(OpenBLAS's about 2**28 cycles) on the cores this one is about to use."""


class Remote:
    """Times an implementation running in a worker process (``--worker``)."""

    def __init__(self, args: list[str]) -> None:
        self.faults: list[float] = []  # page faults happen in the worker: not counted
        cmd = [sys.executable, str(Path(__file__).resolve()), *args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = json.loads(self._read())

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args} exited with {self.proc.wait()}")
        return line

    def time(self, number: int) -> float:
        assert self.proc.stdin is not None
        time.sleep(SETTLE)
        self.proc.stdin.write(f"{number}\n")
        self.proc.stdin.flush()
        return float(self._read())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def interleave(
    timers: dict[str, Any],
    first: dict[str, float],
    settings: Settings,
    pairs: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """Time every implementation round-robin; medians of times and of per-round ratios.

    Parameters
    ----------
    timers : dict of name to Local or Remote
        The first one is `rnn`, the numerator of every ratio.
    first : dict of name to float
        Seconds the validating (first) call took, a guess at the cost of one call.
    pairs : tuple of (name, name)
        More ratios to take round by round, recorded as ``pair_ratio["a/b"]``.
    """
    estimate = {}
    for name, timer in timers.items():
        estimate[name] = first[name] if first[name] > 0.05 else timer.time(1)
    number = {n: max(1, math.ceil(settings.target / t)) for n, t in estimate.items()}
    round_time = sum(number[n] * estimate[n] for n in timers)
    if round_time > settings.heavy:
        rounds = settings.heavy_rounds
    else:
        rounds = int(settings.budget / round_time)
        rounds = min(settings.max_rounds, max(settings.min_rounds, rounds))
    names = list(timers)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timers[name].time(number[name]))
        gc.collect()
    ref = names[0]
    faults = {n: sig(statistics.median(t.faults), 3) for n, t in timers.items() if t.faults}
    result = {
        "page_faults_per_call": faults,
        "rounds": rounds,
        "number": number,
        "median_s": {n: sig(statistics.median(t)) for n, t in times.items()},
        "min_s": {n: sig(min(t)) for n, t in times.items()},
        "max_s": {n: sig(max(t)) for n, t in times.items()},
        "ratio": {n: median_ratio(times[ref], times[n]) for n in names[1:]},
    }
    if pairs:
        result["pair_ratio"] = {f"{a}/{b}": median_ratio(times[a], times[b]) for a, b in pairs}
    return result


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median over rounds of one time divided by another measured in the same round."""
    return sig(statistics.median(a / b for a, b in zip(numerators, denominators)), 3)


def max_diff(got: Any, want: Any) -> float:
    """Largest absolute difference between two outputs (arrays, tuples or dicts of arrays)."""
    if isinstance(want, dict):
        return max(max_diff(got[k], want[k]) for k in want)
    if isinstance(want, tuple):
        return max(max_diff(g, w) for g, w in zip(got, want))
    return float(np.max(np.abs(np.asarray(got, np.float64) - want), initial=0.0))


def validated(
    candidates: dict[str, Callable[[], Callable[[], Any]]],
    reference: Any,
    tolerance: float,
    scale: float = 1.0,
    unchecked: tuple[str, ...] = ("bound",),
) -> tuple[dict[str, Callable[[], Any]], dict[str, float], dict[str, float], dict[str, str]]:
    """Build each candidate, run it once and compare with `reference`.

    A candidate whose builder or first call raises is skipped (e.g. onnxruntime has no
    float64 RNN kernels); one whose output differs by more than ``tolerance * scale``
    stops the benchmark, since timing a wrong answer means nothing. Candidates named in
    `unchecked` are not compared (the matmul bound computes no output).

    Returns
    -------
    fns, first_seconds, diffs, skipped
    """
    fns, first, diffs, skipped = {}, {}, {}, {}
    for name, build in candidates.items():
        try:
            fn = build()
            start = time.perf_counter()
            out = fn()
            first[name] = time.perf_counter() - start
        except Exception as error:  # any failure means "not available"
            skipped[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
            continue
        if name not in unchecked:
            diffs[name] = sig(max_diff(out, reference), 3)
            if diffs[name] > tolerance * scale:
                raise AssertionError(f"{name} differs from rnn by {diffs[name]:.3g}")
        fns[name] = fn
    return fns, first, diffs, skipped


# -- the cases ------------------------------------------------------------------------------


def make_layer(model: str, size: Size, dtype: str) -> Any:
    """The `rnn` model of one case: seed 0, eval mode."""
    layer = getattr(rnn, MODELS[model])(
        size.input_size,
        size.hidden_size,
        size.num_layers,
        bidirectional=size.bidirectional,
        dtype=DTYPES[dtype],
        seed=0,
    )
    return layer.eval()


def make_model(model: str, size: Size, dtype: str) -> tuple[Any, np.ndarray]:
    """The `rnn` model (seed 0, eval mode) and an input (seed 0) for one case."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((size.steps, size.batch, size.input_size)).astype(DTYPES[dtype])
    return make_layer(model, size, dtype), x


def h_n_of(final: Any) -> np.ndarray:
    return final[0] if isinstance(final, tuple) else final  # type: ignore[no-any-return]


def rnn_forward(model: Any, x: np.ndarray, **kwargs: Any) -> Callable[[], Any]:
    def run() -> tuple[np.ndarray, np.ndarray]:
        out, final = model(x, **kwargs)
        return out, h_n_of(final)

    return run


def forward_candidates(model: Any, x: np.ndarray, threads: int = 1) -> dict[str, Callable[[], Any]]:
    """Builders of every forward implementation, `rnn` first."""
    candidates: dict[str, Callable[[], Any]] = {
        "rnn": lambda: rnn_forward(model, x),
        "torch": lambda: baselines.torch_forward(model, x),
        "onnxruntime": lambda: baselines.onnx_forward(model, x, threads),
        "lean": lambda: baselines.lean_loop(model, x),
        "bound": lambda: baselines.matmul_bound(model, x),
    }
    if baselines.kind(model) == "RNN":
        candidates["sketch"] = lambda: baselines.sketch(model, x)
    return candidates


def forward_case(model_name: str, size_name: str, dtype: str, settings: Settings) -> dict[str, Any]:
    size = SIZES[size_name]
    model, x = make_model(model_name, size, dtype)
    reference = rnn_forward(model, x)()
    fns, first, diffs, skipped = validated(
        forward_candidates(model, x), reference, TOLERANCE[dtype]
    )
    result = interleave({n: Local(f) for n, f in fns.items()}, first, settings)
    steps = size.steps * size.layer_directions
    result["us_per_step"] = {n: sig(t / steps * 1e6, 3) for n, t in result["median_s"].items()}
    return result | {"max_abs_diff": diffs, "skipped": skipped}


def memory_case(model_name: str, size_name: str, dtype: str) -> dict[str, Any]:
    """Peak bytes traced over two eval-mode forwards of a new model, against the output's bytes.

    Tracing starts before the first call, so the peak includes everything the model keeps
    between calls (prepared weights, its evaluation workspace) as well as what a call
    allocates (the output); the second call shows the steady state.
    """
    model, x = make_model(model_name, SIZES[size_name], dtype)
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(2):
            output, final = model(x)
            del output, final
            gc.collect()
        output, final = model(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    states = sum(f.nbytes for f in (final if isinstance(final, tuple) else (final,)))
    return {
        "peak_bytes": peak,
        "output_bytes": output.nbytes,
        "final_state_bytes": states,
        "ratio": sig(peak / output.nbytes, 3),
    }


def train_case(model_name: str, size_name: str, settings: Settings) -> dict[str, Any]:
    """Training-mode forward + backward: `rnn` against torch autograd, same loss."""
    model, x = make_model(model_name, SIZES[size_name], "float32")
    grads = baselines.loss_weights(model, x)
    try:
        torch_step = baselines.torch_train_step(model, x, grads)
    except ImportError as error:
        return {"skipped": {"torch": str(error)}}
    start = time.perf_counter()
    reference = torch_step()  # torch's gradients are the reference, this call its first
    torch_first = time.perf_counter() - start
    scale = max(float(np.max(np.abs(g))) for g in reference.values())
    candidates = {
        "rnn": lambda: baselines.rnn_train_step(model, x, grads),
        "bound": lambda: baselines.train_matmul_bound(model, x),
    }
    fns, first, diffs, skipped = validated(candidates, reference, TOLERANCE["float32"], scale)
    fns["torch"], first["torch"] = torch_step, torch_first
    settings = dataclasses.replace(settings, heavy_rounds=min(2, settings.heavy_rounds))
    result = interleave({n: Local(f) for n, f in fns.items()}, first, settings)
    return result | {"max_abs_diff": diffs, "gradient_scale": sig(scale, 3), "skipped": skipped}


def lengths_case(model_name: str, size_name: str, settings: Settings) -> dict[str, Any]:
    """Random lengths in [L/2, L]: `rnn` with them, without them, and torch packed."""
    size = SIZES[size_name]
    model, x = make_model(model_name, size, "float32")
    lengths = np.random.default_rng(2).integers(size.steps // 2, size.steps + 1, size.batch)
    reference = rnn_forward(model, x, lengths=lengths)()
    candidates = {
        "rnn": lambda: rnn_forward(model, x, lengths=lengths),
        "rnn_no_lengths": lambda: rnn_forward(model, x),
        "torch_packed": lambda: baselines.torch_packed(model, x, lengths),
    }
    fns, first, diffs, skipped = validated(
        candidates, reference, TOLERANCE["float32"], unchecked=("rnn_no_lengths",)
    )
    result = interleave({n: Local(f) for n, f in fns.items()}, first, settings)
    useful = float(lengths.sum()) / (size.steps * size.batch)
    return result | {"max_abs_diff": diffs, "valid_fraction": sig(useful, 3), "skipped": skipped}


# Dask: the batch of `size` times DASK_BATCH_FACTOR sequences, in DASK_CHUNKS chunks.
DASK_BATCH_FACTOR, DASK_CHUNKS = 4, 8


class DaskTimer:
    """Times ``rnn.dask_forward`` on one cluster: each output chunk summed on the workers."""

    def __init__(self, client: Any, model: Any, x: np.ndarray, chunk: int) -> None:
        import dask.array as da

        self.faults: list[float] = []  # page faults happen in the workers: not counted
        self.client = client
        self.data = client.persist(da.from_array(x, chunks=(-1, chunk, -1)))  # on the workers
        self.output, final = rnn.dask_forward(model, self.data)
        self.sums = [self.output.sum(), h_n_of(final).sum()]

    def full(self) -> np.ndarray:
        return np.asarray(self.client.compute(self.output, sync=True))

    def time(self, number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            self.client.compute(self.sums, sync=True)
        return (time.perf_counter() - start) / number


def start_cluster(workers: int) -> tuple[Any, Any]:
    """A LocalCluster of `workers` processes with one thread each (BLAS too), and a client."""
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=workers,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # any free port: 8787 may be taken
        silence_logs=logging.ERROR,
    )
    logging.getLogger("distributed").setLevel(logging.ERROR)  # the scheduler runs here
    client = distributed.Client(cluster)
    client.run(sys.path.insert, 0, str(HERE.parent))  # this tree's rnn, as in this process
    client.run(rnn.set_num_threads, 1)
    return cluster, client


def _traced_peak() -> int:
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def dask_case(model_name: str, size_name: str, settings: Settings) -> dict[str, Any]:
    """`rnn.dask_forward` on 1 and 2 worker processes, against `model(x)` in this process.

    The input is held by the workers before timing (``persist``); each timed call
    computes every chunk's output and sums it on the worker, so what is timed is the
    forward passes and the scheduling, not moving the output to this process.
    """
    size = SIZES[size_name]
    size = dataclasses.replace(size, batch=size.batch * DASK_BATCH_FACTOR)
    model, x = make_model(model_name, size, "float32")
    chunk = size.batch // DASK_CHUNKS
    reference = np.concatenate(
        [model(x[:, i : i + chunk])[0] for i in range(0, size.batch, chunk)], axis=1
    )
    clusters = {n: start_cluster(n) for n in (2, 1)}
    try:
        timers: dict[str, Any] = {}
        first, exact = {}, {}
        for n, (_, client) in clusters.items():
            timer = DaskTimer(client, model, x, chunk)
            start = time.perf_counter()
            got = timer.full()
            first[f"workers_{n}"] = time.perf_counter() - start
            exact[f"workers_{n}"] = bool(np.array_equal(got, reference))
            if not exact[f"workers_{n}"]:
                raise AssertionError(f"dask on {n} workers differs from rnn chunk by chunk")
            timers[f"workers_{n}"] = timer
        timers["in_memory"] = Local(rnn_forward(model, x))
        first["in_memory"] = first["workers_1"]
        result = interleave(timers, first, settings)  # run_single holds one thread here
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    peaks = worker_peaks(model, x, chunk)
    whole = memory_of(lambda: make_layer(model_name, size, "float32")(x))
    return result | {
        "batch": size.batch,
        "chunks": DASK_CHUNKS,
        "chunk_rows": chunk,
        "equal_to_chunk_by_chunk": exact,
        "worker_peak_bytes": peaks,
        "in_memory_peak_bytes": whole,
        "worker_peak_per_in_memory": sig(max(peaks) / whole, 3),
    }


def worker_peaks(model: Any, x: np.ndarray, chunk: int) -> list[int]:
    """Peak bytes traced in each of 2 new workers over one run, from before the input arrives."""
    cluster, client = start_cluster(2)
    try:
        client.run(tracemalloc.start)
        DaskTimer(client, model, x, chunk).time(1)
        return sorted(client.run(_traced_peak).values())
    finally:
        client.close()
        cluster.close()


def memory_of(call: Callable[[], Any]) -> int:
    """Peak bytes traced over one call."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- reporting --------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"numpy": np.__version__, "rnn": getattr(rnn, "__version__", "n/a")}
    for module in ("torch", "onnx", "onnxruntime", "threadpoolctl", "dask", "distributed"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "lscpu": lscpu(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "openblas_overrides_removed": json.loads(os.environ.get(REMOVED, "{}")),
        "threadpool_info": threadpoolctl.threadpool_info(),
    }


def source_commit() -> str | None:
    """The commit of the checkout being measured, with ``+`` when the code measured (the
    package and these scripts) has uncommitted changes; None outside a git checkout."""
    try:
        git = ["git", "-C", str(HERE.parent)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        status = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", "rnn", "benchmarks/*.py"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+" if status.stdout.strip() else "")


def lscpu() -> dict[str, str]:
    """A few fields of ``lscpu`` (model, vendor, caches, threads per core), if it runs."""
    keep = ("Model name", "Vendor ID", "Thread(s) per core", "L1d", "L2", "L3", "Flags")
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    found = {k.strip(): v.strip() for k, v in fields.items() if k.strip().startswith(keep)}
    if "Flags" in found:  # only the vector extensions matter here
        found["Flags"] = " ".join(f for f in found["Flags"].split() if f.startswith(("avx", "fma")))
    return found


def cell(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1e3:.3f}" if value < 0.01 else f"{value * 1e3:.1f}"
    return f"{value:.2f}"


def print_row(columns: list[tuple[str, int]], values: list[str], header: bool = False) -> None:
    cells = [v.rjust(w) if i else v.ljust(w) for i, (v, (_, w)) in enumerate(zip(values, columns))]
    line = "  ".join(cells)
    print(line, flush=True)
    if header:
        print("-" * len(line), flush=True)


FORWARD_COLUMNS = [
    ("case", 24),
    ("rounds", 6),
    ("rnn ms", 9),
    ("torch ms", 9),
    ("ort ms", 9),
    ("lean ms", 9),
    ("bound ms", 9),
    ("sketch ms", 9),
    ("rnn/torch", 9),
    ("rnn/ort", 8),
    ("rnn/lean", 8),
    ("rnn/bound", 9),
    ("rnn/sketch", 10),
    ("us/step", 8),
]
ONE_THREAD = ("rnn_1", "rnn_1b")  # rnn on one thread, twice: in two processes of their own
THREAD_IMPLS = ("rnn", *ONE_THREAD, "torch", "onnxruntime", "lean", "bound")
THREAD_COLUMNS = [("case", 24), ("rounds", 6)]
THREAD_COLUMNS += [(f"{n[:6]} ms", 9) for n in THREAD_IMPLS]
THREAD_COLUMNS += [(f"rnn/{n[:6]}", 10) for n in THREAD_IMPLS[1:]] + [("1/1b", 6)]


def forward_row(label: str, r: dict[str, Any]) -> list[str]:
    med, ratio = r["median_s"], r["ratio"]
    impls = ("rnn", "torch", "onnxruntime", "lean", "bound", "sketch")
    return [
        label,
        str(r["rounds"]),
        *(cell(med.get(n), "ms") for n in impls),
        *(cell(ratio.get(n)) for n in impls[1:]),
        f"{r['us_per_step']['rnn']:.1f}",
    ]


# -- the runs ---------------------------------------------------------------------------------


def grid(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(size, dtype) pairs of the forward comparison."""
    pairs = []
    for size in args.sizes:
        for dtype in args.dtypes:
            if size == "large" and dtype == "float64" and not args.large_float64:
                continue  # ~30 s per call per implementation on a small machine
            pairs.append((size, dtype))
    return pairs


def run_single(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": vars(settings) | {"threads": 1}}
    if "forward" in args.sections:
        print("\n## forward, eval mode (medians; ratios are medians of per-round ratios)")
        print_row(FORWARD_COLUMNS, [c for c, _ in FORWARD_COLUMNS], header=True)
        rows = []
        for size, dtype in grid(args):
            for model in args.only:
                r = forward_case(model, size, dtype, settings)
                print_row(FORWARD_COLUMNS, forward_row(f"{size} {dtype} {model}", r))
                rows.append({"size": size, "dtype": dtype, "model": model} | r)
        out["forward"] = rows
    if "memory" in args.sections:
        print("\n## peak memory of one eval-mode forward (tracemalloc), float32")
        columns = [("case", 24), ("peak MB", 9), ("output MB", 9), ("peak/output", 11)]
        print_row(columns, [c for c, _ in columns], header=True)
        rows = []
        for size in args.sizes:
            for model in args.only:
                r = memory_case(model, size, "float32")
                mb = [f"{r[k] / 1e6:.3f}" for k in ("peak_bytes", "output_bytes")]
                print_row(columns, [f"{size} {model}", *mb, f"{r['ratio']:.2f}"])
                rows.append({"size": size, "dtype": "float32", "model": model} | r)
        out["memory"] = rows
    if "train" in args.sections:
        print("\n## training step: forward + backward, float32 (rnn vs torch autograd)")
        columns = [("case", 24), ("rounds", 6), ("rnn ms", 9), ("torch ms", 9), ("bound ms", 9)]
        columns += [("rnn/torch", 9), ("rnn/bound", 9)]
        print_row(columns, [c for c, _ in columns], header=True)
        rows = []
        for size in args.sizes:
            for model in args.only:
                r = train_case(model, size, settings)
                rows.append({"size": size, "dtype": "float32", "model": model} | r)
                if "median_s" not in r:
                    print(f"{size} {model}: skipped, {r['skipped']}")
                    continue
                med = r["median_s"]
                print_row(
                    columns,
                    [
                        f"{size} {model}",
                        str(r["rounds"]),
                        cell(med["rnn"], "ms"),
                        cell(med.get("torch"), "ms"),
                        cell(med.get("bound"), "ms"),
                        cell(r["ratio"].get("torch")),
                        cell(r["ratio"].get("bound")),
                    ],
                )
        out["train"] = rows
    if "lengths" in args.sections:
        print("\n## random lengths in [L/2, L], float32 (rnn with lengths vs without, vs torch)")
        columns = [
            ("case", 24),
            ("rounds", 6),
            ("rnn ms", 9),
            ("no-len ms", 9),
            ("packed ms", 9),
            ("valid", 6),
            ("rnn/no-len", 10),
            ("rnn/packed", 10),
        ]
        print_row(columns, [c for c, _ in columns], header=True)
        rows = []
        for size in args.sizes:
            if size == "large" and not args.large_lengths:
                continue
            for model in args.only:
                r = lengths_case(model, size, settings)
                med, ratio = r["median_s"], r["ratio"]
                print_row(
                    columns,
                    [
                        f"{size} {model}",
                        str(r["rounds"]),
                        cell(med["rnn"], "ms"),
                        cell(med.get("rnn_no_lengths"), "ms"),
                        cell(med.get("torch_packed"), "ms"),
                        f"{r['valid_fraction']:.2f}",
                        cell(ratio.get("rnn_no_lengths")),
                        cell(ratio.get("torch_packed")),
                    ],
                )
                rows.append({"size": size, "dtype": "float32", "model": model} | r)
        out["lengths"] = rows
    if "dask" in args.sections:
        size = "small" if args.quick else "medium"
        print(
            f"\n## rnn.dask_forward, {size} x{DASK_BATCH_FACTOR} batch in {DASK_CHUNKS} chunks,"
            " float32: LocalCluster of 2 worker processes against 1, and in memory"
        )
        columns = [("case", 24), ("rounds", 6), ("2 wk ms", 9), ("1 wk ms", 9), ("mem ms", 9)]
        columns += [("2wk/1wk", 8), ("2wk/mem", 8), ("peak/in-mem", 11)]
        print_row(columns, [c for c, _ in columns], header=True)
        rows = []
        for model in args.only:
            r = dask_case(model, size, settings)
            med, ratio = r["median_s"], r["ratio"]
            print_row(
                columns,
                [
                    f"{size} {model}",
                    str(r["rounds"]),
                    *(cell(med[n], "ms") for n in ("workers_2", "workers_1", "in_memory")),
                    cell(ratio["workers_1"]),
                    cell(ratio["in_memory"]),
                    f"{r['worker_peak_per_in_memory']:.2f}",
                ],
            )
            rows.append({"size": size, "dtype": "float32", "model": model} | r)
        out["dask"] = rows
    return out


def run_threads(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Each implementation in its own worker process with `args.threads` threads.

    `rnn` runs three times: with ``rnn.set_num_threads(args.threads)`` and, as ``rnn_1``
    and ``rnn_1b``, twice with one thread, so ``ratio.rnn_1`` is the speed-up the threads
    give and ``pair_ratio["rnn_1/rnn_1b"]`` how much two processes doing the same work
    differ.
    """
    dtype = "float32"
    print(f"\n## forward, {dtype}, {args.threads} threads, one worker process per implementation")
    print_row(THREAD_COLUMNS, [c for c, _ in THREAD_COLUMNS], header=True)
    rows = []
    for size in args.sizes:
        for model in args.only:
            r = threads_case(model, size, dtype, args.threads, settings)
            values = [f"{size} {dtype} {model}", str(r["rounds"])]
            values += [cell(r["median_s"].get(n), "ms") for n in THREAD_IMPLS]
            values += [cell(r["ratio"].get(n)) for n in THREAD_IMPLS[1:]]
            values += [cell(r["pair_ratio"]["rnn_1/rnn_1b"])]
            print_row(THREAD_COLUMNS, values)
            rows.append({"size": size, "dtype": dtype, "model": model} | r)
    return {"settings": vars(settings) | {"threads": args.threads}, "forward": rows}


def threads_case(
    model: str, size: str, dtype: str, threads: int, settings: Settings
) -> dict[str, Any]:
    timers: dict[str, Any] = {}
    first, diffs, skipped = {}, {}, {}
    for impl in THREAD_IMPLS:
        one = impl in ONE_THREAD
        count = str(1 if one else threads)
        options = ["--cells", model, "--sizes", size, "--dtypes", dtype, "--threads", count]
        worker = Remote(["--worker", "rnn" if one else impl, *options])
        if "skipped" in worker.ready:
            skipped[impl] = worker.ready["skipped"]
            worker.close()
            continue
        timers[impl], first[impl] = worker, worker.ready["first"]
        if "diff" in worker.ready:
            diffs[impl] = worker.ready["diff"]
    try:
        r = interleave(timers, first, settings, pairs=(ONE_THREAD,))
    finally:
        for worker in timers.values():
            worker.close()
    steps = SIZES[size].steps * SIZES[size].layer_directions
    r["us_per_step"] = {n: sig(t / steps * 1e6, 3) for n, t in r["median_s"].items()}
    return r | {"max_abs_diff": diffs, "skipped": skipped}


def worker(args: argparse.Namespace) -> None:
    """``--worker IMPL``: build and validate one implementation, then time it on request.

    Prints one JSON line when ready, then reads a count per line from stdin and answers
    with the seconds per call of that many calls.
    """
    if args.worker == "torch":
        import_optional("torch")
    impl = args.worker
    model, x = make_model(args.only[0], SIZES[args.sizes[0]], args.dtypes[0])
    reference = rnn_forward(model, x)()
    candidates = forward_candidates(model, x, args.threads)
    with LimitThreads(args.threads):
        fns, first, diffs, skipped = validated(
            {impl: candidates[impl]}, reference, TOLERANCE[args.dtypes[0]]
        )
        if skipped:
            print(json.dumps({"skipped": skipped[impl]}), flush=True)
            return
        ready: dict[str, Any] = {"first": first[impl]}
        if impl in diffs:
            ready["diff"] = diffs[impl]
        print(json.dumps(ready), flush=True)
        timer = Local(fns[impl])
        for line in sys.stdin:
            print(repr(timer.time(int(line))), flush=True)


class LimitThreads:
    """`threads` threads for `rnn`, numpy's BLAS, OpenMP and torch, while inside.

    threadpoolctl only reaches libraries already loaded, so import torch (if it is to be
    used) before entering.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __enter__(self) -> LimitThreads:
        self.limits = threadpoolctl.threadpool_limits(self.threads)
        self.rnn_threads = rnn.get_num_threads()
        rnn.set_num_threads(self.threads)
        torch = sys.modules.get("torch")
        if torch is not None:
            self.torch_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc: object) -> None:
        rnn.set_num_threads(self.rnn_threads)
        self.limits.restore_original_limits()
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(self.torch_threads)


def import_optional(*modules: str) -> None:
    """Import what is installed, so that thread limits and `machine_facts` see it."""
    for module in modules:
        with contextlib.suppress(ImportError):
            __import__(module)


def profile(args: argparse.Namespace) -> None:
    """cProfile of `rnn`'s eval-mode forward at each size asked for; top functions by self time."""
    for size in args.sizes:
        for model_name in args.only:
            model, x = make_model(model_name, SIZES[size], args.dtypes[0])
            model(x)
            calls = max(1, int(0.5 / Local(lambda: model(x)).time(1)))  # noqa: B023
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                model(x)
            profiler.disable()
            print(f"\n## cProfile: {size} {args.dtypes[0]} {model_name}, {calls} calls")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])

    def names(choices: Any) -> Callable[[str], list[str]]:
        def split(text: str) -> list[str]:
            chosen = [s.strip() for s in text.split(",") if s.strip()]
            unknown = [s for s in chosen if s not in choices]
            if unknown:
                raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {list(choices)}")
            return chosen

        return split

    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: few rounds, tiny and small, float32"
    )
    parser.add_argument(
        "--cells", "--only", dest="only", type=names(MODELS), default=list(MODELS), help="rnn,gru"
    )
    parser.add_argument("--sizes", type=names(SIZES), default=None, help="e.g. tiny,small")
    parser.add_argument("--dtypes", type=names(DTYPES), default=None, help="float32,float64")
    parser.add_argument("--sections", type=names(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--threads", type=int, default=1, help="2: one process per library")
    parser.add_argument("--large-float64", action="store_true", help="also time large float64")
    parser.add_argument("--large-lengths", action="store_true", help="also lengths at large")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results file to update (default: benchmarks/results.json; none with --quick)",
    )
    parser.add_argument("--no-output", action="store_true", help="print only")
    parser.add_argument("--profile", action="store_true", help="cProfile rnn's forward instead")
    parser.add_argument("--worker", choices=["rnn", "torch", "onnxruntime", "lean", "bound"])
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = ["tiny", "small"] if args.quick else list(SIZES)
    if args.dtypes is None:
        args.dtypes = ["float32"] if args.quick else list(DTYPES)
    if args.output is None and not args.quick:
        args.output = HERE / "results.json"
    if args.no_output:
        args.output = None
    return args


def without_openblas_overrides(argv: list[str]) -> None:
    """Restart this process without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if either is set.

    OpenBLAS reads them when it loads, so they cannot be undone in a running process.
    The values removed are passed on in REMOVED and recorded in results.json.
    """
    removed = {k: os.environ[k] for k in OPENBLAS_OVERRIDES if k in os.environ}
    if removed:
        env = {k: v for k, v in os.environ.items() if k not in removed}
        env[REMOVED] = json.dumps(removed)
        script = str(Path(__file__).resolve())
        os.execve(sys.executable, [sys.executable, script, *argv], env)


def main(argv: list[str] | None = None) -> None:
    without_openblas_overrides(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.worker:
        worker(args)
        return
    settings = QUICK if args.quick else FULL
    if args.profile:
        with LimitThreads(1):
            profile(args)
        return
    start, commit = time.time(), source_commit()  # the code as the run began
    load = os.getloadavg()
    import_optional("torch", "onnx", "onnxruntime")
    with LimitThreads(1):
        facts = machine_facts()
        print(f"{facts['cpu_model']}, {facts['cpu_count']} cpus, load {load[0]:.2f}")
        for lib in facts["threadpool_info"]:
            print(
                f"  {lib['internal_api']} {lib.get('version')} {lib.get('architecture', '')}"
                f" threads={lib['num_threads']}  {Path(lib['filepath']).name}"
            )
        print(
            f"  OPENBLAS_CORETYPE={facts['OPENBLAS_CORETYPE']!r}, removed for this run:"
            f" {facts['openblas_overrides_removed']}",
            flush=True,
        )
        if args.threads == 1:
            results = run_single(args, settings)
    if args.threads > 1:
        results = run_threads(args, settings)
    elapsed = time.time() - start
    results["run"] = {
        "argv": sys.argv[1:],
        "commit": commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(elapsed, 1),
        "loadavg_before": [round(v, 2) for v in load],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(f"\n{elapsed:.0f} s")
    if args.output is not None:
        recorded = json.loads(args.output.read_text()) if args.output.exists() else {}
        recorded["machine"] = facts
        recorded[f"threads_{args.threads}"] = results
        args.output.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        print(f"written to {args.output}")


if __name__ == "__main__":
    main()
