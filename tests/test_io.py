"""`rnn.save` / `rnn.load`: exact round trips, and every kind of bad file refused without
unpickling anything.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import warnings
import zipfile

import numpy as np
import pytest

import rnn

CONFIG = "__rnn_config__"

MODELS = {
    "rnn": lambda: rnn.RNN(3, 4, seed=0),
    "rnn-relu-bidir-2": lambda: rnn.RNN(
        3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, seed=1
    ),
    "rnn-nobias-f64": lambda: rnn.RNN(3, 4, bias=False, dtype=np.float64, seed=2),
    "gru": lambda: rnn.GRU(3, 5, seed=3),
    "gru-bf-dropout-3": lambda: rnn.GRU(3, 4, num_layers=3, batch_first=True, dropout=0.25, seed=4),
    "lstm": lambda: rnn.LSTM(3, 4, seed=5),
    "lstm-proj-bidir-f64": lambda: rnn.LSTM(
        3, 5, num_layers=2, proj_size=2, bidirectional=True, dtype=np.float64, seed=6
    ),
    "lstm-nobias-bf": lambda: rnn.LSTM(2, 3, bias=False, batch_first=True, seed=7),
    "rnncell": lambda: rnn.RNNCell(3, 4, seed=8),
    "rnncell-relu-nobias": lambda: rnn.RNNCell(
        3, 4, bias=False, nonlinearity="relu", dtype=np.float64, seed=9
    ),
    "grucell": lambda: rnn.GRUCell(3, 4, seed=10),
    "lstmcell-f64": lambda: rnn.LSTMCell(3, 4, dtype=np.float64, seed=11),
}
CONFIG_ATTRS = (
    "input_size",
    "hidden_size",
    "bias",
    "dtype",
    "nonlinearity",
    "num_layers",
    "batch_first",
    "dropout",
    "bidirectional",
    "proj_size",
)


def run(model, x):
    """Every output of `model` on `x`, flattened into a list of arrays."""
    result = model(x)
    flat = []
    stack = [result]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        else:
            flat.append(item)
    return flat


@pytest.mark.parametrize("name", MODELS)
def test_round_trip(tmp_path, name):
    model = MODELS[name]()
    path = tmp_path / "model.npz"
    rnn.save(model, path)
    loaded = rnn.load(path)
    assert type(loaded) is type(model)
    assert repr(loaded) == repr(model)
    for attr in CONFIG_ATTRS:
        assert getattr(loaded, attr, None) == getattr(model, attr, None), attr
    assert loaded.training
    original, restored = model.state_dict(), loaded.state_dict()
    assert list(restored) == list(original)
    for key in original:
        assert restored[key].dtype == original[key].dtype
        np.testing.assert_array_equal(restored[key], original[key])
    layer = isinstance(model, (rnn.RNN, rnn.GRU, rnn.LSTM))
    shape = (4, 2, model.input_size) if layer else (2, model.input_size)
    x = np.random.default_rng(0).standard_normal(shape)
    model.eval()
    loaded.eval()
    for a, b in zip(run(model, x), run(loaded, x), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_file_holds_no_pickles(tmp_path):
    path = tmp_path / "m.npz"
    model = rnn.GRU(3, 4, num_layers=2, seed=0)
    rnn.save(model, path)
    with np.load(path, allow_pickle=False) as archive:
        contents = {k: archive[k] for k in archive.files}
    assert set(contents) == {CONFIG, *model.state_dict()}
    config = json.loads(str(contents[CONFIG]))
    assert config["class"] == "GRU"
    assert config["args"]["num_layers"] == 2


def test_save_writes_exactly_the_path_given(tmp_path):
    rnn.save(rnn.RNNCell(2, 3, seed=0), tmp_path / "cell")
    assert os.listdir(tmp_path) == ["cell"]
    assert repr(rnn.load(str(tmp_path / "cell"))) == "RNNCell(2, 3)"


@pytest.mark.parametrize("value", [{"weight_ih_l0": np.zeros((4, 3))}, None, np.zeros(3)])
def test_save_refuses_non_models(tmp_path, value):
    message = f"save expects an rnn model; got {type(value).__name__}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        rnn.save(value, tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


def not_a_model(path) -> str:
    """The start of every refusal of `rnn.load` for `path`."""
    return f"^{re.escape(repr(str(path)))} is not a saved rnn model: "


def test_load_text_file(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("weight_ih_l0 = [1, 2, 3]\n")
    with pytest.raises(ValueError, match=not_a_model(path)):
        rnn.load(path)


def test_load_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=not_a_model(path)):
        rnn.load(path)


def test_load_missing_file(tmp_path):
    # A file that cannot be opened is an OSError, as with open() and np.load.
    with pytest.raises(FileNotFoundError):
        rnn.load(tmp_path / "absent.npz")


def test_load_directory(tmp_path):
    with pytest.raises(IsADirectoryError):
        rnn.load(tmp_path)


def test_load_plain_npy(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match=not_a_model(path) + "not an .npz archive"):
        rnn.load(path)


def saved(tmp_path, model=None):
    path = tmp_path / "good.npz"
    rnn.save(model or rnn.LSTM(3, 4, num_layers=2, seed=0), path)
    return path


def truncated(tmp_path, keep=0.5):
    data = saved(tmp_path).read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# np.load leaks the file handle of a zip it cannot open (see the test below); the
# ResourceWarning that follows is not what these tests are about.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("keep", [0.5, 0.1, 0.9])
def test_load_truncated(tmp_path, keep):
    path = truncated(tmp_path, keep)
    with pytest.raises(ValueError, match=not_a_model(path) + "File is not a zip file"):
        rnn.load(path)
    gc.collect()


def test_load_truncated_closes_the_file(tmp_path):
    path = truncated(tmp_path)
    unraisable = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with pytest.raises(ValueError):
                rnn.load(path)
            gc.collect()
    finally:
        sys.unraisablehook = hook
    assert [u.exc_value for u in unraisable] == []


def test_load_corrupted_byte(tmp_path):
    good = saved(tmp_path)
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("weight_hh_l1.npy")
    data = bytearray(good.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.file_size - 5] ^= 0xFF  # inside the array data
    path = tmp_path / "bad.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=not_a_model(path) + ".*CRC"):
        rnn.load(path)


class _Payload:
    """Unpickling this creates a directory: proof that pickled data were executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_load_never_unpickles(tmp_path):
    model = rnn.RNN(3, 4, seed=0)
    contents = {CONFIG: np.array(json.dumps({"class": "RNN", "args": {}}))}
    contents |= model.state_dict()
    canary = tmp_path / "canary"
    contents["weight_ih_l0"] = np.array([_Payload(canary)], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **contents)  # allow_pickle defaults to True when saving

    # The payload works: numpy with allow_pickle=True runs it.
    with np.load(path, allow_pickle=True) as archive:
        archive["weight_ih_l0"]
    assert canary.is_dir()
    canary.rmdir()

    with pytest.raises(ValueError, match=not_a_model(path) + ".*allow_pickle"):
        rnn.load(path)
    assert not canary.exists()


def write_npz(tmp_path, config, params=None):
    """An .npz with `config` (a dict to encode, or a raw value) and `params`."""
    contents = {} if config is None else {CONFIG: np.array(config)}
    if isinstance(config, dict):
        contents[CONFIG] = np.array(json.dumps(config))
    contents |= params if params is not None else rnn.RNN(3, 4, seed=0).state_dict()
    path = tmp_path / "model.npz"
    np.savez(path, **contents)
    return path


RNN_ARGS = {
    "input_size": 3,
    "hidden_size": 4,
    "bias": True,
    "dtype": "float32",
    "nonlinearity": "tanh",
    "num_layers": 1,
    "batch_first": False,
    "dropout": 0.0,
    "bidirectional": False,
}


def test_written_config_loads(tmp_path):
    path = write_npz(tmp_path, {"class": "RNN", "version": 1, "args": RNN_ARGS})
    model = rnn.load(path)
    np.testing.assert_array_equal(
        model.weight_hh_l0, rnn.RNN(3, 4, seed=0).state_dict()["weight_hh_l0"]
    )


def test_load_without_config(tmp_path):
    path = write_npz(tmp_path, None)
    message = not_a_model(path) + re.escape(f"no {CONFIG} entry") + "$"
    with pytest.raises(ValueError, match=message):
        rnn.load(path)


@pytest.mark.parametrize(
    "config",
    [
        "{not json",
        "[1, 2]",
        '"RNN"',
        json.dumps({"class": "Transformer", "args": RNN_ARGS}),
        json.dumps({"class": ["RNN"], "args": RNN_ARGS}),
        json.dumps({"args": RNN_ARGS}),
        json.dumps({"class": "RNN"}),
        json.dumps({"class": "RNN", "args": [1, 2]}),
        np.arange(3),
    ],
    ids=["json", "list", "str", "class", "unhashable", "no-class", "no-args", "args", "numeric"],
)
def test_load_bad_config(tmp_path, config):
    path = write_npz(tmp_path, config)
    with pytest.raises(ValueError, match=not_a_model(path) + r"bad configuration \("):
        rnn.load(path)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (RNN_ARGS | {"hidden_size": 0}, "hidden_size must be greater than zero; got 0"),
        (RNN_ARGS | {"dtype": "int8"}, "dtype must be numpy.float32 or numpy.float64; got 'int8'"),
        (RNN_ARGS | {"nonlinearity": "gelu"}, "Unknown nonlinearity 'gelu'"),
        (RNN_ARGS | {"proj_size": 2}, "unexpected keyword argument 'proj_size'"),
        (RNN_ARGS | {"seed": 3}, "multiple values for keyword argument 'seed'"),
    ],
    ids=["size", "dtype", "nonlinearity", "unknown-arg", "seed"],
)
def test_load_invalid_config(tmp_path, args, reason):
    path = write_npz(tmp_path, {"class": "RNN", "version": 1, "args": args})
    message = f"^{re.escape(repr(str(path)))} holds an invalid configuration: .*{re.escape(reason)}"
    with pytest.raises(ValueError, match=message):
        rnn.load(path)


def doesnt_fit(path) -> str:
    return f"^{re.escape(repr(str(path)))} does not fit its configuration: "


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda sd: sd.pop("bias_hh_l0"), "missing keys: ['bias_hh_l0']"),
        (lambda sd: sd.update(extra=np.zeros(2)), "unexpected keys: ['extra']"),
        (
            lambda sd: sd.update(weight_hh_l0=np.zeros((4, 5))),
            "weight_hh_l0: expected shape (4, 4), got (4, 5)",
        ),
        (
            lambda sd: sd.update(bias_ih_l0=np.array(["a"] * 4)),
            "state_dict['bias_ih_l0'] must be a real (integer or floating-point) array",
        ),
    ],
    ids=["missing", "unexpected", "shape", "dtype"],
)
def test_load_params_do_not_fit(tmp_path, edit, problem):
    params = rnn.RNN(3, 4, seed=0).state_dict()
    edit(params)
    path = write_npz(tmp_path, {"class": "RNN", "version": 1, "args": RNN_ARGS}, params)
    with pytest.raises(ValueError, match=doesnt_fit(path) + ".*" + re.escape(problem)):
        rnn.load(path)


def test_load_casts_params_to_the_configured_dtype(tmp_path):
    params = rnn.RNN(3, 4, dtype=np.float64, seed=0).state_dict()
    args = RNN_ARGS | {"dtype": "float32"}
    model = rnn.load(write_npz(tmp_path, {"class": "RNN", "version": 1, "args": args}, params))
    assert model.dtype == np.float32
    np.testing.assert_array_equal(model.weight_ih_l0, params["weight_ih_l0"].astype(np.float32))
