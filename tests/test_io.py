"""`rnn.save` / `rnn.load`: exact round trips, and every kind of bad file refused without
unpickling anything.
"""

from __future__ import annotations

import errno
import gc
import io
import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

import rnn
from rnn import _archive

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
    message = not_a_model(path) + re.escape("not an .npz archive (File is not a zip file)")
    with pytest.raises(ValueError, match=message):
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
    contents = {CONFIG: np.array(json.dumps({"class": "RNN", "args": RNN_ARGS}))}
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
        (RNN_ARGS | {"seed": 3}, "seed is not saved, so cannot be loaded"),
    ],
    ids=["size", "dtype", "nonlinearity", "unknown-arg", "seed"],
)
def test_load_invalid_config(tmp_path, args, reason):
    path = write_npz(tmp_path, {"class": "RNN", "version": 1, "args": args})
    message = not_a_model(path) + f"invalid configuration: .*{re.escape(reason)}"
    with pytest.raises(ValueError, match=message):
        rnn.load(path)


def doesnt_fit(path) -> str:
    return not_a_model(path) + "its parameters do not fit its configuration: "


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
            "bias_ih_l0: expected a floating-point array, got dtype <U1",
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


# --- atomic saves ------------------------------------------------------------------------

ROOT = str(Path(rnn.__file__).resolve().parent.parent)


def run_child(code: str, **kwargs) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter that imports this `rnn`, one BLAS thread."""
    env = os.environ | {"PYTHONPATH": ROOT, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def old_file(tmp_path):
    """A saved small model: the file a failed save must leave as it is."""
    path = tmp_path / "model.npz"
    rnn.save(rnn.GRU(3, 4, seed=0), path)
    return path, path.read_bytes()


def assert_intact(path, data, *, leftovers_allowed=False):
    assert path.read_bytes() == data
    assert repr(rnn.load(path)) == "GRU(3, 4)"
    others = [name for name in os.listdir(path.parent) if name != path.name]
    if leftovers_allowed:
        assert all(name.startswith(_archive.TEMP_PREFIX + path.name) for name in others), others
    else:
        assert others == []


def test_file_size_limit_keeps_the_old_file(tmp_path):
    path, data = old_file(tmp_path)
    child = run_child(
        f"""
        import errno, resource, signal
        import rnn
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so write() raises EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(data) + 1000}, resource.RLIM_INFINITY))
        try:
            rnn.save(rnn.GRU(30, 40, seed=1), {str(path)!r})
        except OSError as error:
            print("refused", errno.errorcode[error.errno])
        """
    )
    assert child.stdout == "refused EFBIG\n", child.stderr
    assert_intact(path, data)


@pytest.mark.parametrize(
    "error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt(), MemoryError()]
)
def test_failure_mid_write_keeps_the_old_file(tmp_path, monkeypatch, error):
    path, data = old_file(tmp_path)
    write_member = _archive._write_member
    written = []

    def fail_on_the_third(archive, name, array):
        if len(written) == 2:
            raise error
        write_member(archive, name, array)
        written.append(name)

    monkeypatch.setattr(_archive, "_write_member", fail_on_the_third)
    with pytest.raises(type(error)):
        rnn.save(rnn.GRU(3, 4, seed=1), path)
    assert len(written) == 2  # the temporary file held part of the new model
    assert_intact(path, data)


def test_killed_mid_save_keeps_the_old_file(tmp_path):
    path, data = old_file(tmp_path)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                import rnn
                from rnn import _archive
                write_member = _archive._write_member
                def hang_after_one(archive, name, array):
                    write_member(archive, name, array)
                    archive.fp.flush()
                    print("writing", flush=True)
                    time.sleep(60)
                _archive._write_member = hang_after_one
                rnn.save(rnn.GRU(30, 40, seed=1), {str(path)!r})
                """
            ),
        ],
        env=os.environ | {"PYTHONPATH": ROOT},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "writing\n"
        temps = [name for name in os.listdir(tmp_path) if name != path.name]
        assert len(temps) == 1 and os.path.getsize(tmp_path / temps[0]) > 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    # What a kill can leave: the target intact, and a temporary file named to be found.
    assert_intact(path, data, leftovers_allowed=True)


def test_save_syncs_the_file_before_renaming_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        events.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        fsync(fd)

    def recording_replace(src, dst):
        events.append("replace")
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    rnn.save(rnn.RNN(2, 3, seed=0), tmp_path / "m.npz")
    assert events == ["fsync file", "replace", "fsync dir"]


def test_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    path, _ = old_file(tmp_path)
    path.chmod(0o640)
    rnn.save(rnn.RNN(2, 3, seed=0), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_save_through_a_symbolic_link_replaces_its_target(tmp_path):
    path, _ = old_file(tmp_path)
    link = tmp_path / "link.npz"
    link.symlink_to(path)
    rnn.save(rnn.RNN(2, 3, seed=0), link)
    assert link.is_symlink()
    assert repr(rnn.load(path)) == "RNN(2, 3)"


def test_save_into_a_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        rnn.save(rnn.RNN(2, 3, seed=0), tmp_path / "absent" / "m.npz")
    assert os.listdir(tmp_path) == []


# --- hostile files -----------------------------------------------------------------------

INFLATED = 256 << 20  # bytes a hostile member inflates to
HEADROOM = 128 << 20  # address space the loading child may add to what it has at the start


def member_header(shape, dtype="<f4") -> bytes:
    stream = io.BytesIO()
    npy.write_array_header_1_0(stream, {"descr": dtype, "fortran_order": False, "shape": shape})
    return stream.getvalue()


def archive_with(path, config, replace):
    """A saved RNN(3, 4) archive, with `config` and members replaced by ``replace``:
    ``{name: (zipfile compression, header bytes, number of zero data bytes)}``."""
    params = rnn.RNN(3, 4, seed=0).state_dict()
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open(f"{CONFIG}.npy", "w") as member:
            npy.write_array(member, np.array(json.dumps(config)))
        for name, array in params.items():
            info = zipfile.ZipInfo(f"{name}.npy")
            if name not in replace:
                with archive.open(info, "w") as member:
                    npy.write_array(member, array)
                continue
            info.compress_type, header, zeros = replace[name]
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(header)
                chunk = bytes(1 << 20)
                for start in range(0, zeros, len(chunk)):
                    member.write(chunk[: zeros - start])
    return path


def load_under_memory_limit(path) -> dict:
    """Load `path` in a child limited to its starting address space + HEADROOM."""
    child = run_child(
        f"""
        import json, resource, time
        import rnn
        def vm_bytes():
            with open("/proc/self/status") as status:
                line = next(l for l in status if l.startswith("VmSize:"))
            return int(line.split()[1]) * 1024
        limit = vm_bytes() + {HEADROOM}
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        try:
            rnn.load({str(path)!r})
            outcome = {{"error": None}}
        except BaseException as error:
            outcome = {{"error": type(error).__name__, "message": str(error)}}
        outcome["seconds"] = time.perf_counter() - start
        outcome["rss_growth"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) * 1024
        print(json.dumps(outcome))
        """
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)


def assert_refused_cheaply(outcome, path, reason):
    assert outcome["error"] == "ValueError", outcome
    assert re.match(not_a_model(path) + reason, outcome["message"]), outcome["message"]
    assert outcome["seconds"] < 1.0, outcome
    assert outcome["rss_growth"] < 16 << 20, outcome


RNN_CONFIG = {"class": "RNN", "version": 1, "args": RNN_ARGS}


def test_an_inflating_member_is_refused_before_it_is_inflated(tmp_path):
    header = member_header((INFLATED // 4,))
    path = archive_with(
        tmp_path / "bomb.npz",
        RNN_CONFIG,
        {"weight_ih_l0": (zipfile.ZIP_DEFLATED, header, INFLATED)},
    )
    assert path.stat().st_size < INFLATED / 500
    outcome = load_under_memory_limit(path)
    assert_refused_cheaply(
        outcome, path, r".*weight_ih_l0 inflates from \d+ to \d+ bytes, more than 64 times"
    )


def test_an_inflating_member_with_a_truthful_header_is_refused(tmp_path):
    # The header declares the expected shape; the data go on far beyond it.
    path = archive_with(
        tmp_path / "bomb.npz",
        RNN_CONFIG,
        {"weight_ih_l0": (zipfile.ZIP_DEFLATED, member_header((4, 3)), INFLATED)},
    )
    outcome = load_under_memory_limit(path)
    assert_refused_cheaply(outcome, path, ".*inflates from")


@pytest.mark.parametrize(
    ("shape", "data"),
    [((1 << 30,), 48), ((4, 3), 48 + 4), ((4, 3), 48 - 4)],
    ids=["huge-shape", "extra-data", "short-data"],
)
def test_a_lying_header_is_refused_before_reading_data(tmp_path, shape, data):
    path = archive_with(
        tmp_path / "liar.npz",
        RNN_CONFIG,
        {"weight_ih_l0": (zipfile.ZIP_STORED, member_header(shape), data)},
    )
    outcome = load_under_memory_limit(path)
    declared = math.prod(shape) * 4
    reason = re.escape(
        f"weight_ih_l0: its header declares shape {shape} of float32 ({declared} bytes) "
        f"but the member holds {data} bytes"
    )
    assert_refused_cheaply(outcome, path, f".*{reason}")


@pytest.mark.parametrize(
    "args", [{"hidden_size": 10**9}, {"input_size": 10**6, "hidden_size": 10**6}]
)
def test_an_oversized_configuration_is_refused_without_building_the_model(tmp_path, args):
    config = RNN_CONFIG | {"args": RNN_ARGS | args}
    path = archive_with(tmp_path / "huge.npz", config, {})
    outcome = load_under_memory_limit(path)
    assert_refused_cheaply(
        outcome,
        path,
        r"its parameters do not fit its configuration: the configuration needs \d+ elements, "
        r"but the archive's members hold \d+ bytes in all",
    )


def test_a_stored_member_claiming_more_than_the_file_holds(tmp_path):
    path = saved(tmp_path, rnn.RNN(3, 4, seed=0))
    data = bytearray(path.read_bytes())
    # The member's central directory entry: sizes at offsets 20 (stored) and 24 (inflated).
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"weight_ih_l0.npy"))
    data[entry + 20 : entry + 28] = (1 << 30).to_bytes(4, "little") * 2
    path.write_bytes(bytes(data))
    outcome = load_under_memory_limit(path)
    assert_refused_cheaply(
        outcome, path, r"its parameters do not fit .*: its members claim \d+ bytes; the file has"
    )


def test_a_huge_configuration_member_is_not_read(tmp_path):
    path = tmp_path / "big-config.npz"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(f"{CONFIG}.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        chars = 2 << 20
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(member_header((), f"<U{chars}"))
            member.write(bytes(4 * chars))
    outcome = load_under_memory_limit(path)
    assert_refused_cheaply(
        outcome, path, re.escape(f"bad configuration ({CONFIG} is ") + r"\d+ bytes; at most"
    )


@pytest.mark.parametrize(
    ("field", "value", "claim"),
    [(10, 40_000, "40000 entries in"), (12, 1 << 30, f"entries in {1 << 30} bytes")],
    ids=["entries", "directory-bytes"],
)
def test_a_huge_zip_directory_is_refused_before_it_is_parsed(tmp_path, field, value, claim):
    # zipfile makes an object per directory entry, before anything else can be checked;
    # the counts in the zip's end record are checked first.
    path = saved(tmp_path, rnn.RNN(3, 4, seed=0))
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    width = 2 if field == 10 else 4
    data[end + field : end + field + width] = value.to_bytes(width, "little")
    path.write_bytes(bytes(data))
    reason = f"its zip directory lists .*{re.escape(claim)}.*; at most 32768 entries"
    with pytest.raises(ValueError, match=not_a_model(path) + reason):
        rnn.load(path)
