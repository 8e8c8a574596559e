"""Keras GRU/LSTM weights to rnn's state_dict, and the Keras equations in numpy.

Keras stores kernel (I, G*units) and recurrent_kernel (units, G*units), transposed with
respect to PyTorch, and runs batch-major input (N, T, I).
"""

import numpy as np

KERAS_GRU_ORDER = [1, 0, 2]  # PyTorch r, z, n  <-  Keras z, r, h
KERAS_LSTM_ORDER = [0, 1, 2, 3]  # PyTorch i, f, g, o  <-  Keras i, f, c, o (the same)


def reorder_gates(a, order):
    """Restack the gate blocks along axis 0: block k of the result is block order[k] of a."""
    blocks = np.split(a, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def keras_gru_to_state_dict(kernel, recurrent_kernel, bias, layer=0):
    """A Keras GRU(reset_after=True): bias has shape (2, 3*units), [input bias, recurrent bias]."""
    s = f"_l{layer}"
    return {
        "weight_ih" + s: reorder_gates(kernel.T, KERAS_GRU_ORDER),
        "weight_hh" + s: reorder_gates(recurrent_kernel.T, KERAS_GRU_ORDER),
        "bias_ih" + s: reorder_gates(bias[0], KERAS_GRU_ORDER),
        "bias_hh" + s: reorder_gates(bias[1], KERAS_GRU_ORDER),
    }


def keras_lstm_to_state_dict(kernel, recurrent_kernel, bias, layer=0):
    """A Keras LSTM: one bias of shape (4*units,); PyTorch's second bias is then zero."""
    s = f"_l{layer}"
    return {
        "weight_ih" + s: reorder_gates(kernel.T, KERAS_LSTM_ORDER),
        "weight_hh" + s: reorder_gates(recurrent_kernel.T, KERAS_LSTM_ORDER),
        "bias_ih" + s: reorder_gates(bias, KERAS_LSTM_ORDER),
        "bias_hh" + s: np.zeros_like(bias),
    }


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def keras_gru(inputs, kernel, recurrent_kernel, bias, h):
    """Keras GRU, reset_after=True: inputs (N, T, I), h (N, units) -> outputs (N, T, units)."""
    outputs = []
    for t in range(inputs.shape[1]):
        x_z, x_r, x_h = np.split(inputs[:, t] @ kernel + bias[0], 3, axis=-1)
        h_z, h_r, h_h = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
        z = sigmoid(x_z + h_z)
        r = sigmoid(x_r + h_r)
        hh = np.tanh(x_h + r * h_h)
        h = z * h + (1 - z) * hh
        outputs.append(h)
    return np.stack(outputs, axis=1)


def keras_lstm(inputs, kernel, recurrent_kernel, bias, h, c):
    """Keras LSTM: inputs (N, T, I), h and c (N, units) -> outputs (N, T, units), c."""
    outputs = []
    for t in range(inputs.shape[1]):
        a = inputs[:, t] @ kernel + h @ recurrent_kernel + bias
        a_i, a_f, a_c, a_o = np.split(a, 4, axis=-1)
        i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)
        c = f * c + i * np.tanh(a_c)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), c
