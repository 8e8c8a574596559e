"""ONNX GRU/LSTM weights to rnn's state_dict, and the ONNX equations in numpy.

One ONNX GRU or LSTM node is one layer: W [D, G*H, I], R [D, G*H, H],
B [D, 2*G*H] (the input biases Wb, then the recurrent biases Rb).
Direction 0 is forward, 1 reverse.
"""

import numpy as np

# Block k of PyTorch's stacking is block ORDER[k] of ONNX's.
ONNX_GRU_ORDER = [1, 0, 2]  # PyTorch r, z, n  <-  ONNX z, r, h
ONNX_LSTM_ORDER = [0, 2, 3, 1]  # PyTorch i, f, g, o  <-  ONNX i, o, f, c


def reorder_gates(a, order):
    """Restack the gate blocks along axis 0: block k of the result is
    block order[k] of a."""
    blocks = np.split(a, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def onnx_to_state_dict(W, R, B, order, layer=0):
    """The state_dict entries of layer `layer` from one ONNX node's W, R, B."""
    state = {}
    for d in range(W.shape[0]):
        suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
        w_b, r_b = np.split(B[d], 2)  # B[d] = Wb || Rb
        state["weight_ih" + suffix] = reorder_gates(W[d], order)
        state["weight_hh" + suffix] = reorder_gates(R[d], order)
        state["bias_ih" + suffix] = reorder_gates(w_b, order)
        state["bias_hh" + suffix] = reorder_gates(r_b, order)
    return state


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def onnx_gru(X, W, R, B, initial_h):
    """ONNX GRU, linear_before_reset=1, layout=0.

    X [T, N, I] -> Y [T, D, N, H], Y_h [D, N, H].
    """
    T, N = X.shape[:2]
    D, H = R.shape[0], R.shape[2]
    Y, Y_h = np.zeros((T, D, N, H)), np.zeros((D, N, H))
    for d in range(D):
        Wz, Wr, Wh = np.split(W[d], 3)
        Rz, Rr, Rh = np.split(R[d], 3)
        Wbz, Wbr, Wbh, Rbz, Rbr, Rbh = np.split(B[d], 6)
        h = initial_h[d]
        for t in range(T - 1, -1, -1) if d == 1 else range(T):
            x = X[t]
            z = sigmoid(x @ Wz.T + h @ Rz.T + Wbz + Rbz)
            r = sigmoid(x @ Wr.T + h @ Rr.T + Wbr + Rbr)
            h_tilde = np.tanh(x @ Wh.T + r * (h @ Rh.T + Rbh) + Wbh)
            h = (1 - z) * h_tilde + z * h
            Y[t, d] = h
        Y_h[d] = h
    return Y, Y_h


def onnx_lstm(X, W, R, B, initial_h, initial_c):
    """ONNX LSTM without peepholes, layout=0.

    Returns Y [T, D, N, H], Y_h and Y_c [D, N, H].
    """
    T, N = X.shape[:2]
    D, H = R.shape[0], R.shape[2]
    Y = np.zeros((T, D, N, H))
    Y_h, Y_c = np.zeros((D, N, H)), np.zeros((D, N, H))
    for d in range(D):
        Wi, Wo, Wf, Wc = np.split(W[d], 4)
        Ri, Ro, Rf, Rc = np.split(R[d], 4)
        Wbi, Wbo, Wbf, Wbc, Rbi, Rbo, Rbf, Rbc = np.split(B[d], 8)
        h, c = initial_h[d], initial_c[d]
        for t in range(T - 1, -1, -1) if d == 1 else range(T):
            x = X[t]
            i = sigmoid(x @ Wi.T + h @ Ri.T + Wbi + Rbi)
            f = sigmoid(x @ Wf.T + h @ Rf.T + Wbf + Rbf)
            c_tilde = np.tanh(x @ Wc.T + h @ Rc.T + Wbc + Rbc)
            c = f * c + i * c_tilde
            o = sigmoid(x @ Wo.T + h @ Ro.T + Wbo + Rbo)
            h = o * np.tanh(c)
            Y[t, d] = h
        Y_h[d], Y_c[d] = h, c
    return Y, Y_h, Y_c
