"""Recurrent neural networks in plain numpy: Elman RNN, GRU and LSTM equal to PyTorch's.

Layers `RNN`, `GRU`, `LSTM` and cells `RNNCell`, `GRUCell`, `LSTMCell` store their
parameters under PyTorch's names and shapes, so a ``state_dict`` moves across unchanged,
and compute their backward pass (backpropagation through time) by hand.
"""

from rnn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnn.layers import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]
__version__ = "0.1.0"
