r"""The multi-layer recurrent models `RNN`, `GRU` and `LSTM`, with PyTorch's interface.

Shapes use PyTorch's letters: ``L`` sequence length, ``N`` batch size, ``H_in`` input
size, ``H`` hidden size, ``P`` the emitted state size (``proj_size`` or ``H``),
``D`` = 2 if bidirectional else 1.

Beyond PyTorch's arguments, every layer takes the options other frameworks define, each
named as there and computed as the framework that defines it does (the defaults give
PyTorch's model exactly): ``clip``, ``activations``, ``activation_alpha`` and
``activation_beta`` (ONNX), ``go_backwards`` and ``merge_mode`` (Keras), GRU's
``reset_after`` (Keras; ONNX's ``linear_before_reset``) and LSTM's ``peephole`` and
``input_forget`` (ONNX).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from rnn._activations import uses_parameters
from rnn._kernels import Kernel, LSTMKernel, make_kernels
from rnn._module import Module
from rnn._parameters import Layout
from rnn._recurrence import Schedule
from rnn._types import Array, Seed
from rnn._validation import (
    check_activations,
    check_clip,
    check_dropout,
    check_flag,
    check_float,
    check_input,
    check_lengths,
    check_merge_mode,
    check_nonlinearity,
    check_pair,
    check_proj_size,
    check_reals,
    check_size,
    check_state,
)

_DEFAULT_ACTIVATIONS = {
    "RNN": ("Tanh",),
    "GRU": ("Sigmoid", "Tanh"),
    "LSTM": ("Sigmoid", "Tanh", "Tanh"),
}


def _activation_options(
    mode: str,
    nonlinearity: str,
    activations: Any,
    alphas: Any,
    betas: Any,
    directions: int,
) -> tuple[str, tuple[tuple[str, ...], ...], tuple[float, ...], tuple[float, ...]]:
    """Check the activation options together; return them in canonical form.

    Returns ``(nonlinearity, names per direction, alphas, betas)``. The RNN's
    ``nonlinearity`` is PyTorch's shorthand for ``activations=["Tanh"]`` or ``["Relu"]``;
    both may be given only when they agree.
    """
    defaults = _DEFAULT_ACTIVATIONS[mode]
    if mode == "RNN" and activations is None:
        defaults = ("Relu",) if nonlinearity == "relu" else defaults
    names = check_activations(activations, defaults, directions)
    if mode == "RNN":
        single = {n for per_direction in names for n in per_direction}
        implied = (
            {"Tanh": "tanh", "Relu": "relu"}.get(next(iter(single))) if len(single) == 1 else None
        )
        if nonlinearity == "relu" and implied != "relu":
            raise ValueError(
                f"nonlinearity='relu' and activations={list(activations)} disagree; "
                "pass one of them"
            )
        if implied is not None:
            nonlinearity = implied
    alpha_values = check_reals("activation_alpha", alphas)
    beta_values = check_reals("activation_beta", betas)
    flat = [n for per_direction in names for n in per_direction]
    for label, values, capacity in zip(
        ("activation_alpha", "activation_beta"), (alpha_values, beta_values), uses_parameters(flat)
    ):
        if len(values) > capacity:
            raise ValueError(
                f"{label} has {len(values)} values, but the activations {flat} take {capacity}"
            )
    return nonlinearity, names, alpha_values, beta_values


def _forwarded(arguments: dict[str, Any]) -> dict[str, Any]:
    """A constructor's own arguments (``locals()`` at its start), to hand to the shared
    base: so each public signature is the one list of its arguments."""
    return {k: v for k, v in arguments.items() if k not in ("self", "__class__")}


def _canonical_activations(mode: str, names: tuple[tuple[str, ...], ...]) -> list[str] | None:
    """The ``activations`` attribute: None where PyTorch's arguments say it all (the
    defaults, or the RNN's tanh / relu, which ``nonlinearity`` carries), else the ONNX list."""
    flat = [n for per_direction in names for n in per_direction]
    if flat == list(_DEFAULT_ACTIVATIONS[mode]) * len(names):
        return None
    if mode == "RNN" and set(flat) in ({"Tanh"}, {"Relu"}):
        return None
    return flat


def _kernels(
    model: Module,
    mode: str,
    directions: int,
    *,
    nonlinearity: str,
    clip: Any,
    activations: Any,
    activation_alpha: Any,
    activation_beta: Any,
    reset_after: Any,
    peephole: bool,
    input_forget: Any,
) -> tuple[Kernel, ...]:
    """Check the options a step kernel takes, keep them on `model` in canonical form
    (``nonlinearity``, ``activations``, ``activation_alpha``, ``activation_beta``, ``clip``)
    and return one kernel per direction; shared by the layers and the cells."""
    nonlinearity, names, alphas, betas = _activation_options(
        mode,
        check_nonlinearity(nonlinearity),
        activations,
        activation_alpha,
        activation_beta,
        directions,
    )
    model.nonlinearity = nonlinearity
    model.activations = _canonical_activations(mode, names)
    model.activation_alpha = list(alphas) or None
    model.activation_beta = list(betas) or None
    model.clip = check_clip(clip)
    return make_kernels(
        mode,
        names,
        alphas,
        betas,
        model.clip,
        reset_after=check_flag("reset_after", reset_after),
        peephole=peephole,
        input_forget=check_flag("input_forget", input_forget),
    )


class RecurrentLayer(Module):
    """The shared interface of `RNN`, `GRU` and `LSTM`; construct those instead."""

    _mode = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        *,
        dtype: Any,
        seed: Seed,
        **options: Any,
    ) -> None:
        layout = self._configure(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            **options,
        )
        if self.dropout and layout.num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={self.dropout} and "
                "num_layers=1",
                UserWarning,
                stacklevel=3,
            )
        super().__init__(layout, dropout=self.dropout, dtype=dtype, seed=seed)

    def _configure(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        nonlinearity: str = "tanh",
        proj_size: int = 0,
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
        go_backwards: bool = False,
        merge_mode: str | None = "concat",
        reset_after: bool = True,
        peephole: bool = False,
        input_forget: bool = False,
    ) -> Layout:
        """Check every constructor argument but dtype and seed, keep the plain ones as
        attributes, and return the layout: everything but the parameters, which
        `rnn.io` uses to check a file without building its model."""
        hidden_size = check_size("hidden_size", hidden_size)
        num_layers = check_size("num_layers", num_layers)
        bidirectional = check_flag("bidirectional", bidirectional)
        go_backwards = check_flag("go_backwards", go_backwards)
        if go_backwards and bidirectional:
            raise ValueError(
                "go_backwards runs a single direction backwards in time; it cannot be "
                "combined with bidirectional=True"
            )
        peephole = check_flag("peephole", peephole)
        kernels = _kernels(
            self,
            self._mode,
            2 if bidirectional else 1,
            nonlinearity=nonlinearity,
            clip=clip,
            activations=activations,
            activation_alpha=activation_alpha,
            activation_beta=activation_beta,
            reset_after=reset_after,
            peephole=peephole,
            input_forget=input_forget,
        )
        layout = Layout(
            kernels=kernels,
            input_size=check_size("input_size", input_size),
            hidden_size=hidden_size,
            num_layers=num_layers,
            bias=check_flag("bias", bias),
            bidirectional=bidirectional,
            proj_size=check_proj_size(proj_size, hidden_size),
            peephole=peephole,
            go_backwards=go_backwards,
            merge_mode=check_merge_mode(merge_mode, bidirectional, num_layers),
        )
        self.batch_first = check_flag("batch_first", batch_first)
        self.dropout = check_dropout(dropout)
        return layout

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

    @property
    def go_backwards(self) -> bool:
        """Whether the single direction runs backwards in time (Keras' ``go_backwards``)."""
        return self._layout.go_backwards

    @property
    def merge_mode(self) -> str | None:
        """How a bidirectional layer combines its directions (Keras' ``merge_mode``)."""
        return self._layout.merge_mode

    @property
    def reset_after(self) -> bool:
        """GRU: reset applied after the recurrent product (PyTorch) or before (Cho et al.)."""
        return getattr(self._layout.kernel, "reset_after", True)

    @property
    def peephole(self) -> bool:
        """LSTM: whether the gates see the cell state (``weight_ch``)."""
        return self._layout.peephole

    @property
    def input_forget(self) -> bool:
        """LSTM: whether the forget gate is coupled to the input gate, f = 1 - i."""
        kernel = self._layout.kernel
        return isinstance(kernel, LSTMKernel) and kernel.input_forget

    def _state_shapes(self, batch: int) -> list[tuple[int, int, int]]:
        rows = self.num_layers * self._layout.directions
        return [(rows, batch, width) for width in self._layout.state_sizes]

    def _to_caller(self, output: Any, batched: bool) -> Any:
        """``(L, N, ...)`` to the caller's layout (batch first, or unbatched), pairs too."""
        if isinstance(output, tuple):
            return tuple(self._to_caller(part, batched) for part in output)
        if not batched:
            return output[:, 0]
        return output.swapaxes(0, 1) if self.batch_first else output

    def _from_caller(self, value: Any, batched: bool) -> Any:
        """`_to_caller` reversed (for gradients)."""
        if isinstance(value, tuple):
            return tuple(self._from_caller(part, batched) for part in value)
        if not batched:
            return value[:, None]
        return value.swapaxes(0, 1) if self.batch_first else value

    def _forward(
        self, input: Any, hx: tuple[Any, ...] | None, lengths: Any, padding_value: Any
    ) -> tuple[Any, tuple[Array, ...]]:
        name = type(self).__name__
        padding_value = check_float("padding_value", padding_value)
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
        shapes = self._state_shapes(batch)
        if hx is None:
            initial = tuple(np.zeros(shape, self.dtype) for shape in shapes)
        else:
            initial = tuple(
                check_state(n, h, shape, batched, self.dtype)
                for n, h, shape in zip(("h0", "c0"), hx, shapes)
            )
        checked = None if lengths is None else check_lengths(lengths, steps, batch)
        output, final = self._run(x, initial, Schedule.build(steps, batch, checked), batched)
        if checked is not None and padding_value != 0:
            padded = np.arange(steps)[:, None] >= checked[None, :]  # (L, N), caller's order
            for part in output if isinstance(output, tuple) else (output,):
                part[padded] = padding_value
        return self._to_caller(output, batched), tuple(f if batched else f[:, 0] for f in final)

    def _backward(self, grad_output: Any, grad_states: tuple[Any, ...]) -> dict[str, Array]:
        tape = self._recorded()
        batched = tape.batched
        steps, batch = tape.layers[0].x.shape[:2]
        caller = self._to_caller(np.empty((steps, batch, self._layout.layer_output_size)), batched)
        if self.merge_mode is None and self.bidirectional:
            parts = (
                (None, None)
                if grad_output is None
                else check_pair(
                    type(self).__name__, "grad_output", "(forward, backward)", grad_output
                )
            )
            d_output: Any = tuple(
                self._gradient(f"grad_output[{i}]", g, caller.shape) for i, g in enumerate(parts)
            )
        else:
            d_output = self._gradient("grad_output", grad_output, caller.shape)
        d_final = []
        for name, g, shape in zip(("grad_h_n", "grad_c_n"), grad_states, self._state_shapes(batch)):
            d = self._gradient(name, g, shape if batched else (shape[0], shape[2]))
            d_final.append(d if batched else d[:, None])
        d_x, d_initial, grads = self._backprop(self._from_caller(d_output, batched), tuple(d_final))
        result = {"input": self._to_caller(d_x, batched)}
        for name, d in zip(("h0", "c0"), d_initial):
            result[name] = d if batched else d[:, 0]
        return result | grads


def _initial_state(cls: str, hx: Any, h0: Any) -> Any:
    """``hx``, or the deprecated ``h0`` keyword (with a warning)."""
    if h0 is None:
        return hx
    if hx is not None:
        raise TypeError(f"{cls}() got both hx and the deprecated h0; pass hx only")
    warnings.warn(
        f"{cls}(input, h0=...) is deprecated and will be removed in 1.0; pass the initial "
        "state as hx (the second positional argument), as PyTorch does",
        FutureWarning,
        stacklevel=3,
    )
    return h0


class _SingleStateLayer(RecurrentLayer):
    """`RNN` and `GRU`: a state ``h`` only."""

    def __call__(
        self,
        input: Any,
        hx: Any = None,
        *,
        lengths: Any = None,
        padding_value: float = 0.0,
        h0: Any = None,
    ) -> tuple[Any, Array]:
        """Run the model over a batch of sequences.

        Parameters
        ----------
        input : array_like, shape (L, N, H_in), (N, L, H_in) if batch_first, or (L, H_in)
        hx : array_like, shape (D*num_layers, N, H), or (D*num_layers, H) unbatched; optional
            Initial state, layer-major (row ``layer*D + direction``); zeros if omitted.
        lengths : array_like of int, shape (N,), optional
            Valid length of each sequence, in any order; positions past it are padding,
            never read.
        padding_value : float, default 0.0
            Written to the padded positions of `output`.
        h0 : array_like, optional
            Deprecated name of `hx`.

        Returns
        -------
        output : ndarray, shape (L, N, D*H), (N, L, D*H) if batch_first, or (L, D*H)
            The last layer's state at every step; direction 1 in ``[..., H:]``. With
            ``merge_mode`` "sum", "mul" or "ave" the last axis is H; with None, a pair
            ``(forward, backward)`` of such arrays.
        h_n : ndarray, shape (D*num_layers, N, H), or (D*num_layers, H) unbatched
            The final state of every layer and direction (each sequence's last valid one).
        """
        hx = _initial_state(type(self).__name__, hx, h0)
        output, (h_n,) = self._forward(input, None if hx is None else (hx,), lengths, padding_value)
        return output, h_n

    forward = __call__

    def backward(self, grad_output: Any = None, grad_h_n: Any = None) -> dict[str, Array]:
        r"""Backpropagate through time through the last training-mode forward pass.

        Parameters
        ----------
        grad_output : array_like or None
            $\partial \mathcal{L} / \partial\, \mathrm{output}$, shaped like the forward
            call's ``output`` (a pair with ``merge_mode=None``); None means zero.
        grad_h_n : array_like or None
            $\partial \mathcal{L} / \partial h_n$, shaped like ``h_n``; None means zero.

        Returns
        -------
        dict of str to ndarray
            ``"input"`` and ``"h0"`` (the gradient of `hx`), shaped as passed to the forward
            call, and one entry per parameter, keyed and shaped as in `state_dict`.

        Raises
        ------
        RuntimeError
            Without a training-mode forward pass since the last backward.
        """
        return self._backward(grad_output, (grad_h_n,))


class RNN(_SingleStateLayer):
    r"""A multi-layer Elman RNN, equal to ``torch.nn.RNN``.

    For each layer and time step,

    $$h_t = \phi(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})$$

    where $\phi$ is tanh or ReLU (or any activation of ONNX's list), $x_t$ is the input
    (the first layer) or the previous layer's output, and $h_0$ is zero unless given.

    Parameters
    ----------
    input_size : int
        H_in, the number of features of each input step.
    hidden_size : int
        H, the width of the state.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads layer k - 1's output.
    nonlinearity : {"tanh", "relu"}, default "tanh"
        $\phi$ (PyTorch's shorthand for ``activations=["Tanh"]`` or ``["Relu"]``).
    bias : bool, default True
        Whether to use ``bias_ih`` and ``bias_hh``.
    batch_first : bool, default False
        Input and output are ``(N, L, ...)`` instead of ``(L, N, ...)``; never applies
        to ``h0`` and ``h_n``.
    dropout : float, default 0.0
        Probability of zeroing each element of every layer's output but the last's, in
        training mode.
    bidirectional : bool, default False
        Also run each layer backwards in time.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Parameters, computation and output dtype; inputs of other real dtypes are cast.
    seed : int, numpy.random.Generator or None, default None
        Seeds the generator that draws the parameters, $U(-1/\sqrt{H}, 1/\sqrt{H})$,
        once at construction, and the dropout masks.
    clip : float or None, default None
        Clamp the pre-activation to ``[-clip, clip]`` before $\phi$ (ONNX).
    activations : list of str, optional
        ONNX activation names: one (``f``), or one per direction (see
        ``rnn._activations``); case-insensitive.
    activation_alpha, activation_beta : list of float, optional
        The activations' parameters, consumed in order as ONNX does; onnxruntime's
        defaults for those not given.
    go_backwards : bool, default False
        Run the single direction backwards in time (Keras; ONNX ``direction="reverse"``).
        ``output`` stays in time order: ``output[t]`` is the state after reading
        ``x[L-1], ..., x[t]``.
    merge_mode : {"concat", "sum", "mul", "ave", None}, default "concat"
        How a bidirectional layer combines its two directions (Keras' ``Bidirectional``),
        at every layer; None returns them apart and needs ``num_layers=1``.

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

    _mode = "RNN"

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
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
        go_backwards: bool = False,
        merge_mode: str | None = "concat",
    ) -> None:
        super().__init__(**_forwarded(locals()))


class GRU(_SingleStateLayer):
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

    With ``reset_after=False`` the reset gate multiplies the state before the product,
    $n_t = \tanh(x_t W_{in}^\top + b_{in} + (r_t \odot h_{t-1}) W_{hn}^\top + b_{hn})$
    (Cho et al. 2014; ONNX's default ``linear_before_reset=0``, Keras ``reset_after=False``).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
        As in `RNN`.
    dtype, seed, clip, go_backwards, merge_mode
        As in `RNN`.
    activations : list of str, optional
        ONNX activation names ``[f, g]`` ($\sigma$ and $\tanh$ above), or one pair per
        direction.
    activation_alpha, activation_beta : list of float, optional
        As in `RNN`.
    reset_after : bool, default True
        Where the reset gate applies (see above).

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

    _mode = "GRU"

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
        reset_after: bool = True,
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
        go_backwards: bool = False,
        merge_mode: str | None = "concat",
    ) -> None:
        super().__init__(**_forwarded(locals()))


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
    With ``peephole=True`` the input and forget gates add $p_i \odot c_{t-1}$ and
    $p_f \odot c_{t-1}$ and the output gate $p_o \odot c_t$ (Gers & Schmidhuber 2000;
    ONNX's ``P``); with ``input_forget=True``, $f_t = 1 - i_t$ (ONNX).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
        As in `RNN`; H is the width of the cell state ``c``.
    proj_size : int, default 0
        P, the width of the projected ``h``; 0 for no projection (then P = H).
    dtype, seed, clip, go_backwards, merge_mode
        As in `RNN`.
    activations : list of str, optional
        ONNX activation names ``[f, g, h]`` ($\sigma$, the candidate's $\tanh$, the
        output's $\tanh$), or one triple per direction.
    activation_alpha, activation_beta : list of float, optional
        As in `RNN`.
    peephole : bool, default False
        Add the peephole weights ``weight_ch_l{k}[_reverse]``, shape (3*H,), order
        ``p_i, p_f, p_o``.
    input_forget : bool, default False
        Couple the forget gate to the input gate; its rows of the weights go unused.

    Attributes
    ----------
    weight_ih_l{k}[_reverse] : ndarray, shape (4*H, H_in) for k = 0, else (4*H, D*P)
    weight_hh_l{k}[_reverse] : ndarray, shape (4*H, P)
    bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] : ndarray, shape (4*H,)
    weight_hr_l{k}[_reverse] : ndarray, shape (P, H), only with proj_size > 0
    weight_ch_l{k}[_reverse] : ndarray, shape (3*H,), only with peephole=True
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

    _mode = "LSTM"

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
        peephole: bool = False,
        input_forget: bool = False,
        clip: float | None = None,
        activations: list[str] | None = None,
        activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None,
        go_backwards: bool = False,
        merge_mode: str | None = "concat",
    ) -> None:
        super().__init__(**_forwarded(locals()))

    def __call__(
        self,
        input: Any,
        hx: tuple[Any, Any] | None = None,
        *,
        lengths: Any = None,
        padding_value: float = 0.0,
    ) -> tuple[Any, tuple[Array, Array]]:
        """Run the model over a batch of sequences.

        Parameters
        ----------
        input : array_like, shape (L, N, H_in), (N, L, H_in) if batch_first, or (L, H_in)
        hx : tuple (h0, c0), optional
            Initial states, layer-major (row ``layer*D + direction``), zeros if omitted:
            ``h0`` of shape ``(D*num_layers, N, P)``, ``c0`` of shape
            ``(D*num_layers, N, H)``; unbatched without the N axis.
        lengths : array_like of int, shape (N,), optional
            Valid length of each sequence, in any order; positions past it are padding,
            never read.
        padding_value : float, default 0.0
            Written to the padded positions of `output`.

        Returns
        -------
        output : ndarray, shape (L, N, D*P), (N, L, D*P) if batch_first, or (L, D*P)
            The last layer's ``h`` at every step; direction 1 in ``[..., P:]`` (merged or
            a pair as ``merge_mode`` says).
        state : tuple (h_n, c_n) of ndarray
            Final states of every layer and direction (each sequence's last valid one),
            shaped like ``h0`` and ``c0``.
        """
        if hx is not None:
            hx = check_pair("LSTM", "hx", "(h0, c0)", hx)
        output, (h_n, c_n) = self._forward(input, hx, lengths, padding_value)
        return output, (h_n, c_n)

    forward = __call__

    def backward(
        self, grad_output: Any = None, grad_hx: tuple[Any, Any] | None = None
    ) -> dict[str, Array]:
        r"""Backpropagate through time through the last training-mode forward pass.

        Parameters
        ----------
        grad_output : array_like or None
            $\partial \mathcal{L} / \partial\, \mathrm{output}$, shaped like the forward
            call's ``output`` (a pair with ``merge_mode=None``); None means zero.
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
