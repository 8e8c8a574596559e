"""Many-to-many: tag each step of a symbol stream "same as two steps ago?"."""

import numpy as np
import rnn

STREAM_STEPS, SYMBOLS, BACK = 20, 4, 2


def two_back(rng, n):
    """One-hot inputs (L, n, SYMBOLS) and tags (L, n): 1 if x_t == x_{t-2}."""
    symbols = rng.integers(0, SYMBOLS, (STREAM_STEPS, n))
    tags = np.zeros((STREAM_STEPS, n), dtype=np.int64)
    tags[BACK:] = symbols[BACK:] == symbols[:-BACK]
    return np.eye(SYMBOLS, dtype=np.float32)[symbols], tags


class StepTagger:
    """A recurrent layer, then the same linear readout at every step."""

    def __init__(self, layer, classes, seed):
        self.layer = layer
        width = layer.hidden_size * (2 if layer.bidirectional else 1)
        bound = 1 / np.sqrt(width)
        rng = np.random.default_rng(seed)
        shape = (classes, width)
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
        return self.output @ w.T + b  # (L, N, classes)

    def backward(self, grad_logits):  # (L, N, classes)
        grads = self.layer.backward(grad_logits @ self.head["head.weight"])
        return grads | {
            "head.weight": np.einsum("tnc,tnh->ch", grad_logits, self.output),
            "head.bias": grad_logits.sum(axis=(0, 1)),
        }


def train_tagger(model, updates, seed=0, batch=32, lr=0.01):
    """Adam on fresh batches, every step scored; returns the losses."""
    rng = np.random.default_rng(seed)
    optimizer = rnn.Adam(model, lr=lr)
    losses = []
    for _ in range(updates):
        x, tags = two_back(rng, batch)
        logits = model(x)
        loss, grad = rnn.cross_entropy(logits.reshape(-1, 2), tags.reshape(-1))
        grads = model.backward(grad.reshape(logits.shape))
        grads, _ = rnn.clip_grad_norm(grads, max_norm=1.0)
        optimizer.step(grads)
        losses.append(loss)
    return losses


def tagger_accuracy(model, n=1000, seed=1):
    """The fraction of correct tags on the steps that have a step two before."""
    x, tags = two_back(np.random.default_rng(seed), n)
    predicted = model(x).argmax(axis=-1)
    return float(np.mean(predicted[BACK:] == tags[BACK:]))
