"""Recurrent neural networks in plain numpy: Elman RNN, GRU and LSTM equal to PyTorch's.

Layers `RNN`, `GRU`, `LSTM` and cells `RNNCell`, `GRUCell`, `LSTMCell` store their
parameters under PyTorch's names and shapes, so a ``state_dict`` moves across unchanged,
and compute their backward pass (backpropagation through time) by hand.
"""

from rnn._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnn._dask import dask_forward
from rnn._threads import get_num_threads, set_num_threads
from rnn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnn.interop import from_keras, from_onnx, from_torch, to_keras, to_onnx, to_torch
from rnn.io import load, save
from rnn.layers import GRU, LSTM, RNN
from rnn.losses import cross_entropy, mse_loss
from rnn.optim import SGD, Adam, clip_grad_norm
from rnn.sequences import pad_sequence, unpad_sequence
from rnn.training import chunks, progress, truncated_bptt

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SGD",
    "Adam",
    "Checkpoint",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "chunks",
    "clip_grad_norm",
    "cross_entropy",
    "dask_forward",
    "from_keras",
    "from_onnx",
    "from_torch",
    "get_num_threads",
    "load",
    "load_checkpoint",
    "mse_loss",
    "pad_sequence",
    "progress",
    "save",
    "save_checkpoint",
    "set_num_threads",
    "to_keras",
    "to_onnx",
    "to_torch",
    "truncated_bptt",
    "unpad_sequence",
]
__version__ = "0.1.0"
