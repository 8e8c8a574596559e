r"""The recurrent cells: one time step of the Elman RNN, the GRU and the LSTM.

A step splits into two halves. The *input projection* $x_t W_{ih}^\top + b$ does not
depend on the state, so the recurrence driver (`rnn.recurrence`) computes it for every
time step at once with one matrix product. What is left, the *recurrent half*, is what a
cell defines here: given the projected input ``g`` of one step and the previous state, it
writes the new state. Its backward pass does the reverse for one step.

Every cell works on rows of a batch, ``(n, ...)``, and writes into arrays it is handed, so
the driver can lay all time steps out in preallocated buffers and run the loop without
allocating. Shapes use ``n`` for the active rows, ``H`` for ``hidden_size``, ``P`` for
the size of the emitted state (``proj_size`` or ``H``) and ``G`` for the number of gates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn._types import Array


@dataclass(frozen=True)
class DirectionWeights:
    """The weights the recurrent half of one layer-direction uses.

    Attributes
    ----------
    w_hh : ndarray, shape (G*H, P)
        ``weight_hh`` as PyTorch stores it (used by the backward pass).
    w_hh_t : ndarray, shape (P, G*H)
        Its transpose, C-contiguous, for the forward product ``h @ w_hh_t``.
    b_h : ndarray of shape (H,), or None
        The part of ``bias_hh`` that must stay inside the recurrence (GRU's $b_{hn}$).
    w_hr : ndarray of shape (P, H), or None
        LSTM's projection ``weight_hr``.
    w_hr_t : ndarray of shape (H, P), or None
        Its transpose, C-contiguous.
    """

    w_hh: Array
    w_hh_t: Array
    b_h: Array | None = None
    w_hr: Array | None = None
    w_hr_t: Array | None = None


@dataclass
class HiddenGrads:
    """Gradients a cell accumulates over the steps of one layer-direction.

    Attributes
    ----------
    w_hh : ndarray, shape (G*H, P)
    b_h : ndarray of shape (H,), or None
        Gradient of the in-loop bias (GRU's $b_{hn}$).
    w_hr : ndarray of shape (P, H), or None
    """

    w_hh: Array
    b_h: Array | None = None
    w_hr: Array | None = None


# 0-d arrays of each dtype: numpy applies them faster than a Python float (no conversion).
_HALF = {np.dtype(t): np.array(0.5, t) for t in (np.float32, np.float64)}


def _sigmoid_from_tanh(t: Array) -> None:
    """Turn ``t = tanh(a / 2)`` into ``sigmoid(a) = (1 + t) / 2``, in place."""
    half = _HALF[t.dtype]
    t *= half
    t += half


def _relu(x: Array, out: Array) -> None:
    np.maximum(x, 0, out=out)


class Cell:
    r"""The recurrent half of one time step (an interface; see the subclasses).

    Attributes
    ----------
    name : str
        The name PyTorch uses for the model (``"RNN"``, ``"GRU"``, ``"LSTM"``).
    gates : int
        G, the number of stacked gate blocks in ``weight_ih`` and ``weight_hh``.
    states : int
        1 for a state ``h``, 2 for LSTM's ``(h, c)``.
    gate_order : tuple of int
        The gate blocks as the cell lays them out, numbered in PyTorch's order: LSTM's
        ``(0, 1, 3, 2)`` puts ``o`` before ``g`` so the sigmoid gates are adjacent.
    sigmoid_gates : int
        How many leading blocks (in `gate_order`) are sigmoid gates. Their rows of the
        forward weights and biases are pre-scaled by 1/2, so that
        $\sigma(a) = (1 + \tanh(a/2))/2$ costs one ``tanh`` shared with the tanh gates
        and two in-place operations. Scaling by 1/2 is exact in floating point.
    """

    name = ""
    gates = 1
    states = 1
    gate_order: tuple[int, ...] = (0,)
    sigmoid_gates = 0

    def split_bias(self, b_ih: Array, b_hh: Array) -> tuple[Array, Array | None]:
        """Fold the biases: what joins the input projection, what stays in the loop.

        Parameters
        ----------
        b_ih, b_hh : ndarray, shape (G*H,)

        Returns
        -------
        b_x : ndarray, shape (G*H,)
            Added once to the input projection of every step.
        b_h : ndarray or None
            Kept inside the recurrence.
        """
        return b_ih + b_hh, None

    def merge_bias_grads(self, db_x: Array, db_h: Array | None) -> tuple[Array, Array]:
        """Undo `split_bias` for the gradients: return ``(d bias_ih, d bias_hh)``."""
        return db_x, db_x.copy()

    def extra_width(self, hidden_size: int, proj_size: int) -> int:
        """Width of the per-step values the backward pass needs beyond the state (0 if none)."""
        return 0

    def forward(
        self,
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        w: DirectionWeights,
        work: Array,
        extra: Array,
    ) -> None:
        """Write the new state of one step.

        Parameters
        ----------
        g : ndarray, shape (n, G*H)
            The input projection of this step, biases folded in, gates laid out in
            `gate_order` with the sigmoid gates' pre-activations halved. Overwritten
            with the gate activations, which the backward pass reads.
        prev : tuple of ndarray
            The previous state, ``(h,)`` with h of shape (n, P), or LSTM's ``(h, c)``.
        new : tuple of ndarray
            Where to write the new state, shaped like `prev`.
        w : DirectionWeights
        work : ndarray, shape (n, G*H)
            Scratch space.
        extra : ndarray, shape (n, extra_width)
            Where to keep values the backward pass needs.
        """
        raise NotImplementedError

    def backward(
        self,
        d_state: tuple[Array, ...],
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        extra: Array,
        w: DirectionWeights,
        d_g: Array,
        grads: HiddenGrads,
    ) -> None:
        """Backpropagate through one step.

        Parameters
        ----------
        d_state : tuple of ndarray
            On entry the gradient of the loss with respect to the new state; on exit,
            with respect to the previous state (updated in place).
        g, prev, new, extra, w
            What `forward` read and wrote for this step.
        d_g : ndarray, shape (n, G*H)
            Where to write the gradient with respect to the (unscaled) pre-activations,
            in `gate_order`.
        grads : HiddenGrads
            Accumulates the gradients of the recurrent weights.
        """
        raise NotImplementedError


class ElmanCell(Cell):
    r"""The Elman cell, $h_t = \phi(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})$.

    Parameters
    ----------
    nonlinearity : {"tanh", "relu"}
        $\phi$.
    """

    name = "RNN"

    def __init__(self, nonlinearity: str = "tanh") -> None:
        self.nonlinearity = nonlinearity
        self._act = np.tanh if nonlinearity == "tanh" else _relu

    def forward(
        self,
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        w: DirectionWeights,
        work: Array,
        extra: Array,
    ) -> None:
        np.dot(prev[0], w.w_hh_t, out=work)
        np.add(work, g, out=new[0])
        self._act(new[0], out=new[0])

    def backward(
        self,
        d_state: tuple[Array, ...],
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        extra: Array,
        w: DirectionWeights,
        d_g: Array,
        grads: HiddenGrads,
    ) -> None:
        (dh,) = d_state
        (h,) = new
        if self.nonlinearity == "tanh":
            np.multiply(h, h, out=d_g)
            np.subtract(1, d_g, out=d_g)
            d_g *= dh
        else:
            np.multiply(dh, h > 0, out=d_g)
        grads.w_hh += d_g.T @ prev[0]
        np.dot(d_g, w.w_hh, out=dh)


class GRUCell(Cell):
    r"""The GRU cell, with PyTorch's gate order ``r | z | n``.

    $$
    \begin{aligned}
    r &= \sigma(x W_{ir}^\top + b_{ir} + h W_{hr}^\top + b_{hr}) \\
    z &= \sigma(x W_{iz}^\top + b_{iz} + h W_{hz}^\top + b_{hz}) \\
    n &= \tanh(x W_{in}^\top + b_{in} + r \odot (h W_{hn}^\top + b_{hn})) \\
    h' &= (1 - z) \odot n + z \odot h
    \end{aligned}
    $$

    The reset gate multiplies the hidden product *after* the matrix product
    (ONNX's ``linear_before_reset=1``), so $b_{hn}$ cannot be folded into the input
    projection; it stays in the loop, and ``extra`` keeps $h W_{hn}^\top + b_{hn}$.
    """

    name = "GRU"
    gates = 3
    gate_order = (0, 1, 2)
    sigmoid_gates = 2

    def split_bias(self, b_ih: Array, b_hh: Array) -> tuple[Array, Array | None]:
        hidden = b_hh.shape[0] // 3
        b_x = b_ih.copy()
        b_x[: 2 * hidden] += b_hh[: 2 * hidden]
        return b_x, b_hh[2 * hidden :].copy()

    def merge_bias_grads(self, db_x: Array, db_h: Array | None) -> tuple[Array, Array]:
        assert db_h is not None
        hidden = db_h.shape[0]
        return db_x, np.concatenate([db_x[: 2 * hidden], db_h])

    def extra_width(self, hidden_size: int, proj_size: int) -> int:
        return hidden_size

    def forward(
        self,
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        w: DirectionWeights,
        work: Array,
        extra: Array,
    ) -> None:
        (h_prev,), (h,) = prev, new
        hidden = extra.shape[1]
        np.dot(h_prev, w.w_hh_t, out=work)
        rz = g[:, : 2 * hidden]
        rz += work[:, : 2 * hidden]
        np.tanh(rz, out=rz)
        _sigmoid_from_tanh(rz)
        r, z, n = g[:, :hidden], g[:, hidden : 2 * hidden], g[:, 2 * hidden :]
        hn = extra
        if w.b_h is None:
            hn[...] = work[:, 2 * hidden :]
        else:
            np.add(work[:, 2 * hidden :], w.b_h, out=hn)
        np.multiply(r, hn, out=work[:, :hidden])
        n += work[:, :hidden]
        np.tanh(n, out=n)
        np.subtract(h_prev, n, out=h)
        h *= z
        h += n

    def backward(
        self,
        d_state: tuple[Array, ...],
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        extra: Array,
        w: DirectionWeights,
        d_g: Array,
        grads: HiddenGrads,
    ) -> None:
        (dh,), (h_prev,) = d_state, prev
        hidden = extra.shape[1]
        r, z, n = g[:, :hidden], g[:, hidden : 2 * hidden], g[:, 2 * hidden :]
        dr, dz, dn = d_g[:, :hidden], d_g[:, hidden : 2 * hidden], d_g[:, 2 * hidden :]
        np.subtract(h_prev, n, out=dz)
        dz *= dh
        dz *= z * (1 - z)
        np.multiply(dh, 1 - z, out=dn)
        dn *= 1 - n * n
        np.multiply(dn, extra, out=dr)
        dr *= r * (1 - r)
        d_hidden = d_g.copy()  # (n, 3H): the gradient of h W_hh^T + [b_hr, b_hz, b_hn]
        d_hidden[:, 2 * hidden :] *= r
        grads.w_hh += d_hidden.T @ h_prev
        if grads.b_h is not None:
            grads.b_h += d_hidden[:, 2 * hidden :].sum(axis=0)
        dh *= z
        dh += d_hidden @ w.w_hh


class LSTMCell(Cell):
    r"""The LSTM cell, with PyTorch's gate order ``i | f | g | o``.

    $$
    \begin{aligned}
    i &= \sigma(x W_{ii}^\top + b_{ii} + h W_{hi}^\top + b_{hi}) &
    f &= \sigma(x W_{if}^\top + b_{if} + h W_{hf}^\top + b_{hf}) \\
    g &= \tanh(x W_{ig}^\top + b_{ig} + h W_{hg}^\top + b_{hg}) &
    o &= \sigma(x W_{io}^\top + b_{io} + h W_{ho}^\top + b_{ho}) \\
    c' &= f \odot c + i \odot g &
    h' &= (o \odot \tanh c') \, W_{hr}^\top
    \end{aligned}
    $$

    Without a projection ($W_{hr}$ absent) $h' = o \odot \tanh c'$. With one, ``extra``
    keeps $o \odot \tanh c'$ for the backward pass. Inside the step the gates are laid
    out ``i | f | o | g``.
    """

    name = "LSTM"
    gates = 4
    states = 2
    gate_order = (0, 1, 3, 2)
    sigmoid_gates = 3

    def extra_width(self, hidden_size: int, proj_size: int) -> int:
        return hidden_size if proj_size else 0

    def forward(
        self,
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        w: DirectionWeights,
        work: Array,
        extra: Array,
    ) -> None:
        (h_prev, c_prev), (h, c) = prev, new
        hidden = c.shape[1]
        np.dot(h_prev, w.w_hh_t, out=work)
        g += work
        np.tanh(g, out=g)
        _sigmoid_from_tanh(g[:, : 3 * hidden])
        i, f = g[:, :hidden], g[:, hidden : 2 * hidden]
        o, cand = g[:, 2 * hidden : 3 * hidden], g[:, 3 * hidden :]
        np.multiply(f, c_prev, out=c)
        np.multiply(i, cand, out=work[:, :hidden])
        c += work[:, :hidden]
        m = h if w.w_hr_t is None else extra
        np.tanh(c, out=m)
        m *= o
        if w.w_hr_t is not None:
            np.matmul(m, w.w_hr_t, out=h)

    def backward(
        self,
        d_state: tuple[Array, ...],
        g: Array,
        prev: tuple[Array, ...],
        new: tuple[Array, ...],
        extra: Array,
        w: DirectionWeights,
        d_g: Array,
        grads: HiddenGrads,
    ) -> None:
        (dh, dc), (h_prev, c_prev), (_, c) = d_state, prev, new
        hidden = c.shape[1]
        i, f = g[:, :hidden], g[:, hidden : 2 * hidden]
        o, cand = g[:, 2 * hidden : 3 * hidden], g[:, 3 * hidden :]
        di, df = d_g[:, :hidden], d_g[:, hidden : 2 * hidden]
        do, d_cand = d_g[:, 2 * hidden : 3 * hidden], d_g[:, 3 * hidden :]
        if w.w_hr is None:
            dm = dh
        else:
            assert grads.w_hr is not None
            grads.w_hr += dh.T @ extra
            dm = dh @ w.w_hr
        tanh_c = np.tanh(c)
        np.multiply(dm, tanh_c, out=do)
        do *= o * (1 - o)
        dc += dm * o * (1 - tanh_c * tanh_c)
        np.multiply(dc, cand, out=di)
        di *= i * (1 - i)
        np.multiply(dc, c_prev, out=df)
        df *= f * (1 - f)
        np.multiply(dc, i, out=d_cand)
        d_cand *= 1 - cand * cand
        dc *= f
        grads.w_hh += d_g.T @ h_prev
        np.dot(d_g, w.w_hh, out=dh)


def make_cell(mode: str) -> Cell:
    """The cell for a PyTorch mode name: ``RNN_TANH``, ``RNN_RELU``, ``GRU`` or ``LSTM``."""
    cells: dict[str, Cell] = {
        "RNN_TANH": ElmanCell("tanh"),
        "RNN_RELU": ElmanCell("relu"),
        "GRU": GRUCell(),
        "LSTM": LSTMCell(),
    }
    return cells[mode]
