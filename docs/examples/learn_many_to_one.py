"""Many-to-one: tell sine, square and triangle waves apart from 30 samples."""

import numpy as np
import rnn

WAVE_STEPS, CLASSES = 30, ("sine", "square", "triangle")


def waves(rng, n):
    """Inputs (L, n, 1) and classes (n,): random frequency, phase, noise."""
    label = rng.integers(0, 3, n)
    cycles = (
        rng.uniform(1 / 20, 1 / 8, n) * np.arange(WAVE_STEPS)[:, None]
    )  # (L, n)
    phase = (cycles + rng.uniform(0, 1, n)) % 1.0
    sine = np.sin(2 * np.pi * phase)
    square = np.where(phase < 0.5, 1.0, -1.0)
    triangle = 4 * np.abs(phase - 0.5) - 1
    shapes = np.stack([sine, square, triangle])  # (3, L, n)
    x = shapes[label, :, np.arange(n)].T + rng.normal(0, 0.2, (WAVE_STEPS, n))
    return x[:, :, None].astype(np.float32), label


class LastStepClassifier:
    """A recurrent layer, then a linear readout of its last output."""

    def __init__(self, layer, classes, seed):
        self.layer = layer
        bound = 1 / np.sqrt(layer.hidden_size)
        rng = np.random.default_rng(seed)
        shape = (classes, layer.hidden_size)
        self.head = {
            "head.weight": rng.uniform(-bound, bound, shape).astype(np.float32),
            "head.bias": rng.uniform(-bound, bound, classes).astype(np.float32),
        }

    def state_dict(self):
        head = {k: v.copy() for k, v in self.head.items()}
        return self.layer.state_dict() | head

    def load_state_dict(self, state):
        self.layer.load_state_dict(
            {k: v for k, v in state.items() if k not in self.head}
        )
        self.head = {k: np.array(state[k]) for k in self.head}

    def __call__(self, x):
        self.output, _ = self.layer(x)  # (L, N, H)
        w, b = self.head["head.weight"], self.head["head.bias"]
        return self.output[-1] @ w.T + b  # (N, classes)

    def backward(self, grad_logits):
        grad_output = np.zeros_like(self.output)
        grad_output[-1] = grad_logits @ self.head["head.weight"]
        grads = self.layer.backward(grad_output)
        return grads | {
            "head.weight": grad_logits.T @ self.output[-1],
            "head.bias": grad_logits.sum(axis=0),
        }


def train_waves(model, updates, seed=0, batch=32, lr=0.01):
    """Adam on fresh batches; returns the loss of every update."""
    rng = np.random.default_rng(seed)
    optimizer = rnn.Adam(model, lr=lr)
    losses = []
    for _ in range(updates):
        x, label = waves(rng, batch)
        loss, grad = rnn.cross_entropy(model(x), label)
        grads, _ = rnn.clip_grad_norm(model.backward(grad), max_norm=1.0)
        optimizer.step(grads)
        losses.append(loss)
    return losses


def waves_accuracy(model, n=1000, seed=1):
    x, label = waves(np.random.default_rng(seed), n)
    return float(np.mean(model(x).argmax(axis=1) == label))
