r"""One time step as a model: `RNNCell`, `GRUCell` and `LSTMCell`, equal to PyTorch's.

A cell runs the same core as the layers, over a sequence of length 1, so a layer equals
its cell unrolled. Shapes: ``N`` batch size, ``H_in`` input size, ``H`` hidden size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnn._types import Array
from rnn._validation import (
    check_flag,
    check_input,
    check_nonlinearity,
    check_pair,
    check_size,
    check_state,
)
from rnn.cells import make_cell
from rnn.module import Module
from rnn.parameters import Layout
from rnn.recurrence import Schedule

Seed = int | np.random.Generator | None


class Cell(Module):
    """The shared interface of `RNNCell`, `GRUCell` and `LSTMCell`; construct those instead.

    Parameters
    ----------
    mode : {"RNN_TANH", "RNN_RELU", "GRU", "LSTM"}
    input_size, hidden_size, bias
        As in the subclasses.
    dtype : numpy dtype
    seed : int, numpy.random.Generator or None
    """

    def __init__(
        self, mode: str, input_size: int, hidden_size: int, bias: bool, *, dtype: Any, seed: Seed
    ) -> None:
        layout = Layout(
            cell=make_cell(mode),
            input_size=check_size("input_size", input_size),
            hidden_size=check_size("hidden_size", hidden_size),
            bias=check_flag("bias", bias),
            single=True,
        )
        super().__init__(layout, dropout=0.0, dtype=dtype, seed=seed)

    def __repr__(self) -> str:
        extra = "" if self.bias else ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            extra += ", nonlinearity='relu'"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    def _step(self, input: Any, states: tuple[Any, ...] | None) -> tuple[Array, ...]:
        name = type(self).__name__
        x, batched = check_input(name, input, self.input_size, self.dtype, batched_ndim=2)
        x = x[None] if batched else x[None, None]
        batch = x.shape[1]
        shapes = [(batch, self.hidden_size)] * self._layout.cell.states
        if states is None:
            initial = tuple(np.zeros((1, *shape), self.dtype) for shape in shapes)
        else:
            initial = tuple(
                check_state(n, s, shape, batched, self.dtype)[None]
                for n, s, shape in zip(("hx", "cx"), states, shapes)
            )
        _, final = self._run(np.ascontiguousarray(x), initial, Schedule.build(1, batch, None))
        self._batched = batched
        return tuple(f[0] if batched else f[0, 0] for f in final)

    def _step_backward(self, grads: tuple[Any, ...]) -> dict[str, Array]:
        batch = self._recorded().layers[0].x.shape[1]
        widths = self._layout.state_sizes
        d_final = []
        for name, g, width in zip(("grad_h", "grad_c"), grads, widths):
            d = self._gradient(name, g, (batch, width) if self._batched else (width,))
            d_final.append(d[None] if self._batched else d[None, None])
        d_output = np.zeros((1, batch, widths[0]), self.dtype)
        d_x, d_initial, named = self._backprop(d_output, tuple(d_final))
        result = {"input": d_x[0] if self._batched else d_x[0, 0]}
        for name, d in zip(("hx", "cx"), d_initial):
            result[name] = d[0] if self._batched else d[0, 0]
        return result | named

    def __call__(self, input: Any, hx: Any = None) -> Array:
        """One step.

        Parameters
        ----------
        input : array_like, shape (N, H_in) or (H_in,)
        hx : array_like, shape (N, H) or (H,), optional
            The previous state; zeros if omitted.

        Returns
        -------
        ndarray, shape (N, H) or (H,)
            The new state.
        """
        (h,) = self._step(input, None if hx is None else (hx,))
        return h

    forward = __call__

    def backward(self, grad: Any = None) -> dict[str, Array]:
        r"""Backpropagate through the last training-mode step.

        Parameters
        ----------
        grad : array_like shaped like the new state, or None
            $\partial \mathcal{L} / \partial h'$; None means zero.

        Returns
        -------
        dict of str to ndarray
            ``"input"`` and ``"hx"``, shaped as passed in, and one entry per parameter,
            keyed and shaped as in `state_dict`.
        """
        return self._step_backward((grad,))


class RNNCell(Cell):
    r"""An Elman RNN cell, equal to ``torch.nn.RNNCell``.

    $$h' = \phi(x W_{ih}^\top + b_{ih} + h W_{hh}^\top + b_{hh})$$

    Parameters
    ----------
    input_size : int
        H_in.
    hidden_size : int
        H.
    bias : bool, default True
    nonlinearity : {"tanh", "relu"}, default "tanh"
        $\phi$.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
    seed : int, numpy.random.Generator or None, default None
        Seeds the draw of the parameters, $U(-1/\sqrt{H}, 1/\sqrt{H})$.

    Attributes
    ----------
    weight_ih : ndarray, shape (H, H_in)
    weight_hh : ndarray, shape (H, H)
    bias_ih, bias_hh : ndarray, shape (H,)

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> cell = rnn.RNNCell(10, 20, seed=0)
    >>> h = cell(np.ones((3, 10)))
    >>> h.shape
    (3, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
    ) -> None:
        self.nonlinearity = check_nonlinearity(nonlinearity)
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, bias, dtype=dtype, seed=seed)


class GRUCell(Cell):
    r"""A GRU cell, equal to ``torch.nn.GRUCell`` (gates ``r | z | n``).

    $$
    \begin{aligned}
    r &= \sigma(x W_{ir}^\top + b_{ir} + h W_{hr}^\top + b_{hr}) \\
    z &= \sigma(x W_{iz}^\top + b_{iz} + h W_{hz}^\top + b_{hz}) \\
    n &= \tanh(x W_{in}^\top + b_{in} + r \odot (h W_{hn}^\top + b_{hn})) \\
    h' &= (1 - z) \odot n + z \odot h
    \end{aligned}
    $$

    Parameters
    ----------
    input_size : int
        H_in.
    hidden_size : int
        H.
    bias : bool, default True
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
    seed : int, numpy.random.Generator or None, default None
        Seeds the draw of the parameters, $U(-1/\sqrt{H}, 1/\sqrt{H})$.

    Attributes
    ----------
    weight_ih : ndarray, shape (3*H, H_in)
    weight_hh : ndarray, shape (3*H, H)
    bias_ih, bias_hh : ndarray, shape (3*H,)

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> rnn.GRUCell(4, 6, seed=0)(np.ones(4)).shape
    (6,)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
    ) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, dtype=dtype, seed=seed)


class LSTMCell(Cell):
    r"""An LSTM cell, equal to ``torch.nn.LSTMCell`` (gates ``i | f | g | o``).

    $$
    \begin{aligned}
    (i, f, o) &= \sigma(x W_{i\cdot}^\top + b_{i\cdot} + h W_{h\cdot}^\top + b_{h\cdot}), &
    g &= \tanh(x W_{ig}^\top + b_{ig} + h W_{hg}^\top + b_{hg}) \\
    c' &= f \odot c + i \odot g, &
    h' &= o \odot \tanh c'
    \end{aligned}
    $$

    Parameters
    ----------
    input_size : int
        H_in.
    hidden_size : int
        H.
    bias : bool, default True
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
    seed : int, numpy.random.Generator or None, default None
        Seeds the draw of the parameters, $U(-1/\sqrt{H}, 1/\sqrt{H})$.

    Attributes
    ----------
    weight_ih : ndarray, shape (4*H, H_in)
    weight_hh : ndarray, shape (4*H, H)
    bias_ih, bias_hh : ndarray, shape (4*H,)

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> h, c = rnn.LSTMCell(4, 6, seed=0)(np.ones((2, 4)))
    >>> h.shape, c.shape
    ((2, 6), (2, 6))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
    ) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, dtype=dtype, seed=seed)

    def __call__(  # type: ignore[override]
        self, input: Any, hx: tuple[Any, Any] | None = None
    ) -> tuple[Array, Array]:
        """One step.

        Parameters
        ----------
        input : array_like, shape (N, H_in) or (H_in,)
        hx : tuple (h, c) of array_like, each of shape (N, H) or (H,), optional
            The previous state; zeros if omitted.

        Returns
        -------
        (h', c') : tuple of ndarray, each of shape (N, H) or (H,)
        """
        if hx is not None:
            hx = check_pair("LSTMCell", "hx", "(h, c)", hx)
        h, c = self._step(input, hx)
        return h, c

    forward = __call__  # type: ignore[assignment]

    def backward(self, grad: tuple[Any, Any] | None = None) -> dict[str, Array]:
        r"""Backpropagate through the last training-mode step.

        Parameters
        ----------
        grad : tuple (grad_h, grad_c), or None
            Gradients with respect to ``h'`` and ``c'``; None (or a None entry) means zero.

        Returns
        -------
        dict of str to ndarray
            ``"input"``, ``"hx"`` and ``"cx"``, shaped as passed in, and one entry per
            parameter, keyed and shaped as in `state_dict`.
        """
        if grad is None:
            return self._step_backward((None, None))
        return self._step_backward(check_pair("LSTMCell", "grad", "(grad_h, grad_c)", grad))
