"""Checkpoints: a run interrupted and resumed from a checkpoint ends bit for bit where an
uninterrupted run does; the optimisers' state round-trips; bad checkpoints are refused."""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any

import numpy as np
import pytest

import rnn

STEPS = 48  # time steps of the training sequence
K = 8  # steps per truncated-BPTT chunk
PASSES = 3


def make_model(kind: str) -> Any:
    cls = {"RNN": rnn.RNN, "GRU": rnn.GRU, "LSTM": rnn.LSTM}[kind]
    return cls(2, 5, num_layers=2, dropout=0.5, dtype=np.float64, seed=0)


OPTIMIZERS = {
    "adam": lambda model: rnn.Adam(model, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-3),
    "sgd-momentum": lambda model: rnn.SGD(model, lr=0.05, momentum=0.9, weight_decay=1e-3),
}


def sequence() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(size=(STEPS, 3, 2)), rng.normal(size=(STEPS, 3, 5))


def train(model, optimizer, x, target, start, stop, hx):
    """Truncated BPTT from time step `start` of pass `start // STEPS` to `stop`, stretch
    by stretch (each a multiple of K), as a loop that checkpoints would run."""
    position = start
    while position < stop:
        offset = position % STEPS
        if offset == 0:
            hx = None  # each pass starts from a zero state
        end = min(stop - position, STEPS - offset) + offset
        _, hx = rnn.truncated_bptt(
            model, x[offset:end], target[offset:end], K, rnn.mse_loss, optimizer, hx
        )
        position += end - offset
    return hx


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("interrupt", [2 * K, STEPS + 3 * K])
def test_resumed_training_equals_uninterrupted(tmp_path, kind, opt, interrupt):
    x, target = sequence()
    total = PASSES * STEPS

    model = make_model(kind)
    train(model, OPTIMIZERS[opt](model), x, target, 0, total, None)
    expected = model.state_dict()

    model = make_model(kind)
    optimizer = OPTIMIZERS[opt](model)
    hx = train(model, optimizer, x, target, 0, interrupt, None)
    path = tmp_path / "run.ckpt"
    rnn.save_checkpoint(path, model, optimizer, step=interrupt // K, hx=hx)
    del model, optimizer  # resume from the file alone

    checkpoint = rnn.load_checkpoint(path)
    assert checkpoint.step == interrupt // K
    train(
        checkpoint.model,
        checkpoint.optimizer,
        x,
        target,
        checkpoint.step * K,
        total,
        checkpoint.hx,
    )
    resumed = checkpoint.model.state_dict()
    for name, value in expected.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


def test_resuming_without_the_generator_state_differs(tmp_path):
    """The dropout generator matters: a resumed run with a fresh generator ends elsewhere."""
    x, target = sequence()
    model = make_model("GRU")
    train(model, rnn.Adam(model), x, target, 0, 2 * STEPS, None)
    expected = model.state_dict()

    model = make_model("GRU")
    optimizer = rnn.Adam(model)
    hx = train(model, optimizer, x, target, 0, STEPS + K, None)
    rnn.save_checkpoint(tmp_path / "c", model, optimizer, hx=hx)
    checkpoint = rnn.load_checkpoint(tmp_path / "c")
    checkpoint.model._rng = np.random.default_rng(0)
    train(checkpoint.model, checkpoint.optimizer, x, target, STEPS + K, 2 * STEPS, checkpoint.hx)
    assert not np.array_equal(checkpoint.model.weight_hh_l1, expected["weight_hh_l1"])


def test_truncated_bptt_in_stretches_equals_one_call():
    x, target = sequence()
    whole, split = make_model("LSTM"), make_model("LSTM")
    losses, (h, c) = rnn.truncated_bptt(whole, x, target, K, rnn.mse_loss, rnn.SGD(whole, lr=0.1))
    opt = rnn.SGD(split, lr=0.1)
    first, state = rnn.truncated_bptt(split, x[:16], target[:16], K, rnn.mse_loss, opt)
    second, (h2, c2) = rnn.truncated_bptt(split, x[16:], target[16:], K, rnn.mse_loss, opt, state)
    assert first + second == losses
    np.testing.assert_array_equal(h2, h)
    np.testing.assert_array_equal(c2, c)
    for name, value in whole.state_dict().items():
        np.testing.assert_array_equal(split.state_dict()[name], value)


def test_checkpoint_round_trip(tmp_path):
    model = rnn.LSTM(3, 4, proj_size=2, seed=0).eval()
    optimizer = rnn.Adam(model, lr=0.02)
    _, (h, c) = model(np.ones((5, 2, 3)))
    extra = {"epoch": 3, "order": np.array([2, 0, 1]), "mask": np.array([True, False])}
    rnn.save_checkpoint(tmp_path / "c", model, optimizer, step=7, hx=(h, c), extra=extra)
    checkpoint = rnn.load_checkpoint(tmp_path / "c")
    assert repr(checkpoint.model) == repr(model)
    assert not checkpoint.model.training
    assert checkpoint.model._rng.bit_generator.state == model._rng.bit_generator.state
    assert checkpoint.step == 7
    assert isinstance(checkpoint.hx, tuple)
    np.testing.assert_array_equal(checkpoint.hx[0], h)
    np.testing.assert_array_equal(checkpoint.hx[1], c)
    assert set(checkpoint.extra) == set(extra)
    for name, value in extra.items():
        np.testing.assert_array_equal(checkpoint.extra[name], value)
        assert checkpoint.extra[name].dtype == np.asarray(value).dtype
    assert checkpoint.optimizer.model is checkpoint.model
    assert checkpoint.optimizer.lr == 0.02
    assert checkpoint.optimizer.state_dict()["state"] == {}


def test_checkpoint_without_optimizer_or_state(tmp_path):
    rnn.save_checkpoint(tmp_path / "c", rnn.RNNCell(2, 3, seed=0))
    checkpoint = rnn.load_checkpoint(tmp_path / "c")
    assert (repr(checkpoint.model), checkpoint.optimizer, checkpoint.hx) == (
        "RNNCell(2, 3)",
        None,
        None,
    )
    assert (checkpoint.step, checkpoint.extra) == (0, {})


def test_a_checkpoint_is_not_a_model_and_a_model_is_not_a_checkpoint(tmp_path):
    rnn.save_checkpoint(tmp_path / "c", rnn.RNN(2, 3, seed=0))
    rnn.save(rnn.RNN(2, 3, seed=0), tmp_path / "m")
    with pytest.raises(ValueError, match=re.escape("(a checkpoint? use rnn.load_checkpoint)")):
        rnn.load(tmp_path / "c")
    with pytest.raises(ValueError, match=re.escape("(a saved model? use rnn.load)")):
        rnn.load_checkpoint(tmp_path / "m")


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def test_save_checkpoint_checks_its_arguments(tmp_path):
    model = rnn.GRU(2, 3, seed=0)
    other = rnn.SGD(rnn.GRU(2, 3, seed=0), lr=0.1)
    with pytest.raises(ValueError, match=exactly("optimizer must be the one optimising model")):
        rnn.save_checkpoint(tmp_path / "c", model, other)
    with pytest.raises(TypeError, match=exactly("optimizer must be rnn.SGD or rnn.Adam; got dict")):
        rnn.save_checkpoint(tmp_path / "c", model, {})
    with pytest.raises(ValueError, match=exactly("step must be an int >= 0; got -1")):
        rnn.save_checkpoint(tmp_path / "c", model, step=-1)
    with pytest.raises(TypeError, match=exactly("step must be an int; got bool True")):
        rnn.save_checkpoint(tmp_path / "c", model, step=True)
    with pytest.raises(
        ValueError, match=re.escape("names must be non-empty strings without '/'; got 'a/b'")
    ):
        rnn.save_checkpoint(tmp_path / "c", model, extra={"a/b": 1})
    with pytest.raises(
        TypeError, match=exactly("extra['s'] must be numbers or bools; got dtype <U1")
    ):
        rnn.save_checkpoint(tmp_path / "c", model, extra={"s": "x"})
    with pytest.raises(TypeError, match=exactly("expected an rnn model; got dict")):
        rnn.save_checkpoint(tmp_path / "c", {})
    assert list(tmp_path.iterdir()) == []


def rewrite_description(path, edit):
    """Rewrite the checkpoint at `path` with its JSON description changed by `edit`."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with np.load(path) as archive:
        document = json.loads(str(archive["__rnn_checkpoint__"]))
    edit(document)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            if name == "__rnn_checkpoint__.npy":
                with archive.open(name, "w") as member:
                    np.lib.format.write_array(member, np.array(json.dumps(document)))
            else:
                archive.writestr(name, data)


def saved_run(tmp_path):
    model = rnn.GRU(2, 3, num_layers=2, seed=0)
    optimizer = rnn.Adam(model)
    output, h = model(np.ones((4, 1, 2)))
    optimizer.step(model.backward(np.ones_like(output)))
    path = tmp_path / "run.ckpt"
    rnn.save_checkpoint(path, model, optimizer, step=1, hx=h, extra={"epoch": 0})
    return path


def not_a_checkpoint(path) -> str:
    return f"^{re.escape(repr(str(path)))} is not an rnn checkpoint: "


def set_in(keys, value):
    def edit(document):
        target = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (set_in(["version"], 2), re.escape("bad description (not a version 1 checkpoint)")),
        (set_in(["model", "args", "hidden_size"], 10**9), "its parameters|the configuration needs"),
        (set_in(["hx", "arrays", 0, "shape"], [10**6, 10**6]), "the configuration needs"),
        (
            set_in(["hx", "arrays", 0, "shape"], [2, 1, 4]),
            re.escape("hx/0: expected shape (2, 1, 4)"),
        ),
        (set_in(["extra", "epoch", "dtype"], "|O"), "bad description of an array"),
        (set_in(["generator", "bit_generator"], "os.system"), "unknown bit generator 'os.system'"),
        (set_in(["generator", "state"], "x"), re.escape("bad generator state (")),
        (set_in(["optimizer", "class"], "LBFGS"), re.escape("bad description (KeyError('LBFGS'))")),
        (set_in(["optimizer", "param_groups", 0, "lr"], -1), "lr must be a number >= 0; got -1"),
        (
            set_in(["optimizer", "state", "weight_ih_l0", "step"], 0),
            re.escape("state['weight_ih_l0']['step'] must be an int >= 1; got 0"),
        ),
        (set_in(["optimizer", "state", "nope"], {"step": 1}), "bad description"),
        (set_in(["training"], "yes"), "training must be true or false"),
        (set_in(["step"], -3), "step must be an int >= 0; got -3"),
        (lambda d: d.pop("extra"), re.escape("bad description (KeyError('extra'))")),
        (
            set_in(["extra", "more"], {"dtype": "<f8", "shape": []}),
            re.escape("missing keys: ['extra/more']"),
        ),
    ],
    ids=[
        "version",
        "huge-model",
        "huge-hx",
        "hx-shape",
        "object-dtype",
        "bit-generator",
        "generator-state",
        "optimizer-class",
        "lr",
        "adam-step",
        "state-name",
        "training",
        "step",
        "no-extra",
        "missing-member",
    ],
)
def test_bad_checkpoints_are_refused(tmp_path, edit, reason):
    path = saved_run(tmp_path)
    rewrite_description(path, edit)
    with pytest.raises(ValueError, match=not_a_checkpoint(path) + f".*({reason})"):
        rnn.load_checkpoint(path)


# --- optimiser state ----------------------------------------------------------------------


def stepped(make):
    model = rnn.LSTM(2, 3, proj_size=2, dtype=np.float64, seed=0)
    optimizer = make(model)
    rng = np.random.default_rng(0)
    for _ in range(3):
        optimizer.step({name: rng.normal(size=p.shape) for name, p in model.named_parameters()})
    return model, optimizer


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_optimizer_state_dict_continues_exactly(opt):
    model, optimizer = stepped(OPTIMIZERS[opt])
    state = optimizer.state_dict()
    twin = rnn.LSTM(2, 3, proj_size=2, dtype=np.float64, seed=1)
    twin.load_state_dict(model.state_dict())
    restored = type(optimizer)(twin, lr=1.0)  # hyper-parameters come from the state
    restored.load_state_dict(state)
    grads = {name: np.full(p.shape, 0.3) for name, p in model.named_parameters()}
    optimizer.step(grads)
    restored.step(grads)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(twin.state_dict()[name], value)


def test_optimizer_state_dict_has_torch_structure():
    model, adam = stepped(lambda m: rnn.Adam(m, lr=0.01))
    state = adam.state_dict()
    assert state["param_groups"] == [
        {
            "lr": 0.01,
            "betas": (0.9, 0.999),
            "eps": 1e-8,
            "weight_decay": 0.0,
            "params": list(model.state_dict()),
        }
    ]
    assert set(state["state"]) == set(model.state_dict())
    entry = state["state"]["weight_hr_l0"]
    assert set(entry) == {"step", "exp_avg", "exp_avg_sq"} and entry["step"] == 3
    entry["exp_avg"][...] = 0  # a copy: the optimiser is unchanged
    assert np.any(adam.state["weight_hr_l0"]["exp_avg"] != 0)
    _, sgd = stepped(lambda m: rnn.SGD(m, lr=0.1, momentum=0.5))
    assert set(sgd.state_dict()["state"]["weight_ih_l0"]) == {"momentum_buffer"}
    assert sgd.state_dict()["param_groups"][0]["momentum"] == 0.5


def test_optimizer_state_matches_torch():
    """Our Adam's state after three steps equals torch.optim.Adam's, entry by entry."""
    torch = pytest.importorskip("torch")
    _, adam = stepped(lambda m: rnn.Adam(m, lr=0.01))
    rng = np.random.default_rng(0)
    start = rnn.LSTM(2, 3, proj_size=2, dtype=np.float64, seed=0).state_dict()
    params = [torch.tensor(v, requires_grad=True) for v in start.values()]
    reference = torch.optim.Adam(params, lr=0.01)
    for _ in range(3):
        for p in params:
            p.grad = torch.tensor(rng.normal(size=tuple(p.shape)))
        reference.step()
    expected = reference.state_dict()["state"]
    for index, name in enumerate(start):
        ours = adam.state_dict()["state"][name]
        assert ours["step"] == int(expected[index]["step"])
        for slot in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(ours[slot], expected[index][slot].numpy(), rtol=1e-12)


def bad(state, path, value):
    copy = {"state": dict(state["state"]), "param_groups": [dict(state["param_groups"][0])]}
    set_in(path, value)(copy)
    return copy


@pytest.mark.parametrize(
    ("path", "value", "kind", "message"),
    [
        (["param_groups"], [], ValueError, "param_groups must be a list of one group"),
        (["param_groups", 0, "lr"], -1.0, ValueError, "lr must be a number >= 0; got -1.0"),
        (
            ["param_groups", 0, "lr"],
            True,
            TypeError,
            "param_groups[0]: lr must be a number; got bool True",
        ),
        (["param_groups", 0, "params"], ["a"], ValueError, "param_groups[0]['params'] must name"),
        (["param_groups", 0, "nesterov"], True, TypeError, "param_groups[0]: "),
        (
            ["state", "bias"],
            {"step": 1},
            ValueError,
            "state names parameters the model does not have: ['bias']",
        ),
        (["state", "bias_ih_l0"], {"step": 1}, ValueError, "state['bias_ih_l0'] must have keys"),
        (
            ["state", "bias_ih_l0"],
            {"step": 1, "exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(12)},
            ValueError,
            "state['bias_ih_l0']['exp_avg'] must have the parameter's shape (12,); got (3,)",
        ),
        (["state"], [], TypeError, "state must be a mapping; got list"),
    ],
    ids=["groups", "lr", "lr-bool", "params", "unknown-hyper", "name", "slots", "shape", "state"],
)
def test_optimizer_load_state_dict_refuses_and_changes_nothing(path, value, kind, message):
    _, adam = stepped(lambda m: rnn.Adam(m, lr=0.01))
    state = adam.state_dict()
    before = adam.state_dict()
    with pytest.raises(kind, match=re.escape(message)):
        adam.load_state_dict(bad(state, path, value))
    after = adam.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for name, entry in before["state"].items():
        for slot, v in entry.items():
            np.testing.assert_array_equal(after["state"][name][slot], v)


def test_optimizer_load_state_dict_needs_both_keys():
    _, sgd = stepped(lambda m: rnn.SGD(m, lr=0.1))
    with pytest.raises(
        ValueError, match=re.escape("keys 'param_groups' and 'state'; got ['state']")
    ):
        sgd.load_state_dict({"state": {}})
