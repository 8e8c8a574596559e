"""Predict the next value of a sine wave with an RNN, a GRU and an LSTM.

Each model reads a wave one value at a time and, at every step, predicts the
next value through a linear readout. All three are trained the same way (Adam,
full BPTT) on the same seeded batches; the script prints the loss curves' start
and end and keeps them in ``curves`` for plotting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rnn


class Regressor:
    """A recurrent layer and a linear readout: y_t = h_t W^T + b, every step."""

    def __init__(self, layer: Any, out_size: int, seed: int) -> None:
        self.layer = layer
        bound = 1 / np.sqrt(layer.hidden_size)
        rng = np.random.default_rng(seed)
        self.head = {
            "head.weight": rng.uniform(
                -bound, bound, (out_size, layer.hidden_size)
            ),
            "head.bias": rng.uniform(-bound, bound, out_size),
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.layer.state_dict() | {
            k: v.copy() for k, v in self.head.items()
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.layer.load_state_dict(
            {k: v for k, v in state.items() if k not in self.head}
        )
        self.head = {k: np.array(state[k]) for k in self.head}

    def __call__(self, x: np.ndarray, hx: Any = None) -> tuple[np.ndarray, Any]:
        self.hidden, state = self.layer(x, hx)  # (L, N, H)
        return self.hidden @ self.head["head.weight"].T + self.head[
            "head.bias"
        ], state

    def backward(self, grad_y: np.ndarray) -> dict[str, np.ndarray]:
        w = self.head["head.weight"]
        grads = self.layer.backward(
            grad_y @ w
        )  # BPTT through the recurrent layer
        flat_g = grad_y.reshape(-1, w.shape[0])  # (L*N, out)
        flat_h = self.hidden.reshape(-1, w.shape[1])  # (L*N, H)
        return grads | {
            "head.weight": flat_g.T @ flat_h,
            "head.bias": flat_g.sum(axis=0),
        }


def waves(rng: np.random.Generator, steps: int, batch: int) -> np.ndarray:
    """Sine waves of random phase and frequency, shape (steps + 1, batch, 1)."""
    t = np.arange(steps + 1)[:, None]
    freq = rng.uniform(0.1, 0.3, batch)
    phase = rng.uniform(0, 2 * np.pi, batch)
    return np.sin(freq * t + phase)[:, :, None]


STEPS, BATCH, HIDDEN, ITERATIONS, WARMUP = 40, 16, 16, 300, 5
rng = np.random.default_rng(0)
batches = [waves(rng, STEPS, BATCH) for _ in range(ITERATIONS)]
test_wave = waves(np.random.default_rng(1), 200, 4)

curves = {}
models = {}
for name, layer_class in [
    ("RNN", rnn.RNN),
    ("GRU", rnn.GRU),
    ("LSTM", rnn.LSTM),
]:
    model = Regressor(
        layer_class(1, HIDDEN, dtype=np.float64, seed=0), 1, seed=0
    )
    optimizer = rnn.Adam(model, lr=0.01)
    losses = []
    for wave in batches:
        prediction, _ = model(wave[:-1])
        # Score from step WARMUP on: the first values do not fix the frequency.
        loss, grad_tail = rnn.mse_loss(prediction[WARMUP:], wave[WARMUP + 1 :])
        grad = np.zeros_like(prediction)
        grad[WARMUP:] = grad_tail
        optimizer.step(model.backward(grad))
        losses.append(loss)
    curves[name], models[name] = losses, model
    test_prediction, _ = model(test_wave[:-1])
    test_loss, _ = rnn.mse_loss(
        test_prediction[WARMUP:], test_wave[WARMUP + 1 :]
    )
    final = np.mean(losses[-10:])
    print(
        f"{name:4}  first loss {losses[0]:.1e}  last 10 {final:.1e}  "
        f"test {test_loss:.1e}"
    )
    assert final < losses[0] / 100, (
        "expected the loss to drop by two orders of magnitude"
    )
