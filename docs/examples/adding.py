"""The adding problem: carry two numbers across a sequence, output their sum.

Each sequence has T steps of two features: a value drawn from U(0, 1), and a
marker that is 1 at exactly two steps (one in each half) and 0 elsewhere. The
target, read at the last step only, is the sum of the two marked values.
Predicting 1.0 every time, the mean of the sum, scores an MSE of
Var(U1 + U2) = 1/6: a model only beats that baseline if it carries what it saw
at the markers to the end of the sequence.

An RNN, a GRU and an LSTM of the same width are trained identically (Adam,
gradient clipping, the same seeded batches); ``curves`` keeps each model's loss
per update and ``test_losses`` its MSE on fresh sequences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rnn


def adding_batch(
    rng: np.random.Generator, steps: int, batch: int
) -> tuple[Any, Any]:
    """Inputs of shape (steps, batch, 2) and targets of shape (batch, 1)."""
    values = rng.uniform(0, 1, (steps, batch))
    cols = np.arange(batch)
    first = rng.integers(0, steps // 2, batch)
    second = rng.integers(steps // 2, steps, batch)
    markers = np.zeros((steps, batch))
    markers[first, cols] = markers[second, cols] = 1.0
    target = values[first, cols] + values[second, cols]
    return np.stack([values, markers], axis=-1), target[:, None]


class LastStepRegressor:
    """A recurrent layer, then a linear readout of its last output."""

    def __init__(self, layer: Any, seed: int) -> None:
        self.layer = layer
        bound = 1 / np.sqrt(layer.hidden_size)
        rng = np.random.default_rng(seed)
        self.head = {
            "head.weight": rng.uniform(-bound, bound, (1, layer.hidden_size)),
            "head.bias": rng.uniform(-bound, bound, 1),
        }

    def state_dict(self) -> dict[str, Any]:
        return self.layer.state_dict() | {
            k: v.copy() for k, v in self.head.items()
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.layer.load_state_dict(
            {k: v for k, v in state.items() if k not in self.head}
        )
        self.head = {k: np.array(state[k]) for k in self.head}

    def __call__(self, x: Any) -> Any:
        self.output, _ = self.layer(x)  # (T, N, H)
        return (
            self.output[-1] @ self.head["head.weight"].T
            + self.head["head.bias"]
        )

    def backward(self, grad_y: Any) -> dict[str, Any]:
        grad_output = np.zeros_like(self.output)
        grad_output[-1] = (
            grad_y @ self.head["head.weight"]
        )  # only the last step is read
        grads = self.layer.backward(grad_output)
        last = self.output[-1]
        return grads | {
            "head.weight": grad_y.T @ last,
            "head.bias": grad_y.sum(axis=0),
        }


STEPS, BATCH, HIDDEN, ITERATIONS = 30, 16, 16, 500
BASELINE = 1 / 6


def train(seed):
    """Train the three models from `seed` (data and weights); return the
    training losses and the test MSE of each."""
    rng = np.random.default_rng(seed)
    batches = [adding_batch(rng, STEPS, BATCH) for _ in range(ITERATIONS)]
    test_x, test_y = adding_batch(np.random.default_rng(seed + 1), STEPS, 1000)
    curves, test_losses = {}, {}
    for name, layer_class in [
        ("RNN", rnn.RNN),
        ("GRU", rnn.GRU),
        ("LSTM", rnn.LSTM),
    ]:
        layer = layer_class(2, HIDDEN, dtype=np.float64, seed=seed)
        model = LastStepRegressor(layer, seed=seed)
        optimizer = rnn.Adam(model, lr=0.02)
        losses = []
        for x, y in batches:
            loss, grad = rnn.mse_loss(model(x), y)
            grads, _ = rnn.clip_grad_norm(model.backward(grad), max_norm=1.0)
            optimizer.step(grads)
            losses.append(loss)
        curves[name] = losses
        test_losses[name], _ = rnn.mse_loss(model(test_x), test_y)
    return curves, test_losses


curves, test_losses = train(seed=0)
for name, test_loss in test_losses.items():
    ratio = test_loss / BASELINE
    print(f"{name:4}  test MSE {test_loss:.4f} = {ratio:.3f} x the baseline")
