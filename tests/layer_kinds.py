"""The five layer kinds the tests run over, and how to build each."""

from __future__ import annotations

from typing import Any

import rnn

KINDS = ["rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj"]


def make(kind: str, input_size: int, hidden_size: int, **kwargs: Any) -> Any:
    """A layer of `kind`; ``lstm_proj`` projects to ``hidden_size // 2`` (hidden_size >= 2)."""
    if kind.startswith("rnn_"):
        return rnn.RNN(input_size, hidden_size, nonlinearity=kind[4:], **kwargs)
    if kind == "gru":
        return rnn.GRU(input_size, hidden_size, **kwargs)
    proj = hidden_size // 2 if kind == "lstm_proj" else 0
    return rnn.LSTM(input_size, hidden_size, proj_size=proj, **kwargs)
