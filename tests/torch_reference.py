"""PyTorch as the reference: the same model, weights and inputs, run through torch.

Used by the live parity tests (when torch is importable) and by
``tests/fixtures/make_fixtures.py``, which stores torch's answers so the suite also runs
without torch. Nothing in the ``rnn`` package imports this.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rnn


def torch_twin(model: Any) -> Any:
    """The ``torch.nn`` module equal to `model`, in float64, holding the same parameters.

    `rnn.to_torch` builds it (its own tests check it against torch independently); float64
    so that comparisons hold to ~1e-12 whatever the model's dtype.
    """
    return rnn.to_torch(model).double()


def torch_forward_backward(
    model: Any,
    x: np.ndarray,
    hx: Any = None,
    lengths: Any = None,
    grads: tuple[Any, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Run torch's twin of a layer model forward (and backward, given output gradients).

    Parameters
    ----------
    model : rnn.RNN, rnn.GRU or rnn.LSTM
    x : ndarray
        The input as the model takes it (batch first or not, batched or not).
    hx : ndarray, tuple (h0, c0) for the LSTM, or None
    lengths : sequence of int, optional
        Run through ``pack_padded_sequence(enforce_sorted=False)`` and
        ``pad_packed_sequence(total_length=L)``.
    grads : (grad_output, grad_h_n), optional
        ``grad_h_n`` is a tuple for the LSTM. The loss is
        ``sum(output * grad_output) + sum(h_n * grad_h_n) (+ sum(c_n * grad_c_n))``.

    Returns
    -------
    dict of str to ndarray
        ``"output"``, ``"h_n"`` (and ``"c_n"``); with `grads`, also ``"grad_input"``,
        ``"grad_h0"`` (``"grad_c0"``) and ``"grad_<parameter name>"``.
    """
    import torch

    twin = torch_twin(model)
    lstm = isinstance(model, rnn.LSTM)
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    states = () if hx is None else (hx if lstm else (hx,))
    st = [torch.tensor(np.asarray(s, dtype=np.float64), requires_grad=True) for s in states]
    hxt = None if hx is None else (tuple(st) if lstm else st[0])
    if lengths is None:
        out, final = twin(xt, hxt)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.as_tensor(lengths), batch_first=model.batch_first, enforce_sorted=False
        )
        out, final = twin(packed, hxt)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out, batch_first=model.batch_first, total_length=xt.shape[1 if model.batch_first else 0]
        )
    finals = final if lstm else (final,)
    result = {"output": out.detach().numpy()}
    for name, f in zip(("h_n", "c_n"), finals):
        result[name] = f.detach().numpy()
    if grads is not None:
        grad_output, grad_final = grads
        grad_finals = grad_final if lstm else (grad_final,)
        loss = (out * torch.as_tensor(grad_output)).sum()
        for f, g in zip(finals, grad_finals):
            loss = loss + (f * torch.as_tensor(g)).sum()
        loss.backward()
        result["grad_input"] = xt.grad.numpy()
        for name, s in zip(("grad_h0", "grad_c0"), st):
            result[name] = s.grad.numpy()
        for name, p in twin.named_parameters():
            result[f"grad_{name}"] = p.grad.numpy()
    return result
