"""Encoder-decoder: read 5 digits, then write them in reverse order."""

import numpy as np
import rnn

LENGTH, DIGITS = 5, 8  # sequence length, vocabulary 0..7
START = DIGITS  # the decoder's first input, a token of its own


def reversal(rng, n):
    """Source digits (L, n) and their reverse, the target (L, n)."""
    source = rng.integers(0, DIGITS, (LENGTH, n))
    return source, source[::-1].copy()


def one_hot(tokens, size):
    return np.eye(size, dtype=np.float32)[tokens]


def prefixed(tensors, prefix):
    return {
        f"{prefix}.{k}": v
        for k, v in tensors.items()
        if k not in ("input", "h0", "c0")
    }  # parameters only


class Seq2Seq:
    """An encoder GRU whose final state starts a decoder GRU, and a readout."""

    def __init__(self, cell, hidden, seed):
        self.encoder = cell(DIGITS, hidden, seed=seed)
        self.decoder = cell(DIGITS + 1, hidden, seed=seed + 1)
        bound = 1 / np.sqrt(hidden)
        rng = np.random.default_rng(seed)
        self.head = {
            "head.weight": rng.uniform(-bound, bound, (DIGITS, hidden)),
            "head.bias": rng.uniform(-bound, bound, DIGITS),
        }
        self.head = {k: v.astype(np.float32) for k, v in self.head.items()}

    def state_dict(self):
        return (
            prefixed(self.encoder.state_dict(), "encoder")
            | prefixed(self.decoder.state_dict(), "decoder")
            | {k: v.copy() for k, v in self.head.items()}
        )

    def load_state_dict(self, state):
        for name in ["encoder", "decoder"]:
            part = {
                k.split(".", 1)[1]: v
                for k, v in state.items()
                if k.startswith(name + ".")
            }
            getattr(self, name).load_state_dict(part)
        self.head = {k: np.array(state[k]) for k in self.head}

    def readout(self, states):
        return states @ self.head["head.weight"].T + self.head["head.bias"]

    def __call__(self, source, target):
        """Teacher forcing: the decoder reads the true previous digit."""
        _, state = self.encoder(one_hot(source, DIGITS))
        previous = np.concatenate(
            [np.full((1, source.shape[1]), START), target[:-1]]
        )
        self.states, _ = self.decoder(one_hot(previous, DIGITS + 1), state)
        return self.readout(self.states)  # (L, N, DIGITS)

    def backward(self, grad_logits):
        grad_dec = self.decoder.backward(grad_logits @ self.head["head.weight"])
        # The decoder's initial state was the encoder's final one.
        if isinstance(self.encoder, rnn.LSTM):
            grad_enc = self.encoder.backward(
                None, (grad_dec["h0"], grad_dec["c0"])
            )
        else:
            grad_enc = self.encoder.backward(None, grad_dec["h0"])
        return (
            prefixed(grad_enc, "encoder")
            | prefixed(grad_dec, "decoder")
            | {
                "head.weight": np.einsum(
                    "tnd,tnh->dh", grad_logits, self.states
                ),
                "head.bias": grad_logits.sum(axis=(0, 1)),
            }
        )

    def generate(self, source):
        """Greedy decoding: each step reads the digit the model just wrote."""
        _, state = self.encoder(one_hot(source, DIGITS))
        token = np.full(source.shape[1], START)
        written = []
        for _ in range(LENGTH):
            step, state = self.decoder(one_hot(token, DIGITS + 1)[None], state)
            token = self.readout(step[0]).argmax(axis=1)
            written.append(token)
        return np.stack(written)  # (L, N)


def train_seq2seq(model, updates, seed=0, batch=32, lr=0.01):
    rng = np.random.default_rng(seed)
    optimizer = rnn.Adam(model, lr=lr)
    losses = []
    for _ in range(updates):
        source, target = reversal(rng, batch)
        logits = model(source, target)
        loss, grad = rnn.cross_entropy(
            logits.reshape(-1, DIGITS), target.reshape(-1)
        )
        grads = model.backward(grad.reshape(logits.shape))
        grads, _ = rnn.clip_grad_norm(grads, max_norm=1.0)
        optimizer.step(grads)
        losses.append(loss)
    return losses


def seq2seq_accuracy(model, n=1000, seed=1):
    """Per digit and per whole sequence, with greedy decoding."""
    source, target = reversal(np.random.default_rng(seed), n)
    correct = model.generate(source) == target
    return float(correct.mean()), float(correct.all(axis=0).mean())
