r"""One time step as a model: `RNNCell`, `GRUCell` and `LSTMCell`, equal to PyTorch's.

A cell runs the same core as the layers, over a sequence of length 1, so a layer equals
its cell unrolled. Shapes: ``N`` batch size, ``H_in`` input size, ``H`` hidden size.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from rnn._module import Module
from rnn._parameters import Layout
from rnn._recurrence import Schedule
from rnn._types import Array, Seed
from rnn._validation import (
    check_flag,
    check_input,
    check_pair,
    check_size,
    check_state,
)
from rnn.layers import RecurrentLayer, _forwarded, _kernels


class _Gradients(dict[str, Array]):
    """The gradients a cell's ``backward`` returns: ``"hx"`` and ``"cx"`` still work, with
    a warning, as deprecated names of ``"h0"`` and ``"c0"``."""

    _ALIASES: ClassVar[dict[str, str]] = {"hx": "h0", "cx": "c0"}

    def __getitem__(self, key: str) -> Array:
        if key in self._ALIASES and key not in self:
            new = self._ALIASES[key]
            warnings.warn(
                f"the gradient key {key!r} is deprecated and will be removed in 1.0; use "
                f"{new!r}, as the layers do",
                FutureWarning,
                stacklevel=2,
            )
            return super().__getitem__(new)
        return super().__getitem__(key)


class Cell(Module):
    """The shared interface of `RNNCell`, `GRUCell` and `LSTMCell`; construct those instead."""

    _mode = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        *,
        dtype: Any,
        seed: Seed,
        **options: Any,
    ) -> None:
        layout = self._configure(input_size, hidden_size, bias, **options)
        super().__init__(layout, dropout=0.0, dtype=dtype, seed=seed)

    def _configure(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        nonlinearity: str = "tanh",
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
        reset_after: bool = True,
        peephole: bool = False,
        input_forget: bool = False,
    ) -> Layout:
        """As `rnn.layers.RecurrentLayer._configure`: everything but the parameters."""
        peephole = check_flag("peephole", peephole)
        kernels = _kernels(
            self,
            self._mode,
            1,
            nonlinearity=nonlinearity,
            clip=clip,
            activations=activations,
            activation_alpha=activation_alpha,
            activation_beta=activation_beta,
            reset_after=reset_after,
            peephole=peephole,
            input_forget=input_forget,
        )
        return Layout(
            kernels=kernels,
            input_size=check_size("input_size", input_size),
            hidden_size=check_size("hidden_size", hidden_size),
            bias=check_flag("bias", bias),
            peephole=peephole,
            single=True,
        )

    reset_after = RecurrentLayer.reset_after
    peephole = RecurrentLayer.peephole
    input_forget = RecurrentLayer.input_forget

    def _step(self, input: Any, states: tuple[Any, ...] | None) -> tuple[Array, ...]:
        name = type(self).__name__
        x, batched = check_input(name, input, self.input_size, self.dtype, batched_ndim=2)
        x = x[None] if batched else x[None, None]
        batch = x.shape[1]
        shapes = [(batch, width) for width in self._layout.state_sizes]
        if states is None:
            initial = tuple(np.zeros((1, *shape), self.dtype) for shape in shapes)
        else:
            initial = tuple(
                check_state(n, s, shape, batched, self.dtype)[None]
                for n, s, shape in zip(("hx", "cx"), states, shapes)
            )
        schedule = Schedule.build(1, batch, None)
        _, final = self._run(np.ascontiguousarray(x), initial, schedule, batched)
        return tuple(f[0] if batched else f[0, 0] for f in final)

    def _step_backward(self, grads: tuple[Any, ...]) -> dict[str, Array]:
        tape = self._recorded()
        batched, batch = tape.batched, tape.layers[0].x.shape[1]
        widths = self._layout.state_sizes
        d_final = []
        for name, g, width in zip(("grad_h", "grad_c"), grads, widths):
            d = self._gradient(name, g, (batch, width) if batched else (width,))
            d_final.append(d[None] if batched else d[None, None])
        d_output = np.zeros((1, batch, widths[0]), self.dtype)
        d_x, d_initial, named = self._backprop(d_output, tuple(d_final))
        result = _Gradients(input=d_x[0] if batched else d_x[0, 0])
        for name, d in zip(("h0", "c0"), d_initial):
            result[name] = d[0] if batched else d[0, 0]
        result.update(named)
        return result

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
            ``"input"`` and ``"h0"`` (the gradient of `hx`), shaped as passed in, and one
            entry per parameter, keyed and shaped as in `state_dict`. ``"hx"`` is a
            deprecated name of ``"h0"``.
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
    clip : float or None, default None
        Clamp every gate pre-activation to ``[-clip, clip]`` (ONNX).
    activations : list of str, optional
        ONNX activation names per gate role (see `rnn.RNN`).
    activation_alpha, activation_beta : list of float, optional
        The activations' parameters, consumed in order as ONNX does.

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

    _mode = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
    ) -> None:
        super().__init__(**_forwarded(locals()))


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
    reset_after : bool, default True
        Reset gate after the recurrent product (PyTorch) or before it (Cho et al.).
    clip : float or None, default None
        Clamp every gate pre-activation to ``[-clip, clip]`` (ONNX).
    activations : list of str, optional
        ONNX activation names per gate role (see `rnn.RNN`).
    activation_alpha, activation_beta : list of float, optional
        The activations' parameters, consumed in order as ONNX does.

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

    _mode = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
        reset_after: bool = True,
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
    ) -> None:
        super().__init__(**_forwarded(locals()))


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
    peephole : bool, default False
        Add ``weight_ch``, shape (3*H,): the gates see the cell state.
    input_forget : bool, default False
        Couple the gates: f = 1 - i.
    clip : float or None, default None
        Clamp every gate pre-activation to ``[-clip, clip]`` (ONNX).
    activations : list of str, optional
        ONNX activation names per gate role (see `rnn.RNN`).
    activation_alpha, activation_beta : list of float, optional
        The activations' parameters, consumed in order as ONNX does.

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

    _mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
        peephole: bool = False,
        input_forget: bool = False,
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
    ) -> None:
        super().__init__(**_forwarded(locals()))

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
            ``"input"``, ``"h0"`` and ``"c0"`` (the gradients of `hx`), shaped as passed in,
            and one entry per parameter, keyed and shaped as in `state_dict`. ``"hx"`` and
            ``"cx"`` are deprecated names of ``"h0"`` and ``"c0"``.
        """
        if grad is None:
            return self._step_backward((None, None))
        return self._step_backward(check_pair("LSTMCell", "grad", "(grad_h, grad_c)", grad))
