"""What every model shares (rnn/_module.py): the workspaces among them.

In evaluation mode a model keeps its scratch arrays between calls, one set per thread,
and a layer writes its states over its own input; in training mode the next record reuses
the arrays of the last one. None of that may show: outputs of different calls never share
memory, evaluation equals training mode, a reused record equals a fresh one, and threads
sharing one model get their own answers.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from layer_kinds import KINDS, make

LENGTHS = [7, 3, 5, 1]


def run(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output and the h part of the final state."""
    output, final = model(x, lengths=LENGTHS)
    return output, final[0] if isinstance(final, tuple) else final


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers", [1, 3])
def test_evaluation_equals_training_and_calls_do_not_share_memory(kind: str, layers: int) -> None:
    model = make(kind, 3, 4, num_layers=layers, bidirectional=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((7, 4, 3)) for _ in range(2)]
    expected = [run(model, x) for x in xs]  # training mode
    model.eval()
    first = run(model, xs[0])
    second = run(model, xs[1])
    for got, want in zip((first, second), expected):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert not np.shares_memory(first[0], second[0])
    assert not np.shares_memory(first[1], second[1])
    np.testing.assert_array_equal(first[0], expected[0][0])  # unchanged by the second call


def training_step(model: Any, x: np.ndarray, lengths: list[int] | None) -> list[np.ndarray]:
    """Output, final states and every gradient of one step of the loss sum(output * 0.5)."""
    output, final = model(x, lengths=lengths)
    grads = model.backward(np.full_like(output, 0.5))
    states = final if isinstance(final, tuple) else (final,)
    return [output, *states, *(grads[name] for name in sorted(grads))]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_training_pass_reuses_the_last_record_and_equals_a_fresh_one(
    kind: str, bidirectional: bool
) -> None:
    options: dict[str, Any] = {"num_layers": 2, "bidirectional": bidirectional, "dropout": 0.3}
    reused = make(kind, 3, 4, dtype=np.float64, seed=0, **options)
    fresh = make(kind, 3, 4, dtype=np.float64, seed=0, **options)
    rng = np.random.default_rng(3)
    # padding after none and none after padding (a buffer must not keep old values), then
    # a new shape
    passes = [
        (rng.standard_normal((7, 4, 3)), None),
        (rng.standard_normal((7, 4, 3)), LENGTHS),
        (rng.standard_normal((7, 4, 3)), None),
        (rng.standard_normal((5, 2, 3)), [5, 2]),
    ]
    kept = []
    for x, lengths in passes:
        fresh.eval().train()  # leaving training mode drops the kept arrays: all new
        want = training_step(fresh, x, lengths)
        got = training_step(reused, x, lengths)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
        kept.append((got, [w.copy() for w in want]))
    for got, want in kept:  # nothing a step returned was written by a later step
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_threads_sharing_a_model_get_their_own_answers() -> None:
    model = make("lstm_proj", 3, 6, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    model.eval()
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((7, 4, 3)) for _ in range(4)]
    expected = [run(model, x)[0] for x in xs]
    wrong: list[int] = []

    def work(i: int) -> None:
        for _ in range(40):
            if not np.array_equal(run(model, xs[i])[0], expected[i]):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_a_changed_shape_gets_new_scratch_arrays() -> None:
    model = make("gru", 3, 4, num_layers=2, dtype=np.float64, seed=0).eval()
    rng = np.random.default_rng(2)
    short, long = rng.standard_normal((2, 1, 3)), rng.standard_normal((9, 5, 3))
    want_long = model(long)[0]
    model(short)
    np.testing.assert_array_equal(model(long)[0], want_long)
