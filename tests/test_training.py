"""Truncated BPTT against full BPTT, chunking, and the progress line."""

from __future__ import annotations

import io
import re
import sys
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import rnn
from rnn import chunks, mse_loss, progress, truncated_bptt


class Recorder:
    """An optimiser that keeps every gradient it is handed and changes nothing."""

    def __init__(self) -> None:
        self.grads: list[dict[str, np.ndarray]] = []

    def step(self, grads: Mapping[str, Any]) -> None:
        self.grads.append({k: np.array(v) for k, v in grads.items()})


def make(kind: str, batch_first: bool = False) -> Any:
    cls = {"RNN": rnn.RNN, "GRU": rnn.GRU, "LSTM": rnn.LSTM}[kind]
    return cls(2, 3, num_layers=2, batch_first=batch_first, dtype=np.float64, seed=0)


def data(steps: int, batch_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x, target = rng.normal(size=(steps, 4, 2)), rng.normal(size=(steps, 4, 3))
    if batch_first:
        return x.swapaxes(0, 1), target.swapaxes(0, 1)
    return x, target


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, [[0], [1], [2], [3], [4]]),
        (2, [[0, 1], [2, 3], [4]]),
        (5, [[*range(5)]]),
        (9, [[*range(5)]]),
    ],
)
def test_chunks(k: int, expected: list[list[int]]) -> None:
    assert [c.tolist() for c in chunks(np.arange(5), k)] == expected


def test_chunks_along_axis_1_are_views() -> None:
    x = np.arange(12).reshape(2, 6)
    pieces = list(chunks(x, 4, axis=1))
    assert [p.shape for p in pieces] == [(2, 4), (2, 2)]
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), x)
    assert all(np.shares_memory(p, x) for p in pieces)


def test_chunks_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be an int >= 1; got 0"):
        list(chunks(np.arange(3), 0))


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_whole_sequence_chunk_is_full_bptt(kind: str) -> None:
    model, (x, target) = make(kind), data(7)
    recorder = Recorder()
    losses, _ = truncated_bptt(model, x, target, 7, mse_loss, recorder)
    output, _ = model(x)
    loss, grad = mse_loss(output, target)
    expected = model.backward(grad)
    assert losses == [loss]
    (got,) = recorder.grads
    assert got.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_chunks_carry_the_state_and_cut_the_gradient(kind: str, batch_first: bool) -> None:
    model, (x, target) = make(kind, batch_first), data(8, batch_first)
    recorder = Recorder()
    losses, state = truncated_bptt(model, x, target, 3, mse_loss, recorder)
    assert len(losses) == 3

    # The carried state is the state after the whole sequence (no update was made).
    _, full_state = model(x)
    for got, expected in zip(
        state if kind == "LSTM" else (state,), full_state if kind == "LSTM" else (full_state,)
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-15)

    # Each chunk's gradient is BPTT through that chunk alone, from the carried state.
    axis = 1 if batch_first else 0
    carried = None
    for j, (x_j, t_j) in enumerate(zip(chunks(x, 3, axis=axis), chunks(target, 3, axis=axis))):
        output, new_state = model(x_j, carried)
        loss, grad = mse_loss(output, t_j)
        expected = model.backward(grad)
        assert losses[j] == loss
        for name in expected:
            np.testing.assert_array_equal(recorder.grads[j][name], expected[name], err_msg=name)
        carried = new_state


def test_updates_between_chunks_and_clipping() -> None:
    """Chunk j runs with the parameters chunk j-1's step produced; clipping applies."""
    model, (x, target) = make("GRU"), data(6)
    twin = make("GRU")
    _, state = truncated_bptt(model, x, target, 3, mse_loss, rnn.SGD(model, lr=0.5), max_norm=0.01)
    opt = rnn.SGD(twin, lr=0.5)
    carried = None
    for x_j, t_j in zip(chunks(x, 3), chunks(target, 3)):
        output, carried = twin(x_j, carried)
        grads = twin.backward(mse_loss(output, t_j)[1])
        clipped, norm = rnn.clip_grad_norm(grads, 0.01)
        assert norm > 0.01
        opt.step(clipped)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p, getattr(twin, name), err_msg=name)
    np.testing.assert_array_equal(state, carried)


def test_learns_with_truncation() -> None:
    model = rnn.GRU(1, 8, dtype=np.float64, seed=0)
    head = np.zeros((8, 1))
    head[0] = 1.0
    wave = np.sin(0.3 * np.arange(201))[:, None, None]
    opt = rnn.Adam(model, lr=0.02)

    def loss_fn(output: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = mse_loss(output @ head, target)
        return loss, grad @ head.T

    first, _ = truncated_bptt(model, wave[:-1], wave[1:], 20, loss_fn, opt)
    for _ in range(10):
        last, _ = truncated_bptt(model, wave[:-1], wave[1:], 20, loss_fn, opt)
    assert np.mean(last) < np.mean(first) / 10


def test_truncated_bptt_checks_lengths() -> None:
    model, (x, target) = make("RNN"), data(7)
    with pytest.raises(ValueError, match="as many time steps as x along axis 0, 7; got 6"):
        truncated_bptt(model, x, target[:6], 3, mse_loss, Recorder())


def test_progress_lines() -> None:
    out = io.StringIO()
    bar = progress(range(10), every=4, file=out, clock=lambda: 0.25 * bar.count)
    seen = []
    for step in bar:
        seen.append(step)
        bar.set(loss=1 / (step + 1), epoch=step // 5)
    assert seen == list(range(10))
    assert out.getvalue().splitlines() == [
        " 4/10 | 4 it/s | 1.0s | loss 0.25 | epoch 0",
        " 8/10 | 4 it/s | 2.0s | loss 0.125 | epoch 1",
        "10/10 | 4 it/s | 2.5s | loss 0.1 | epoch 1",
    ]


def test_progress_without_total_and_defaults() -> None:
    out = io.StringIO()
    bar = progress(iter(range(250)), file=out, clock=lambda: 0.0)
    assert bar.total is None and bar.every == 100
    for _ in bar:
        pass
    assert out.getvalue().splitlines() == [
        "100 | nan it/s | 0.0s",
        "200 | nan it/s | 0.0s",
        "250 | nan it/s | 0.0s",
    ]
    assert progress(range(50)).every == 5


def test_progress_disabled_and_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(progress(range(3), disable=True)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    for _ in progress(range(3)):
        pass
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1].startswith("3/3 | ")


def test_progress_checks_every() -> None:
    with pytest.raises(ValueError, match="every must be an int >= 1; got 0"):
        progress(range(3), every=0)


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, as a console's stderr does."""

    def isatty(self) -> bool:
        return True


def test_progress_draws_a_tqdm_bar_in_a_terminal() -> None:
    pytest.importorskip("tqdm")
    out = Terminal()
    bar = progress(range(5), file=out, clock=lambda: 0.5 * bar.count)
    for step in bar:
        bar.set(loss=1 / (step + 1))
    frames = out.getvalue().split("\r")
    assert frames[0] == ""  # tqdm redraws in place
    assert frames[-1] == "100%|##########| 5/5 [00:02<00:00,  2.00it/s, loss=0.2]\n"
    assert bar.count == 5


def test_progress_without_tqdm_writes_lines_to_a_terminal(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import tqdm.auto fails
    out = Terminal()
    bar = progress(range(4), every=2, file=out, clock=lambda: 0.5 * bar.count)
    for _ in bar:
        pass
    assert out.getvalue() == "2/4 | 2 it/s | 1.0s\n4/4 | 2 it/s | 2.0s\n"


def test_progress_bar_stops_when_the_loop_breaks() -> None:
    pytest.importorskip("tqdm")
    out = Terminal()
    for step in progress(range(100), file=out):
        if step == 2:
            break
    assert out.getvalue().endswith("\n")  # the bar was closed
    assert " 2/100 [" in out.getvalue().split("\r")[-1]  # items 0 and 1 were done


# --- numbers: numpy scalars and 0-d arrays are numbers; bool is not ----------------------


@pytest.mark.parametrize("k", [np.int64(3), np.array(3), np.uint8(3)])
def test_chunks_accepts_numpy_integers(k: Any) -> None:
    assert [piece.tolist() for piece in chunks(np.arange(7), k)] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize(
    ("k", "kind", "message"),
    [
        (True, TypeError, "k must be an int; got bool True"),
        (np.bool_(True), TypeError, "k must be an int; got bool np.True_"),
        (2.0, TypeError, "k must be an int; got float 2.0"),
        (np.array([2]), TypeError, "k must be an int; got ndarray array([2])"),
        (np.int64(0), ValueError, "k must be an int >= 1; got 0"),
    ],
)
def test_chunks_refuses_non_integers(k: Any, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind, match=f"^{re.escape(message)}$"):
        list(chunks(np.arange(7), k))


def test_truncated_bptt_accepts_numpy_scalars() -> None:
    model, (x, target) = make("GRU"), data(6)
    twin = make("GRU")
    twin_opt = rnn.SGD(twin, lr=float(np.float32(0.1)))
    expected, _ = truncated_bptt(twin, x, target, 3, mse_loss, twin_opt, max_norm=1.0)
    opt = rnn.SGD(model, lr=np.float32(0.1))
    losses, _ = truncated_bptt(model, x, target, np.int64(3), mse_loss, opt, max_norm=np.array(1.0))
    assert losses == expected


def test_truncated_bptt_checks_max_norm_before_training() -> None:
    model, (x, target) = make("RNN"), data(6)
    recorder = Recorder()
    with pytest.raises(ValueError, match=re.escape("max_norm must be a number > 0; got -1")):
        truncated_bptt(model, x, target, 3, mse_loss, recorder, max_norm=-1)
    with pytest.raises(TypeError, match=re.escape("max_norm must be a number; got bool False")):
        truncated_bptt(model, x, target, 3, mse_loss, recorder, max_norm=False)
    assert recorder.grads == []


def test_progress_every_accepts_numpy_integers() -> None:
    assert progress(range(3), every=np.int32(2)).every == 2
    with pytest.raises(TypeError, match=re.escape("every must be an int; got bool True")):
        progress(range(3), every=True)


def test_progress_uses_tqdm_auto_in_a_notebook(
    monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """In Jupyter, tqdm.auto's class is tqdm.notebook's: used though stderr is no terminal."""
    std = pytest.importorskip("tqdm.std")
    notebook_bar = type("tqdm", (std.tqdm,), {"__module__": "tqdm.notebook"})
    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=notebook_bar))
    for _ in progress(range(3), clock=lambda: 0.0):
        pass
    assert capsys.readouterr().err.split("\r")[-1].startswith("100%|")
    for _ in progress(range(3), file=io.StringIO()):  # a file given: status lines
        pass
    assert capsys.readouterr().err == ""
