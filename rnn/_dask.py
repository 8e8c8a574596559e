"""Running a model over a Dask array chunked along the batch axis, on one machine or a cluster.

Sequences in a batch are independent, so a forward pass over a batch split into chunks
is the forward pass of each chunk, put back together. Dask schedules the chunks; each
task rebuilds the model from its configuration and ``state_dict`` (plain data that any
worker process can receive) and calls it as usual.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from rnn._optional import require
from rnn._types import Array
from rnn.layers import LSTM, RecurrentLayer


def _rebuilt(kind: type[RecurrentLayer], arguments: dict[str, Any], state: Any) -> Any:
    """A new model of class `kind` with `state` loaded, in evaluation mode."""
    model = kind(**arguments, seed=0)
    model.load_state_dict(state)
    return model.eval()


_last_model: tuple[str, Any] | None = None  # (token, model): what this process ran last
_last_lock = threading.Lock()


def _model_for(
    token: str, kind: type[RecurrentLayer], arguments: dict[str, Any], state: Any
) -> Any:
    """The rebuilt model of `token`, made once per process and kept for the next chunks.

    Rebuilding costs a random initialisation and a copy of the weights (about 80 ms for
    the benchmark's medium GRU), and a kept model also keeps its evaluation workspace.
    Only the last model is kept; an evaluation-mode model may be called from several
    threads at once.
    """
    global _last_model
    with _last_lock:
        if _last_model is None or _last_model[0] != token:
            _last_model = (token, _rebuilt(kind, arguments, state))
        return _last_model[1]


def _leaves(result: Any) -> list[Array]:
    """The arrays of a model's return value ``(output, final)``, in order."""
    leaves: list[Array] = []
    for part in result:
        leaves.extend(part if isinstance(part, tuple) else (part,))
    return leaves


def _nested(like: Any, leaves: list[Any]) -> tuple[Any, ...]:
    """`leaves` put back into the structure of `like` (a model's return value)."""
    parts, i = [], 0
    for part in like:
        width = len(part) if isinstance(part, tuple) else 1
        parts.append(tuple(leaves[i : i + width]) if isinstance(part, tuple) else leaves[i])
        i += width
    return tuple(parts)


def _forward_chunk(
    token: str,
    kind: type[RecurrentLayer],
    arguments: dict[str, Any],
    state: Any,
    x: Array,
    hx: tuple[Array, ...] | None,
    lengths: Array | None,
    padding_value: float,
) -> list[Array]:
    """One task: the rebuilt model over one batch chunk; the arrays it returns, in order."""
    model = _model_for(token, kind, arguments, state)
    initial = hx if hx is None or isinstance(model, LSTM) else hx[0]
    return _leaves(model(x, initial, lengths=lengths, padding_value=padding_value))


def dask_forward(
    model: RecurrentLayer,
    input: Any,
    hx: Any = None,
    *,
    lengths: Any = None,
    padding_value: float = 0.0,
) -> tuple[Any, Any]:
    r"""Run `model` in evaluation mode over a Dask array chunked along the batch axis.

    Each chunk of the batch is one Dask task that computes ``model(chunk, hx_chunk,
    lengths=lengths_chunk)``: a worker holds one chunk at a time, and the batch can be
    larger than any one machine's memory. The model reaches the tasks as its
    constructor arguments and ``state_dict()`` (as they are at this call), and each
    worker process rebuilds it once, in evaluation mode (no dropout), and keeps the
    last one for the next chunks; the caller's model, its mode and its workspace are
    never shared or changed. Nothing is computed until the caller asks (``.compute()``,
    ``dask.compute``, ``to_zarr``, ...), with whatever scheduler is active: the local
    threads by default, or a ``dask.distributed.Client``.

    The result equals ``model.eval()(input, hx, lengths=lengths)`` on the whole batch
    exactly when there is one chunk; with several, each chunk's matrix products run
    over fewer rows, which BLAS may round differently in the last bits.

    Needs ``dask[array]`` and ``distributed`` (the extra ``dask``).

    Parameters
    ----------
    model : RNN, GRU or LSTM
    input : dask.array.Array or array_like
        Shape (L, N, H_in), or (N, L, H_in) when ``model.batch_first``. Only the batch
        axis N may have several chunks; the other two axes are rechunked to one chunk.
    hx : dask.array.Array, array_like, pair of them (LSTM) or None
        Initial states as `model` takes them, shape (D * num_layers, N, H_out) (LSTM:
        also ``c0`` of shape (D * num_layers, N, H)); rechunked along N like `input`.
    lengths : dask.array.Array, array_like or None
        Shape (N,): each sequence's length, rechunked along N like `input`.
    padding_value : float
        As in the model's call.

    Returns
    -------
    output : dask.array.Array
        Shape (L, N, D * H_out) (or (N, L, D * H_out)), chunked along N like `input`.
    h_n : dask.array.Array, or (h_n, c_n) for an LSTM
        Shape (D * num_layers, N, H_out) (``c_n``: (D * num_layers, N, H)).

    Raises
    ------
    ImportError
        If dask is not installed.
    TypeError
        If `model` is not an `RNN`, `GRU` or `LSTM`.
    ValueError
        If `input` is not 3-dimensional, or `lengths` or `hx` do not match its batch.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import rnn
    >>> model = rnn.GRU(4, 8, seed=0)
    >>> x = da.ones((5, 6, 4), chunks=(5, 3, 4), dtype=np.float32)  # 2 chunks of N
    >>> output, h_n = rnn.dask_forward(model, x)
    >>> output.chunks[1], h_n.shape
    ((3, 3), (1, 6, 8))
    >>> np.allclose(output.compute(), model.eval()(x.compute())[0], atol=1e-6)
    True
    """
    da = require("dask.array", "dask_forward", "dask")
    dask = require("dask", "dask_forward", "dask")
    if not isinstance(model, RecurrentLayer):
        raise TypeError(
            f"model must be an rnn.RNN, rnn.GRU or rnn.LSTM; got {type(model).__name__}"
        )
    x = da.asarray(input)
    if x.ndim != 3:
        layout = "(N, L, H_in)" if model.batch_first else "(L, N, H_in)"
        raise ValueError(f"input must have 3 dimensions {layout}; got shape {x.shape}")
    batch_axis = 0 if model.batch_first else 1
    x = x.rechunk({1 - batch_axis: -1, 2: -1})
    batch_chunks = x.chunks[batch_axis]
    batch = x.shape[batch_axis]

    def along_batch(name: str, value: Any, axis: int) -> list[Any]:
        array = da.asarray(value)
        if array.ndim <= axis or array.shape[axis] != batch:
            raise ValueError(
                f"{name} must have the batch size N={batch} on axis {axis}; got shape {array.shape}"
            )
        chunks = tuple(-1 if a != axis else batch_chunks for a in range(array.ndim))
        return list(array.rechunk(chunks).to_delayed().ravel())

    n_chunks = len(batch_chunks)
    length_blocks = [None] * n_chunks if lengths is None else along_batch("lengths", lengths, 0)
    if hx is None:
        hx_blocks: list[Any] = [None] * n_chunks
    else:
        names = ("h0", "c0") if isinstance(model, LSTM) else ("hx",)
        parts = hx if isinstance(model, LSTM) else (hx,)
        if not isinstance(parts, tuple) or len(parts) != len(names):
            raise ValueError(f"hx must be a pair (h0, c0) for an LSTM; got {type(hx).__name__}")
        per_part = [along_batch(n, p, 1) for n, p in zip(names, parts)]
        hx_blocks = [tuple(blocks) for blocks in zip(*per_part)]

    layer, arguments = type(model), model._arguments()
    state = {k: np.array(v) for k, v in model.state_dict().items()}  # a copy, as of now
    steps = x.shape[1 - batch_axis]
    # A one-step, one-sequence run gives the structure, dtypes and widths of the result.
    probe_shape = [1, 1, x.shape[2]]
    probe = _rebuilt(layer, arguments, state)(np.zeros(probe_shape, model.dtype))
    token = dask.base.tokenize(f"{layer.__module__}.{layer.__qualname__}", arguments, state)
    shared = dask.delayed(state, pure=True)  # one task holds the weights; workers share it
    forward = dask.delayed(_forward_chunk, nout=len(_leaves(probe)), pure=True)
    tasks = [
        forward(token, layer, arguments, shared, block, hx_b, len_b, padding_value)
        for block, hx_b, len_b in zip(x.to_delayed().ravel(), hx_blocks, length_blocks)
    ]
    leaves = []
    for i, like in enumerate(_leaves(probe)):
        is_output = i < len(_leaves(probe[:1]))
        axis = batch_axis if is_output else 1
        pieces = []
        for task, rows in zip(tasks, batch_chunks):
            shape = list(like.shape)
            shape[axis] = rows
            if is_output:
                shape[1 - batch_axis] = steps
            pieces.append(da.from_delayed(task[i], shape=tuple(shape), dtype=like.dtype))
        leaves.append(da.concatenate(pieces, axis=axis))
    return _nested(probe, leaves)
