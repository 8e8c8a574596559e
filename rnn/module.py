"""What every model shares: parameters, ``state_dict``, training mode, and the bridge to the core.

`Module` holds a `rnn.parameters.Layout` and the parameter arrays, and runs
`rnn.recurrence.forward` / `rnn.recurrence.backward` on canonical shapes:
input ``(L, N, H_in)``, states ``(num_layers*D, N, width)``. The layers
(`rnn.RNN`, `rnn.GRU`, `rnn.LSTM`) and the cells (`rnn.RNNCell`, ...) subclass it
and only translate their callers' shapes to these and back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from rnn import recurrence
from rnn._types import Array
from rnn._validation import as_real_array, check_dtype
from rnn.parameters import LayerWeights, Layout, initial_parameters, named_gradients, prepare


def _frozen(array: Array) -> Array:
    array.flags.writeable = False
    return array


class Module:
    """Base class of the models; not used directly.

    Parameters
    ----------
    layout : rnn.parameters.Layout
    dropout : float
    dtype : numpy dtype
        float32 or float64.
    seed : int, numpy.random.Generator or None
        Seeds the generator that draws the initial parameters and the dropout masks.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        dropout: float,
        dtype: Any,
        seed: int | np.random.Generator | None,
    ) -> None:
        self._layout = layout
        self.dtype = check_dtype(dtype)
        self.dropout = dropout
        self.training = True
        self._rng = np.random.default_rng(seed)
        self._params = {
            name: _frozen(p)
            for name, p in initial_parameters(layout, self._rng, self.dtype).items()
        }
        self._weights: list[LayerWeights] | None = None
        self._tape: recurrence.Tape | None = None
        self._threads = threading.local()  # each thread's recurrence.Workspace

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__.get("_params", {}):
            raise AttributeError(
                f"cannot assign to parameter {name!r}: parameters are read-only; "
                "use load_state_dict to change them"
            )
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Array:
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name]  # type: ignore[no-any-return]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def input_size(self) -> int:
        """H_in, the number of features of each input step."""
        return self._layout.input_size

    @property
    def hidden_size(self) -> int:
        """H, the width of the recurrent state."""
        return self._layout.hidden_size

    @property
    def bias(self) -> bool:
        """Whether the model has ``bias_ih`` and ``bias_hh``."""
        return self._layout.bias

    def named_parameters(self) -> Iterator[tuple[str, Array]]:
        """Yield ``(name, array)`` for every parameter, in ``state_dict`` order.

        The arrays are read-only: change parameters with `load_state_dict`.
        """
        yield from self._params.items()

    def parameters(self) -> list[Array]:
        """Every parameter array (read-only), in ``state_dict`` order."""
        return list(self._params.values())

    def state_dict(self) -> dict[str, Array]:
        """A copy of every parameter under PyTorch's name, in PyTorch's order.

        Returns
        -------
        dict of str to ndarray
            Writable copies: changing them does not change the model.
        """
        return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Replace every parameter; all or nothing.

        Parameters
        ----------
        state_dict : mapping of str to array_like
            One entry per parameter, named and shaped as `state_dict` returns them, e.g.
            ``{k: v.numpy() for k, v in torch_model.state_dict().items()}``. Values are
            copied and cast to the model's dtype.

        Raises
        ------
        ValueError
            Listing every missing, unexpected or wrongly shaped entry; the model is
            left unchanged.
        TypeError
            If `state_dict` is not a mapping or an entry is not a real array.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping; got {type(state_dict).__name__}")
        shapes = self._layout.shapes()
        problems = []
        missing = [name for name in shapes if name not in state_dict]
        unexpected = [name for name in state_dict if name not in shapes]
        if missing:
            problems.append(f"missing keys: {missing}")
        if unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        loaded = {}
        for name, shape in shapes.items():
            if name not in state_dict:
                continue
            value = as_real_array(f"state_dict[{name!r}]", state_dict[name], self.dtype)
            if value.shape != shape:
                problems.append(f"{name}: expected shape {shape}, got {value.shape}")
            loaded[name] = _frozen(value.copy())
        if problems:
            raise ValueError(
                f"Error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(problems)
            )
        self._params = loaded
        self._weights = None
        self._tape = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, forward passes recorded for `backward`)."""
        self.training = bool(mode)
        if not self.training:
            self._tape = None
        return self

    def eval(self) -> Module:
        """Set evaluation mode: no dropout, nothing recorded. Same as ``train(False)``.

        In evaluation mode the model keeps its scratch arrays (one input projection shared
        by the layers, scratch space, LSTM's cell state) between calls, one set per thread,
        and each layer writes its states over its input, so a call allocates little more
        than the output it returns.
        """
        return self.train(False)

    def _workspace(self) -> recurrence.Workspace:
        """This thread's scratch arrays for evaluation-mode passes."""
        workspace = getattr(self._threads, "workspace", None)
        if workspace is None:
            workspace = self._threads.workspace = recurrence.Workspace()
        return workspace

    def _prepared(self) -> list[LayerWeights]:
        if self._weights is None:
            self._weights = prepare(self._layout, self._params)
        return self._weights

    def _run(
        self, x: Array, initial: tuple[Array, ...], schedule: recurrence.Schedule
    ) -> tuple[Array, tuple[Array, ...]]:
        """Forward on canonical shapes, in the caller's batch order; records a tape."""
        order = schedule.order
        if order is not None:
            # evaluation mode: the sorted copy is scratch (training: the record keeps it)
            out = (
                np.empty_like(x) if self.training else self._workspace().take("x", x.shape, x.dtype)
            )
            x = np.take(x, order, axis=1, out=out, mode="clip")  # clip: unbuffered, indices valid
            initial = tuple(np.take(s, order, axis=1) for s in initial)
        elif self.training:
            x = x.copy()  # the record must not change if the caller's array does
        output, final, tape = recurrence.forward(
            self._layout.cell,
            self._prepared(),
            x,
            initial,
            schedule,
            dropout=self.dropout if self.training else 0.0,
            rng=self._rng,
            keep=self.training,
            workspace=None if self.training else self._workspace(),
            copied=order is not None,
        )
        self._tape = tape
        if order is not None:
            inverse = np.argsort(order)
            output = np.take(output, inverse, axis=1)
            final = tuple(np.take(s, inverse, axis=1) for s in final)
        elif tape is not None:
            output = output.copy()  # the tape's buffer stays the backward pass's own
        return output, final

    def _gradient(self, name: str, value: Any, shape: tuple[int, ...]) -> Array:
        """A gradient passed to ``backward``: `shape` exactly, the model's dtype; None is 0."""
        if value is None:
            return np.zeros(shape, self.dtype)
        array = as_real_array(name, value, self.dtype)
        if array.shape != shape:
            raise ValueError(f"Expected {name} of shape {shape}, got {array.shape}")
        return array

    def _recorded(self) -> recurrence.Tape:
        """The record of the last training-mode forward pass, not yet used by a backward."""
        if self._tape is None:
            raise RuntimeError(
                "backward() needs a forward pass in training mode first: call model.train(), "
                "then model(x), then model.backward(...); each forward pass allows one backward"
            )
        return self._tape

    def _backprop(
        self, d_output: Array, d_final: tuple[Array, ...]
    ) -> tuple[Array, tuple[Array, ...], dict[str, Array]]:
        """Backward on canonical shapes, in the caller's batch order; uses up the record."""
        tape = self._recorded()
        self._tape = None
        order = tape.schedule.order
        if order is not None:
            d_output = np.take(d_output, order, axis=1)
            d_final = tuple(np.take(s, order, axis=1) for s in d_final)
        d_x, d_initial, grads = recurrence.backward(
            self._layout.cell, self._prepared(), tape, d_output, d_final
        )
        if order is not None:
            inverse = np.argsort(order)
            d_x = np.take(d_x, inverse, axis=1)
            d_initial = tuple(np.take(s, inverse, axis=1) for s in d_initial)
        return d_x, d_initial, named_gradients(self._layout, grads)
