"""Recurrent neural networks in plain numpy: Elman RNN, GRU and LSTM equal to PyTorch's.

Layers `RNN`, `GRU`, `LSTM` and cells `RNNCell`, `GRUCell`, `LSTMCell` store their
parameters under PyTorch's names and shapes, so a ``state_dict`` moves across unchanged,
and compute their backward pass (backpropagation through time) by hand.
"""

from rnn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnn.io import load, save
from rnn.layers import GRU, LSTM, RNN
from rnn.sequences import pad_sequence, unpad_sequence

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "load",
    "pad_sequence",
    "save",
    "unpad_sequence",
]
__version__ = "0.1.0"
