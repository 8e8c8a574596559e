"""A character-level language model on Python's own help texts."""

from pydoc_data.topics import topics

import numpy as np
import rnn

# 96 symbols: newline and printable ASCII; anything else is read as "?".
VOCAB = "\n" + "".join(chr(i) for i in range(32, 127))
INDEX = {ch: i for i, ch in enumerate(VOCAB)}


def encode(text):
    unknown = INDEX["?"]
    return np.array([INDEX.get(ch, unknown) for ch in text], dtype=np.int64)


def decode(codes):
    return "".join(VOCAB[c] for c in codes)


def help_texts():
    """The help topics that ship with Python: (train, held-out) codes."""
    codes = encode("\n".join(topics[name] for name in sorted(topics)))
    cut = int(0.9 * len(codes))
    return codes[:cut], codes[cut:]


class CharModel:
    """A GRU over one-hot characters, and a readout to next-character scores."""

    def __init__(self, hidden, seed):
        self.layer = rnn.GRU(len(VOCAB), hidden, seed=seed)
        bound = 1 / np.sqrt(hidden)
        rng = np.random.default_rng(seed)
        shape = (len(VOCAB), hidden)
        self.head = {
            "head.weight": rng.uniform(-bound, bound, shape).astype(np.float32),
            "head.bias": np.zeros(len(VOCAB), dtype=np.float32),
        }

    def state_dict(self):
        head = {k: v.copy() for k, v in self.head.items()}
        return self.layer.state_dict() | head

    def load_state_dict(self, state):
        self.layer.load_state_dict(
            {k: v for k, v in state.items() if k not in self.head}
        )
        self.head = {k: np.array(state[k]) for k in self.head}

    def __call__(self, codes, state=None):
        """Scores (L, N, V) for the character after each of codes (L, N)."""
        x = np.eye(len(VOCAB), dtype=np.float32)[codes]
        self.output, state = self.layer(x, state)
        w, b = self.head["head.weight"], self.head["head.bias"]
        return self.output @ w.T + b, state

    def backward(self, grad_logits):
        grads = self.layer.backward(grad_logits @ self.head["head.weight"])
        return grads | {
            "head.weight": np.einsum("lnv,lnh->vh", grad_logits, self.output),
            "head.bias": grad_logits.sum(axis=(0, 1)),
        }


def windows(rng, codes, n, steps):
    """n random windows of steps + 1 characters, as (steps + 1, n) codes."""
    start = rng.integers(0, len(codes) - steps - 1, n)
    return codes[start + np.arange(steps + 1)[:, None]]


def train_chars(model, optimizer, codes, updates, rng, n=32, steps=64):
    """Predict each next character of random windows; returns the losses."""
    losses = []
    for _ in range(updates):
        chunk = windows(rng, codes, n, steps)
        logits, _ = model(chunk[:-1])
        loss, grad = rnn.cross_entropy(
            logits.reshape(-1, len(VOCAB)), chunk[1:].reshape(-1)
        )
        grads = model.backward(grad.reshape(logits.shape))
        grads, _ = rnn.clip_grad_norm(grads, max_norm=1.0)
        optimizer.step(grads)
        losses.append(loss)
    return losses


def sample(model, prompt, length, rng, temperature=0.7):
    """Continue prompt by drawing one character at a time."""
    logits, state = model(encode(prompt)[:, None])
    out = []
    for _ in range(length):
        z = logits[-1, 0].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        code = rng.choice(len(VOCAB), p=p / p.sum())
        out.append(code)
        logits, state = model(np.array([[code]]), state)
    return prompt + decode(out)


def bits_per_char(model, codes, rows=5):
    """Average -log2 p(next char) over codes, read as rows parallel streams."""
    steps = (len(codes) - 1) // rows
    chunk = codes[: rows * steps + 1]
    x = chunk[:-1].reshape(rows, steps).T  # (steps, rows)
    y = chunk[1:].reshape(rows, steps).T
    logits, _ = model(x)
    loss, _ = rnn.cross_entropy(logits.reshape(-1, len(VOCAB)), y.reshape(-1))
    return loss / np.log(2)


def ngram_bits(train, test, order, k=0.05):
    """Bits per character of test under add-k counts of order-grams in train.

    p(c | the order - 1 characters before it) = (count + k) / (context + k V).
    """
    V = len(VOCAB)

    def keys(codes):  # each (context, next) as one base-V integer
        n = len(codes) - order + 1
        key = np.zeros(n, dtype=np.int64)
        for j in range(order):
            key = key * V + codes[j : j + n]
        return key

    def count(sorted_keys, queries):
        right = np.searchsorted(sorted_keys, queries, "right")
        return right - np.searchsorted(sorted_keys, queries, "left")

    train_keys, test_keys = keys(train), keys(test)
    seen = count(np.sort(train_keys), test_keys)
    contexts = count(np.sort(train_keys // V), test_keys // V)
    return float(-np.mean(np.log2((seen + k) / (contexts + k * V))))
