r"""Parameters: PyTorch's names and shapes, their initialisation, and the prepared weights.

A model stores its parameters exactly as PyTorch does, so a ``state_dict`` moves across
unchanged. For layer ``k`` and direction ``d`` (``_reverse`` when ``d = 1``), with
``G`` gates, ``H = hidden_size``, ``P = proj_size or H`` and ``D`` directions:

| name | shape |
|---|---|
| ``weight_ih_l{k}`` | ``(G*H, input_size)`` for ``k = 0``; ``(G*H, D*P)`` above |
| ``weight_hh_l{k}`` | ``(G*H, P)`` |
| ``bias_ih_l{k}``, ``bias_hh_l{k}`` | ``(G*H,)`` |
| ``weight_hr_l{k}`` | ``(P, H)`` (LSTM with ``proj_size > 0``) |
| ``weight_ch_l{k}`` | ``(3*H,)`` (LSTM with ``peephole=True``: ``p_i, p_f, p_o``) |

Above the first layer, ``weight_ih`` takes ``(G*H, P)`` when ``merge_mode`` is ``"sum"``,
``"mul"`` or ``"ave"``. The cells (`rnn.RNNCell` and friends) use the same names without
the ``_l0`` suffix.
The driver runs on `LayerWeights`, prepared from these arrays once and rebuilt only when
the parameters change: gate blocks in the kernel's `gate_order`, biases folded, and for
the forward products transposed block by block (`stacked`), with the sigmoid gates' rows
halved on the fused path (see `rnn._kernels`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rnn._kernels import DirectionWeights, HiddenGrads, Kernel
from rnn._types import Array


@dataclass(frozen=True)
class Layout:
    """The configuration that fixes a model's parameters and how the driver runs them.

    Attributes
    ----------
    kernels : tuple of Kernel
        One per direction (activations may differ between directions).
    input_size, hidden_size, num_layers : int
    bias, bidirectional : bool
    proj_size : int
        0 for no projection.
    peephole : bool
        LSTM's peepholes (``weight_ch``).
    go_backwards : bool
        One direction, run backwards in time.
    merge_mode : str or None
        How a bidirectional layer combines its directions: ``"concat"``, ``"sum"``,
        ``"mul"``, ``"ave"``, or None (kept apart).
    single : bool
        True for the one-step cells, whose names carry no ``_l0`` suffix.
    """

    kernels: tuple[Kernel, ...]
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    bidirectional: bool = False
    proj_size: int = 0
    peephole: bool = False
    go_backwards: bool = False
    merge_mode: str | None = "concat"
    single: bool = False

    @property
    def kernel(self) -> Kernel:
        """The first direction's kernel (gates and states are the same in every direction)."""
        return self.kernels[0]

    @property
    def directions(self) -> int:
        """D, 2 for a bidirectional model, else 1."""
        return 2 if self.bidirectional else 1

    def reverse(self, direction: int) -> bool:
        """Whether `direction` runs backwards in time."""
        return direction == 1 or self.go_backwards

    @property
    def output_size(self) -> int:
        """The size of the emitted state ``h``: ``proj_size`` if set, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    @property
    def layer_output_size(self) -> int:
        """The width of a layer's output: ``D*P`` concatenated, else ``P``."""
        return (
            self.directions * self.output_size if self.merge_mode == "concat" else self.output_size
        )

    @cached_property  # read a few times per call
    def state_sizes(self) -> tuple[int, ...]:
        """The width of each state: ``(P,)``, or ``(P, H)`` for the LSTM."""
        return (self.output_size, self.hidden_size)[: self.kernel.states]

    def name(self, kind: str, layer: int, direction: int) -> str:
        """The PyTorch name of parameter `kind` (e.g. ``"weight_ih"``) of one layer-direction."""
        if self.single:
            return kind
        return f"{kind}_l{layer}" + ("_reverse" if direction else "")

    def kinds(self) -> Iterator[str]:
        """The parameter kinds of one layer-direction, in PyTorch's order (then ours)."""
        yield "weight_ih"
        yield "weight_hh"
        if self.bias:
            yield "bias_ih"
            yield "bias_hh"
        if self.proj_size:
            yield "weight_hr"
        if self.peephole:
            yield "weight_ch"

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in ``state_dict`` order."""
        gates = self.kernel.gates * self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.layer_output_size
            kind_shapes = {
                "weight_ih": (gates, layer_input),
                "weight_hh": (gates, self.output_size),
                "bias_ih": (gates,),
                "bias_hh": (gates,),
                "weight_hr": (self.proj_size, self.hidden_size),
                "weight_ch": (3 * self.hidden_size,),
            }
            for direction in range(self.directions):
                for kind in self.kinds():
                    shapes[self.name(kind, layer, direction)] = kind_shapes[kind]
        return shapes


def initial_parameters(
    layout: Layout, rng: np.random.Generator, dtype: np.dtype[np.floating]
) -> dict[str, Array]:
    r"""Draw every parameter from $U(-1/\sqrt{H}, 1/\sqrt{H})$, as PyTorch does.

    Parameters
    ----------
    layout : Layout
    rng : numpy.random.Generator
        The only source of randomness; parameters are drawn in ``state_dict`` order.
    dtype : numpy.dtype

    Returns
    -------
    dict of str to ndarray
    """
    bound = 1.0 / np.sqrt(layout.hidden_size)
    return {
        name: rng.uniform(-bound, bound, size=shape).astype(dtype)
        for name, shape in layout.shapes().items()
    }


_UNGATED = ("weight_hr", "weight_ch")  # kinds without a gate-block axis to reorder


def _reorder(array: Array, order: tuple[int, ...]) -> Array:
    """Permute the gate blocks (leading axis) of a weight or bias into `order`."""
    blocks = array.reshape(len(order), -1, *array.shape[1:])
    reordered: Array = blocks[list(order)].reshape(array.shape)
    return reordered


def _forward_copy(array: Array, kernel: Kernel) -> Array:
    """`array` (gate rows in `kernel.gate_order`) with the sigmoid gates' rows halved,
    when the kernel runs fused; else `array` itself."""
    rows = array.shape[0] * kernel.sigmoid_gates // kernel.gates
    if not rows or not kernel.fused:
        return array
    scaled: Array = array.copy()
    scaled[:rows] *= 0.5
    return scaled


def stacked(rows: Array, gates: int) -> Array:
    """Gate rows ``(G*H, K)`` as the transposes of their G blocks, ``(G, K, H)``, C-contiguous:
    one ``matmul`` of ``(n, K)`` rows with it writes each gate's block of a step, ``(G, n,
    H)``, as a contiguous array, which the kernels' element-wise calls walk in one pass."""
    blocks = rows.reshape(gates, -1, rows.shape[1])
    return np.ascontiguousarray(blocks.transpose(0, 2, 1))


@dataclass(frozen=True)
class LayerWeights:
    """One layer's weights in the form the driver runs on.

    All directions share one input projection: their ``weight_ih`` are stacked.

    Attributes
    ----------
    w_ih : ndarray, shape (D*G*H, H_in)
        Gate rows in the kernels' `gate_order`.
    w_ih_s : ndarray, shape (D, G, H_in, H)
        Each direction's `w_ih` as its transposed gate blocks (`stacked`; sigmoid gates
        halved on the fused path): the input projection's products.
    b_x : ndarray of shape (D, G, 1, H), or None
        The biases folded into the input projection (halved likewise).
    directions : tuple of DirectionWeights
    """

    w_ih: Array
    w_ih_s: Array
    b_x: Array | None
    directions: tuple[DirectionWeights, ...]


def prepare(layout: Layout, params: Mapping[str, Array]) -> list[LayerWeights]:
    """Turn named parameters into the per-layer form the driver runs on.

    Parameters
    ----------
    layout : Layout
    params : mapping of str to ndarray
        Parameters named and shaped as `Layout.shapes` says.

    Returns
    -------
    list of LayerWeights
        One per layer.
    """
    layers = []
    for layer in range(layout.num_layers):
        w_ih, w_ih_forward, b_x, directions = [], [], [], []
        for direction, kernel in enumerate(layout.kernels):

            def get(
                kind: str, direction: int = direction, layer: int = layer, kernel: Kernel = kernel
            ) -> Array:
                array = params[layout.name(kind, layer, direction)]
                return array if kind in _UNGATED else _reorder(array, kernel.gate_order)

            w_ih.append(get("weight_ih"))
            w_ih_forward.append(_forward_copy(w_ih[-1], kernel))
            b_h = None
            if layout.bias:
                folded, b_h = kernel.split_bias(get("bias_ih"), get("bias_hh"))
                b_x.append(_forward_copy(folded, kernel))
            w_hh = get("weight_hh")
            w_hr = get("weight_hr") if layout.proj_size else None
            directions.append(
                DirectionWeights(
                    w_hh=w_hh,
                    w_hh_s=stacked(_forward_copy(w_hh, kernel), kernel.gates),
                    b_h=b_h,
                    w_hr=w_hr,
                    w_hr_t=None if w_hr is None else np.ascontiguousarray(w_hr.T),
                    w_ch=get("weight_ch") if layout.peephole else None,
                )
            )
        layers.append(
            LayerWeights(
                w_ih=np.concatenate(w_ih),
                w_ih_s=np.stack([stacked(w, layout.kernel.gates) for w in w_ih_forward]),
                b_x=(
                    np.stack(b_x).reshape(len(b_x), layout.kernel.gates, 1, layout.hidden_size)
                    if layout.bias
                    else None
                ),
                directions=tuple(directions),
            )
        )
    return layers


@dataclass
class LayerGrads:
    """The gradients of one layer, as the backward driver produces them.

    Attributes
    ----------
    w_ih : ndarray, shape (D*G*H, H_in)
    b_x : ndarray of shape (D*G*H,), or None
    hidden : list of HiddenGrads
        One per direction.
    """

    w_ih: Array
    b_x: Array | None
    hidden: list[HiddenGrads]


def named_gradients(layout: Layout, grads: list[LayerGrads]) -> dict[str, Array]:
    """Name the driver's gradients as the parameters they belong to (`prepare` reversed).

    Parameters
    ----------
    layout : Layout
    grads : list of LayerGrads
        One per layer.

    Returns
    -------
    dict of str to ndarray
        Keys and shapes equal to the model's ``state_dict``.
    """
    kernel = layout.kernel
    back = tuple(int(i) for i in np.argsort(kernel.gate_order))
    rows = kernel.gates * layout.hidden_size
    named: dict[str, Array] = {}
    for layer, layer_grads in enumerate(grads):
        for direction, hidden in enumerate(layer_grads.hidden):
            rows_d = slice(direction * rows, (direction + 1) * rows)
            by_kind = {
                "weight_ih": layer_grads.w_ih[rows_d],
                "weight_hh": hidden.w_hh,
                "weight_hr": hidden.w_hr,
                "weight_ch": hidden.w_ch,
            }
            if layer_grads.b_x is not None:
                db_ih, db_hh = kernel.merge_bias_grads(layer_grads.b_x[rows_d], hidden.b_h)
                by_kind |= {"bias_ih": db_ih, "bias_hh": db_hh}
            for kind in layout.kinds():
                grad = by_kind[kind]
                assert grad is not None
                named[layout.name(kind, layer, direction)] = (
                    grad if kind in _UNGATED else _reorder(grad, back)
                )
    return named
