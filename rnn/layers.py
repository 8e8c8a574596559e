r"""The multi-layer recurrent models `RNN`, `GRU` and `LSTM`, with PyTorch's interface.

Shapes use PyTorch's letters: ``L`` sequence length, ``N`` batch size, ``H_in`` input
size, ``H`` hidden size, ``P`` the emitted state size (``proj_size`` or ``H``),
``D`` = 2 if bidirectional else 1.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from rnn._types import Array
from rnn._validation import (
    check_dropout,
    check_flag,
    check_input,
    check_lengths,
    check_nonlinearity,
    check_pair,
    check_proj_size,
    check_size,
    check_state,
)
from rnn.cells import make_cell
from rnn.module import Module
from rnn.parameters import Layout
from rnn.recurrence import Schedule

Seed = int | np.random.Generator | None


class RecurrentLayer(Module):
    """The shared interface of `RNN`, `GRU` and `LSTM`; construct those instead.

    Parameters
    ----------
    mode : {"RNN_TANH", "RNN_RELU", "GRU", "LSTM"}
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size
        As in the subclasses.
    dtype : numpy dtype
    seed : int, numpy.random.Generator or None
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        proj_size: int,
        *,
        dtype: Any,
        seed: Seed,
    ) -> None:
        hidden_size = check_size("hidden_size", hidden_size)
        layout = Layout(
            cell=make_cell(mode),
            input_size=check_size("input_size", input_size),
            hidden_size=hidden_size,
            num_layers=check_size("num_layers", num_layers),
            bias=check_flag("bias", bias),
            bidirectional=check_flag("bidirectional", bidirectional),
            proj_size=check_proj_size(proj_size, hidden_size),
        )
        self.mode = mode
        self.batch_first = check_flag("batch_first", batch_first)
        dropout = check_dropout(dropout)
        if dropout and layout.num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                "num_layers=1",
                UserWarning,
                stacklevel=3,
            )
        super().__init__(layout, dropout=dropout, dtype=dtype, seed=seed)

    @property
    def num_layers(self) -> int:
        """The number of stacked layers."""
        return self._layout.num_layers

    @property
    def bidirectional(self) -> bool:
        """Whether each layer also runs backwards in time."""
        return self._layout.bidirectional

    @property
    def proj_size(self) -> int:
        """LSTM's projection size; 0 when there is none (always 0 for RNN and GRU)."""
        return self._layout.proj_size

    def __repr__(self) -> str:
        extras = {
            "num_layers": (self.num_layers, 1),
            "nonlinearity": (getattr(self, "nonlinearity", "tanh"), "tanh"),
            "bias": (self.bias, True),
            "batch_first": (self.batch_first, False),
            "dropout": (self.dropout, 0.0),
            "bidirectional": (self.bidirectional, False),
            "proj_size": (self.proj_size, 0),
        }
        args = [str(self.input_size), str(self.hidden_size)]
        args += [f"{k}={v!r}" for k, (v, default) in extras.items() if v != default]
        return f"{type(self).__name__}({', '.join(args)})"

    def _state_shapes(self, batch: int) -> list[tuple[int, int, int]]:
        rows = self.num_layers * self._layout.directions
        return [(rows, batch, width) for width in self._layout.state_sizes]

    def _forward(
        self, input: Any, hx: tuple[Any, ...] | None, lengths: Any, padding_value: float
    ) -> tuple[Array, tuple[Array, ...]]:
        name = type(self).__name__
        x, batched = check_input(name, input, self.input_size, self.dtype, batched_ndim=3)
        if x.shape[1 if batched and self.batch_first else 0] == 0:
            raise ValueError(f"input must hold at least one time step; got shape {x.shape}")
        if not batched:
            if lengths is not None:
                raise ValueError("lengths requires batched 3-D input; got unbatched 2-D input")
            x = x[:, None]
        elif self.batch_first:
            x = x.swapaxes(0, 1)
        steps, batch = x.shape[:2]
        x = np.ascontiguousarray(x)
        names = ("h0", "c0")
        shapes = self._state_shapes(batch)
        if hx is None:
            initial = tuple(np.zeros(shape, self.dtype) for shape in shapes)
        else:
            initial = tuple(
                check_state(n, h, shape, batched, self.dtype)
                for n, h, shape in zip(names, hx, shapes)
            )
        schedule = Schedule.build(
            steps, batch, None if lengths is None else check_lengths(lengths, steps, batch)
        )
        output, final = self._run(x, initial, schedule)
        padding = schedule.padding()
        if padding is not None and padding_value != 0:
            if schedule.order is not None:
                padding = padding[:, np.argsort(schedule.order)]
            output[padding] = padding_value
        self._batched = batched
        return self._to_caller(output), tuple(f if batched else f[:, 0] for f in final)

    def _to_caller(self, output: Array) -> Array:
        """``(L, N, ...)`` to the caller's layout: batch first, or unbatched."""
        if not self._batched:
            return output[:, 0]
        return output.swapaxes(0, 1) if self.batch_first else output

    def _caller_shape(self, steps: int, batch: int, width: int) -> tuple[int, ...]:
        """The shape `_to_caller` gives an array of canonical shape ``(steps, batch, width)``."""
        if not self._batched:
            return (steps, width)
        return (batch, steps, width) if self.batch_first else (steps, batch, width)

    def _backward(self, grad_output: Any, grad_states: tuple[Any, ...]) -> dict[str, Array]:
        steps, batch = self._recorded().layers[0].x.shape[:2]
        out_width = self._layout.directions * self._layout.output_size
        d_output = self._gradient(
            "grad_output", grad_output, self._caller_shape(steps, batch, out_width)
        )
        if not self._batched:
            d_output = d_output[:, None]
        elif self.batch_first:
            d_output = d_output.swapaxes(0, 1)
        d_final = []
        for name, g, shape in zip(("grad_h_n", "grad_c_n"), grad_states, self._state_shapes(batch)):
            d = self._gradient(name, g, shape if self._batched else (shape[0], shape[2]))
            d_final.append(d if self._batched else d[:, None])
        d_x, d_initial, grads = self._backprop(d_output, tuple(d_final))
        result = {"input": self._to_caller(d_x)}
        for name, d in zip(("h0", "c0"), d_initial):
            result[name] = d if self._batched else d[:, 0]
        return result | grads

    def __call__(
        self,
        input: Any,
        h0: Any = None,
        *,
        lengths: Any = None,
        padding_value: float = 0.0,
    ) -> tuple[Array, Array]:
        """Run the model over a batch of sequences.

        Parameters
        ----------
        input : array_like, shape (L, N, H_in), (N, L, H_in) if batch_first, or (L, H_in)
        h0 : array_like, shape (D*num_layers, N, H), or (D*num_layers, H) unbatched; optional
            Initial state, layer-major (row ``layer*D + direction``); zeros if omitted.
        lengths : array_like of int, shape (N,), optional
            Valid length of each sequence, in any order; positions past it are padding.
        padding_value : float, default 0.0
            Written to the padded positions of `output`.

        Returns
        -------
        output : ndarray, shape (L, N, D*H), (N, L, D*H) if batch_first, or (L, D*H)
            The last layer's state at every step; direction 1 in ``[..., H:]``.
        h_n : ndarray, shape (D*num_layers, N, H), or (D*num_layers, H) unbatched
            The final state of every layer and direction (each sequence's last valid one).
        """
        output, (h_n,) = self._forward(input, None if h0 is None else (h0,), lengths, padding_value)
        return output, h_n

    forward = __call__

    def backward(self, grad_output: Any = None, grad_h_n: Any = None) -> dict[str, Array]:
        r"""Backpropagate through time through the last training-mode forward pass.

        Parameters
        ----------
        grad_output : array_like or None
            $\partial \mathcal{L} / \partial\, \mathrm{output}$, shaped like the forward
            call's ``output``; None means zero.
        grad_h_n : array_like or None
            $\partial \mathcal{L} / \partial h_n$, shaped like ``h_n``; None means zero.

        Returns
        -------
        dict of str to ndarray
            ``"input"`` and ``"h0"``, shaped as passed to the forward call, and one
            entry per parameter, keyed and shaped as in `state_dict`.

        Raises
        ------
        RuntimeError
            Without a training-mode forward pass since the last backward.
        """
        return self._backward(grad_output, (grad_h_n,))


class RNN(RecurrentLayer):
    r"""A multi-layer Elman RNN, equal to ``torch.nn.RNN``.

    For each layer and time step,

    $$h_t = \phi(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})$$

    where $\phi$ is tanh or ReLU, $x_t$ is the input (the first layer) or the previous
    layer's output, and $h_0$ is zero unless given.

    Parameters
    ----------
    input_size : int
        H_in, the number of features of each input step.
    hidden_size : int
        H, the width of the state.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads layer k - 1's output.
    nonlinearity : {"tanh", "relu"}, default "tanh"
    bias : bool, default True
        Whether to use ``bias_ih`` and ``bias_hh``.
    batch_first : bool, default False
        Input and output are ``(N, L, ...)`` instead of ``(L, N, ...)``; never applies
        to ``h0`` and ``h_n``.
    dropout : float, default 0.0
        Probability of zeroing each element of every layer's output but the last's, in
        training mode.
    bidirectional : bool, default False
        Also run each layer backwards in time; outputs are concatenated.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Parameters, computation and output dtype; inputs of other real dtypes are cast.
    seed : int, numpy.random.Generator or None, default None
        Seeds the generator that draws the parameters, $U(-1/\sqrt{H}, 1/\sqrt{H})$,
        once at construction, and the dropout masks.

    Attributes
    ----------
    weight_ih_l{k}[_reverse] : ndarray, shape (H, H_in) for k = 0, else (H, D*H)
    weight_hh_l{k}[_reverse] : ndarray, shape (H, H)
    bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] : ndarray, shape (H,)
    training : bool
        Training mode (the default, as in PyTorch) or evaluation mode.

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.RNN(input_size=10, hidden_size=20, num_layers=2, seed=0)
    >>> x = np.zeros((5, 3, 10))
    >>> output, h_n = model(x)
    >>> output.shape, h_n.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
    ) -> None:
        self.nonlinearity = check_nonlinearity(nonlinearity)
        super().__init__(
            "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            dtype=dtype,
            seed=seed,
        )


class GRU(RecurrentLayer):
    r"""A multi-layer gated recurrent unit, equal to ``torch.nn.GRU``.

    For each layer and time step, with gates stacked ``r | z | n`` in the weights,

    $$
    \begin{aligned}
    r_t &= \sigma(x_t W_{ir}^\top + b_{ir} + h_{t-1} W_{hr}^\top + b_{hr}) \\
    z_t &= \sigma(x_t W_{iz}^\top + b_{iz} + h_{t-1} W_{hz}^\top + b_{hz}) \\
    n_t &= \tanh(x_t W_{in}^\top + b_{in} + r_t \odot (h_{t-1} W_{hn}^\top + b_{hn})) \\
    h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
    \end{aligned}
    $$

    Parameters
    ----------
    input_size : int
        H_in, the number of features of each input step.
    hidden_size : int
        H, the width of the state.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads layer k - 1's output.
    bias : bool, default True
        Whether to use ``bias_ih`` and ``bias_hh``.
    batch_first : bool, default False
        Input and output are ``(N, L, ...)`` instead of ``(L, N, ...)``; never applies
        to ``h0`` and ``h_n``.
    dropout : float, default 0.0
        Probability of zeroing each element of every layer's output but the last's, in
        training mode.
    bidirectional : bool, default False
        Also run each layer backwards in time; outputs are concatenated.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Parameters, computation and output dtype; inputs of other real dtypes are cast.
    seed : int, numpy.random.Generator or None, default None
        Seeds the generator that draws the parameters, $U(-1/\sqrt{H}, 1/\sqrt{H})$,
        once at construction, and the dropout masks.

    Attributes
    ----------
    weight_ih_l{k}[_reverse] : ndarray, shape (3*H, H_in) for k = 0, else (3*H, D*H)
    weight_hh_l{k}[_reverse] : ndarray, shape (3*H, H)
    bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] : ndarray, shape (3*H,)
    training : bool
        Training mode (the default, as in PyTorch) or evaluation mode.

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> gru = rnn.GRU(10, 20, num_layers=2, bidirectional=True, seed=0)
    >>> output, h_n = gru(np.zeros((5, 3, 10)))
    >>> output.shape, h_n.shape
    ((5, 3, 40), (4, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            dtype=dtype,
            seed=seed,
        )


class LSTM(RecurrentLayer):
    r"""A multi-layer long short-term memory, equal to ``torch.nn.LSTM``.

    For each layer and time step, with gates stacked ``i | f | g | o`` in the weights,

    $$
    \begin{aligned}
    i_t &= \sigma(x_t W_{ii}^\top + b_{ii} + h_{t-1} W_{hi}^\top + b_{hi}) \\
    f_t &= \sigma(x_t W_{if}^\top + b_{if} + h_{t-1} W_{hf}^\top + b_{hf}) \\
    g_t &= \tanh(x_t W_{ig}^\top + b_{ig} + h_{t-1} W_{hg}^\top + b_{hg}) \\
    o_t &= \sigma(x_t W_{io}^\top + b_{io} + h_{t-1} W_{ho}^\top + b_{ho}) \\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
    h_t &= o_t \odot \tanh(c_t)
    \end{aligned}
    $$

    With ``proj_size = P > 0`` the emitted state is projected,
    $h_t = (o_t \odot \tanh c_t)\, W_{hr}^\top$, so ``h`` has width P and ``c`` width H.

    Parameters
    ----------
    input_size : int
        H_in, the number of features of each input step.
    hidden_size : int
        H, the width of the cell state ``c``.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads layer k - 1's output.
    bias : bool, default True
        Whether to use ``bias_ih`` and ``bias_hh``.
    batch_first : bool, default False
        Input and output are ``(N, L, ...)`` instead of ``(L, N, ...)``; never applies
        to ``h0``, ``c0``, ``h_n`` and ``c_n``.
    dropout : float, default 0.0
        Probability of zeroing each element of every layer's output but the last's, in
        training mode.
    bidirectional : bool, default False
        Also run each layer backwards in time; outputs are concatenated.
    proj_size : int, default 0
        P, the width of the projected ``h``; 0 for no projection (then P = H).
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Parameters, computation and output dtype; inputs of other real dtypes are cast.
    seed : int, numpy.random.Generator or None, default None
        Seeds the generator that draws the parameters, $U(-1/\sqrt{H}, 1/\sqrt{H})$,
        once at construction, and the dropout masks.

    Attributes
    ----------
    weight_ih_l{k}[_reverse] : ndarray, shape (4*H, H_in) for k = 0, else (4*H, D*P)
    weight_hh_l{k}[_reverse] : ndarray, shape (4*H, P)
    bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] : ndarray, shape (4*H,)
    weight_hr_l{k}[_reverse] : ndarray, shape (P, H), only with proj_size > 0
    training : bool
        Training mode (the default, as in PyTorch) or evaluation mode.

    Examples
    --------
    >>> import numpy as np
    >>> import rnn
    >>> lstm = rnn.LSTM(10, 20, num_layers=2, proj_size=5, seed=0)
    >>> output, (h_n, c_n) = lstm(np.zeros((7, 3, 10)))
    >>> output.shape, h_n.shape, c_n.shape
    ((7, 3, 5), (2, 3, 5), (2, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        dtype: Any = np.float32,
        seed: Seed = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            dtype=dtype,
            seed=seed,
        )

    def __call__(  # type: ignore[override]
        self,
        input: Any,
        hx: tuple[Any, Any] | None = None,
        *,
        lengths: Any = None,
        padding_value: float = 0.0,
    ) -> tuple[Array, tuple[Array, Array]]:
        """Run the model over a batch of sequences.

        Parameters
        ----------
        input : array_like, shape (L, N, H_in), (N, L, H_in) if batch_first, or (L, H_in)
        hx : tuple (h0, c0), optional
            Initial states, layer-major (row ``layer*D + direction``), zeros if omitted:
            ``h0`` of shape ``(D*num_layers, N, P)``, ``c0`` of shape
            ``(D*num_layers, N, H)``; unbatched without the N axis.
        lengths : array_like of int, shape (N,), optional
            Valid length of each sequence, in any order; positions past it are padding.
        padding_value : float, default 0.0
            Written to the padded positions of `output`.

        Returns
        -------
        output : ndarray, shape (L, N, D*P), (N, L, D*P) if batch_first, or (L, D*P)
            The last layer's ``h`` at every step; direction 1 in ``[..., P:]``.
        state : tuple (h_n, c_n) of ndarray
            Final states of every layer and direction (each sequence's last valid one),
            shaped like ``h0`` and ``c0``.
        """
        if hx is not None:
            hx = check_pair("LSTM", "hx", "(h0, c0)", hx)
        output, (h_n, c_n) = self._forward(input, hx, lengths, padding_value)
        return output, (h_n, c_n)

    forward = __call__  # type: ignore[assignment]

    def backward(
        self, grad_output: Any = None, grad_hx: tuple[Any, Any] | None = None
    ) -> dict[str, Array]:
        r"""Backpropagate through time through the last training-mode forward pass.

        Parameters
        ----------
        grad_output : array_like or None
            $\partial \mathcal{L} / \partial\, \mathrm{output}$, shaped like the forward
            call's ``output``; None means zero.
        grad_hx : tuple (grad_h_n, grad_c_n), or None
            Gradients with respect to ``h_n`` and ``c_n``; None (or a None entry) means zero.

        Returns
        -------
        dict of str to ndarray
            ``"input"``, ``"h0"`` and ``"c0"``, shaped as passed to the forward call, and
            one entry per parameter, keyed and shaped as in `state_dict`.

        Raises
        ------
        RuntimeError
            Without a training-mode forward pass since the last backward.
        """
        if grad_hx is None:
            return self._backward(grad_output, (None, None))
        return self._backward(
            grad_output, check_pair("LSTM", "grad_hx", "(grad_h_n, grad_c_n)", grad_hx)
        )
