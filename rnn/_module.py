"""What every model shares: parameters, ``state_dict``, training mode, and the bridge to the core.

`Module` holds a `rnn._parameters.Layout` and the parameter arrays, and runs
`rnn._recurrence.forward` / `rnn._recurrence.backward` on canonical shapes:
input ``(L, N, H_in)``, states ``(num_layers*D, N, width)``, batch sorted by length. The
layers (`rnn.RNN`, `rnn.GRU`, `rnn.LSTM`) and the cells (`rnn.RNNCell`, ...) subclass it
and only translate their callers' shapes to these and back.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from rnn import _pipeline, _recurrence
from rnn._parameters import LayerWeights, Layout, initial_parameters, named_gradients, prepare
from rnn._threads import available_threads, get_num_threads, parallel_map
from rnn._types import Array
from rnn._validation import as_real_array, check_dtype

PART_ROWS = 32
"""Fewest batch rows per thread worth a thread of their own (see `Module._batch_parts`)."""


def _frozen(array: Array) -> Array:
    array.flags.writeable = False
    return array


def _take(array: Array, order: np.ndarray | None, axis: int = 1) -> Array:
    """`array` with its batch axis permuted by `order` (itself when `order` is None)."""
    return array if order is None else np.take(array, order, axis=axis)


class Module:
    """Base class of the models; not used directly.

    Parameters
    ----------
    layout : rnn._parameters.Layout
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
        self._tape: _recurrence.Tape | None = None
        self._threads = threading.local()  # each thread's _recurrence.Workspace
        self._recording: _recurrence.Workspace | None = None  # training mode's arrays

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

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the configuration, parameters, mode and generator; not the caches, the
        record of a training pass, or the scratch arrays."""
        state = dict(self.__dict__)
        state.update(_weights=None, _tape=None, _recording=None)
        del state["_threads"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__["_threads"] = threading.local()

    def _arguments(self) -> dict[str, Any]:
        """The constructor's keyword arguments that rebuild this model (seed excepted).

        Read from the constructor's signature, so that it is the one list of them:
        ``type(model)(**model._arguments())`` is a model of the same configuration.
        """
        names = [n for n in inspect.signature(type(self)).parameters if n != "seed"]
        args = {name: getattr(self, name) for name in names}
        args["dtype"] = self.dtype.name
        return args

    def _changed_arguments(self) -> dict[str, Any]:
        """`_arguments` without those left at their defaults (for ``repr``)."""
        parameters = inspect.signature(type(self)).parameters
        return {
            name: value
            for name, value in self._arguments().items()
            if parameters[name].default is inspect.Parameter.empty
            or value != parameters[name].default
        }

    def __repr__(self) -> str:
        args = self._changed_arguments()
        positional = [repr(args.pop(n)) for n in ("input_size", "hidden_size")]
        if args.get("dtype") == "float32":
            del args["dtype"]
        keywords = [f"{k}={v!r}" for k, v in args.items()]
        return f"{type(self).__name__}({', '.join(positional + keywords)})"

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
        """Set training mode (dropout active, forward passes recorded for `backward`).

        In training mode the model keeps the arrays of its last record (states, gates,
        gradient buffers) after `backward` too, and the next forward pass records into
        them; leaving training mode releases them.
        """
        self.training = bool(mode)
        if not self.training:
            self._tape = None
            self._recording = None
        return self

    def eval(self) -> Module:
        """Set evaluation mode: no dropout, nothing recorded. Same as ``train(False)``.

        In evaluation mode the model keeps its scratch arrays (one input projection shared
        by the layers, scratch space, LSTM's cell state) between calls, one set per thread,
        and each layer writes its states over its input, so a call allocates little more
        than the output it returns.
        """
        return self.train(False)

    def _workspace(self) -> _recurrence.Workspace:
        """The arrays of this mode's passes: this thread's scratch arrays in evaluation
        mode; in training mode, the model's one set, which the record in progress uses
        (so the previous record, whose arrays they were, is dropped first)."""
        if self.training:
            self._tape = None
            if self._recording is None:
                self._recording = _recurrence.Workspace()
            return self._recording
        workspace = getattr(self._threads, "workspace", None)
        if workspace is None:
            workspace = self._threads.workspace = _recurrence.Workspace()
        return workspace

    def _prepared(self) -> list[LayerWeights]:
        if self._weights is None:
            self._weights = prepare(self._layout, self._params)
        return self._weights

    def _run(
        self,
        x: Array,
        initial: tuple[Array, ...],
        schedule: _recurrence.Schedule,
        batched: bool = True,
    ) -> tuple[Array | tuple[Array, Array], tuple[Array, ...]]:
        """Forward on canonical shapes, in the caller's batch order; records a tape.

        In evaluation mode a one-direction stack of no more layers than threads runs each
        layer in a thread of its own (`rnn._pipeline`), where that pays; else a large batch
        of a one-direction model runs in parts, one per thread (`_batch_parts`), each
        writing its rows of one output.
        """
        if not self.training and _pipeline.applies(self._layout, schedule, available_threads()):
            with _recurrence.blas_for(self._layout, x.shape[1]):
                return _pipeline.forward(
                    self._layout, self._prepared(), x, initial, schedule, self._workspace()
                )
        parts = self._batch_parts(schedule)
        if len(parts) == 1:
            return self._run_rows(x, initial, schedule, batched)
        steps, batch = x.shape[:2]
        shape = (steps + 2, batch, 1, self._layout.output_size)
        h = np.empty(shape, self.dtype)  # its slots 1..L are the output, one part's rows each

        def run(rows: slice) -> tuple[Array, ...]:
            part = _recurrence.Schedule.build(steps, rows.stop - rows.start, schedule.lengths[rows])
            init = tuple(s[:, rows] for s in initial)
            return self._run_rows(x[:, rows], init, part, batched, out=h[:, rows])[1]

        finals = parallel_map(run, parts)
        output = h[1 : steps + 1].reshape(steps, batch, shape[3])
        return output, tuple(np.concatenate(f, axis=1) for f in zip(*finals))

    def _batch_parts(self, schedule: _recurrence.Schedule) -> list[slice]:
        """The rows of the batch each thread runs: one part unless evaluating a
        one-direction model on at least `PART_ROWS` rows per thread, of a batch that
        needs no reordering (then every part's rows are already sorted by length)."""
        batch, threads = len(schedule.lengths), get_num_threads()
        count = min(threads, batch // PART_ROWS)
        if (
            self.training
            or count < 2
            or len(self._layout.kernels) > 1
            or self._layout.merge_mode is None
            or schedule.order is not None
        ):
            return [slice(0, batch)]
        bounds = np.linspace(0, batch, count + 1).astype(int)
        return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]

    def _run_rows(
        self,
        x: Array,
        initial: tuple[Array, ...],
        schedule: _recurrence.Schedule,
        batched: bool,
        out: Array | None = None,
    ) -> tuple[Array | tuple[Array, Array], tuple[Array, ...]]:
        """`_run` on one thread: copy the input (sorted by length, padding zeroed) whenever
        the pass keeps a record or has padding, so that the caller's array is never written
        to and what sits past a sequence's length is never read."""
        order, padding = schedule.order, schedule.padding()
        workspace = self._workspace()
        if self.training or order is not None or padding is not None:
            copy = workspace.take("x", x.shape, x.dtype)  # training: the record keeps it
            if order is None:
                np.copyto(copy, x)
            else:
                np.take(x, order, axis=1, out=copy, mode="clip")  # clip: unbuffered, valid
            if padding is not None:
                copy[padding] = 0
            x = copy
        initial = tuple(_take(s, order) for s in initial)
        with _recurrence.blas_for(self._layout, x.shape[1]):
            output, final, tape = _recurrence.forward(
                self._layout,
                self._prepared(),
                x,
                initial,
                schedule,
                dropout=self.dropout if self.training else 0.0,
                rng=self._rng,
                keep=self.training,
                workspace=workspace,
                out=out,
            )
        if tape is not None:
            tape.batched = batched
        self._tape = tape
        inverse = schedule.inverse
        if isinstance(output, tuple):
            output = (_take(output[0], inverse), _take(output[1], inverse))
        else:
            output = _take(output, inverse)
        return output, tuple(_take(s, inverse) for s in final)

    def _gradient(self, name: str, value: Any, shape: tuple[int, ...]) -> Array:
        """A gradient passed to ``backward``: `shape` exactly, the model's dtype; None is 0."""
        if value is None:
            return np.zeros(shape, self.dtype)
        array = as_real_array(name, value, self.dtype)
        if array.shape != shape:
            raise ValueError(f"Expected {name} of shape {shape}, got {array.shape}")
        return array

    def _recorded(self) -> _recurrence.Tape:
        """The record of the last training-mode forward pass, not yet used by a backward."""
        if self._tape is None:
            raise RuntimeError(
                "backward() needs a forward pass in training mode first: call model.train(), "
                "then model(x), then model.backward(...); each forward pass allows one backward"
            )
        return self._tape

    def _backprop(
        self, d_output: Array | tuple[Array, Array], d_final: tuple[Array, ...]
    ) -> tuple[Array, tuple[Array, ...], dict[str, Array]]:
        """Backward on canonical shapes, in the caller's batch order; uses up the record."""
        tape = self._recorded()
        self._tape = None
        order, inverse = tape.schedule.order, tape.schedule.inverse
        if isinstance(d_output, tuple):
            d_output = (_take(d_output[0], order), _take(d_output[1], order))
        else:
            d_output = _take(d_output, order)
        with _recurrence.blas_for(self._layout, len(tape.schedule.lengths)):
            d_x, d_initial, grads = _recurrence.backward(
                self._layout,
                self._prepared(),
                tape,
                d_output,
                tuple(_take(s, order) for s in d_final),
            )
        d_initial = tuple(_take(s, inverse) for s in d_initial)
        return _take(d_x, inverse), d_initial, named_gradients(self._layout, grads)
