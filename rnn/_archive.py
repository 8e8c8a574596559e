"""The file format behind `rnn.save` and `rnn.save_checkpoint`: an ``.npz`` archive written
atomically and read without trusting it.

An archive is a zip of ``.npy`` members, stored uncompressed, one of which holds a JSON
document as a 0-d string array; ``numpy.load(path)`` reads it as any ``.npz`` file.

Writing goes to a temporary file in the target's directory, named ``.rnn-tmp-<name>-...``,
which is flushed, synced to disk and renamed over the target (`os.replace`, atomic on POSIX
and Windows), and then the directory is synced. If anything fails on the way the temporary
file is removed and the target is untouched. A process killed mid-write (SIGKILL, power
loss) also leaves the target intact, but may leave the temporary file behind.

Reading opens the zip directory, reads the JSON member (at most `JSON_LIMIT` bytes),
lets the caller derive from it what every other member must hold, and checks each
member's directory entry and ``.npy`` header against that before any array data is read
or any memory is set aside for it. Data are then read in bounded pieces into arrays of
exactly the expected size. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy

TEMP_PREFIX = ".rnn-tmp-"
"""Every temporary file a save creates starts with this (then the target's name)."""

JSON_LIMIT = 1 << 20
"""The largest JSON member read, in bytes of its ``.npy`` data (4 bytes per character)."""

_HEADER_LIMIT = 10_000  # numpy's own limit on an .npy header
_CHUNK = 1 << 20  # bytes read at a time
_DEFLATE_RATIO = 64  # a deflated member may expand this much (weights: about 1.1)
_DEFLATE_SLACK = 1 << 20  # ... or up to this size, whatever its ratio (zeros: 1000)
_MAX_ENTRIES = 1 << 15  # members (a model has up to 5 per layer and direction)
_MAX_DIRECTORY = 16 << 20  # bytes of zip directory
_EOCD = struct.Struct("<4s4H2LH")  # zip's end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")


def write(
    file: str | os.PathLike[str], document: tuple[str, Any], arrays: Mapping[str, Any]
) -> None:
    """Write ``{name: array}`` and a JSON document to `file`, atomically.

    Parameters
    ----------
    file : str or path-like
        The target, exactly this path; a symbolic link is followed and its target replaced.
    document : (str, JSON-serialisable)
        The member name and the value of the JSON member.
    arrays : mapping of str to ndarray
        The other members, each written as ``<name>.npy``.

    Raises
    ------
    OSError
        If the directory cannot be written, or a write fails (e.g. the disk is full);
        `file` is then as it was and no temporary file remains.
    """
    member, value = document
    text = np.array(json.dumps(value))  # before any file exists: it may raise TypeError
    target = os.path.realpath(file)
    directory, name = os.path.split(target)
    fd, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name[:100]}-", dir=directory)
    try:
        with open(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
                _write_member(archive, member, text)
                for key, array in arrays.items():
                    _write_member(archive, key, np.asarray(array))
            handle.flush()
            os.chmod(temp, _mode(target))
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        os.unlink(temp)
        raise
    if os.name == "posix":
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write_member(archive: zipfile.ZipFile, name: str, array: np.ndarray[Any, Any]) -> None:
    with archive.open(f"{name}.npy", "w", force_zip64=array.nbytes > 1 << 30) as member:
        npy.write_array(member, array, allow_pickle=False)


def _mode(target: str) -> int:
    """The permissions a saved file gets: the old file's, or what `open` would give."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


@dataclass(frozen=True)
class Spec:
    """What one member must hold: this shape, and a dtype whose kind is in `kinds`."""

    shape: tuple[int, ...]
    kinds: str = "f"
    what: str = "a floating-point array"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Refused(ValueError):
    """The archive is not what it claims to be; the message says why."""


class Reader:
    """An archive opened for checked reading; use as a context manager.

    Raises
    ------
    OSError
        If `file` cannot be opened.
    Refused
        If it is not a zip archive.
    """

    def __init__(self, file: str | os.PathLike[str]) -> None:
        self._handle: IO[bytes] = open(file, "rb")  # noqa: SIM115 (closed by __exit__)
        try:
            _check_directory(self._handle)
            self._zip = zipfile.ZipFile(self._handle)
            self._bytes = os.fstat(self._handle.fileno()).st_size
        except Refused:
            self._handle.close()
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            self._handle.close()
            raise Refused(f"not an .npz archive ({error})") from None
        self._members = {info.filename: info for info in self._zip.infolist()}

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()
        self._handle.close()

    def names(self) -> list[str]:
        """Every member's name, without ``.npy``."""
        return [name.removesuffix(".npy") for name in self._members]

    def document(self, name: str) -> Any:
        """The JSON value stored in member `name`: a 0-d string array of bounded size."""
        info = self._info(name)
        if info.file_size > JSON_LIMIT + _HEADER_LIMIT:
            raise Refused(f"{name} is {info.file_size} bytes; at most {JSON_LIMIT} are read")
        with self._open(info) as member:
            dtype, shape, _, length = _header(name, member, info)
            if dtype.kind != "U" or shape != ():
                raise Refused(f"{name} must be a string; got dtype {dtype}, shape {shape}")
            if length != dtype.itemsize:
                raise Refused(f"{name}: its header and its size disagree")
            text = _read_into(member, np.empty((), dtype), name)[()]
        try:
            return json.loads(str(text))
        except ValueError as error:
            raise Refused(f"{name} is not JSON ({error})") from None

    def arrays(self, specs: Mapping[str, Spec], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """Read the members named in `specs`, after checking every one against its spec.

        The archive must hold exactly these members (plus those in `skip`). Directory
        entries and ``.npy`` headers of all of them are checked before any data are read.

        Raises
        ------
        Refused
            Naming every missing or unexpected member, or the first member whose size,
            compression, dtype or shape does not fit.
        """
        names = set(self.names())
        missing = [name for name in specs if name not in names]
        unexpected = sorted(names - set(specs) - set(skip))
        if missing or unexpected:
            parts = [f"missing keys: {missing}"] if missing else []
            parts += [f"unexpected keys: {unexpected}"] if unexpected else []
            raise Refused("; ".join(parts))
        infos = {name: self._info(name) for name in specs}
        self._check_sizes(specs, infos)
        headers = {}
        for name, spec in specs.items():
            with self._open(infos[name]) as member:
                headers[name] = _header(name, member, infos[name])
            _check_header(name, spec, *headers[name])
        arrays = {}
        for name, (dtype, shape, fortran, _) in headers.items():
            with self._open(infos[name]) as member:
                _header(name, member, infos[name])
                array = _read_into(
                    member, np.empty(shape, dtype, order="F" if fortran else "C"), name
                )
            arrays[name] = array
        return arrays

    def _check_sizes(self, specs: Mapping[str, Spec], infos: Mapping[str, zipfile.ZipInfo]) -> None:
        """Refuse members whose declared sizes cannot hold, or could not come from, this file."""
        stored = sum(info.compress_size for info in infos.values())
        if stored > self._bytes:
            raise Refused(f"its members claim {stored} bytes; the file has {self._bytes}")
        needed = sum(spec.size for spec in specs.values())
        declared = sum(info.file_size for info in infos.values())
        if needed > declared:  # every element takes at least one byte
            raise Refused(
                f"the configuration needs {needed} elements, but the archive's members "
                f"hold {declared} bytes in all"
            )
        for name, info in infos.items():
            if info.compress_type == zipfile.ZIP_STORED:
                if info.file_size != info.compress_size:
                    raise Refused(f"{name}: stored member with inconsistent sizes")
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                if info.file_size > max(_DEFLATE_SLACK, _DEFLATE_RATIO * info.compress_size):
                    raise Refused(
                        f"{name} inflates from {info.compress_size} to {info.file_size} bytes, "
                        f"more than {_DEFLATE_RATIO} times: refused as a compression bomb"
                    )
            else:
                raise Refused(f"{name}: unsupported compression (method {info.compress_type})")

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = self._members.get(f"{name}.npy")
        if info is None:
            raise Refused(f"no {name} entry")
        return info

    def _open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        try:
            return self._zip.open(info)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise Refused(f"{info.filename}: {error}") from None


def _check_directory(handle: IO[bytes]) -> None:
    """Refuse a zip directory too large to parse: zipfile makes an object per entry, about
    ten times the entry's bytes, before anything else can be checked."""
    size = handle.seek(0, os.SEEK_END)
    tail_start = max(0, size - _EOCD.size - 0xFFFF)  # the end record, then a comment
    handle.seek(tail_start)
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return  # not a zip: zipfile says so
    *_, entries, directory, _, _ = _EOCD.unpack_from(tail, at)
    locator = tail_start + at - _ZIP64_LOCATOR.size
    if (entries == 0xFFFF or directory == 0xFFFFFFFF) and locator >= 0:
        handle.seek(locator)
        signature, _, record, _ = _ZIP64_LOCATOR.unpack(handle.read(_ZIP64_LOCATOR.size))
        if signature == b"PK\x06\x07" and record + _ZIP64_END.size <= size:
            handle.seek(record)
            *_, entries, directory, _ = _ZIP64_END.unpack(handle.read(_ZIP64_END.size))
    if entries > _MAX_ENTRIES or directory > _MAX_DIRECTORY:
        raise Refused(
            f"its zip directory lists {entries} entries in {directory} bytes; "
            f"at most {_MAX_ENTRIES} entries in {_MAX_DIRECTORY} bytes are read"
        )


def _header(
    name: str, member: IO[bytes], info: zipfile.ZipInfo
) -> tuple[np.dtype[Any], tuple[int, ...], bool, int]:
    """Dtype, shape, Fortran order and data length of a member, from its ``.npy`` header."""
    try:
        version = npy.read_magic(member)
        read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, fortran, dtype = read(member, max_header_size=_HEADER_LIMIT)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise Refused(f"{name}: {error}") from None
    if dtype.hasobject:
        raise Refused(
            f"{name} holds Python objects, which are never unpickled (allow_pickle=False)"
        )
    length = info.file_size - member.tell()
    if math.prod(shape) * dtype.itemsize != length:
        raise Refused(
            f"{name}: its header declares shape {shape} of {dtype} "
            f"({math.prod(shape) * dtype.itemsize} bytes) but the member holds {length} bytes"
        )
    return dtype, shape, fortran, length


def _check_header(
    name: str, spec: Spec, dtype: np.dtype[Any], shape: tuple[int, ...], *_: object
) -> None:
    if dtype.kind not in spec.kinds or dtype.itemsize > 8:
        raise Refused(f"{name}: expected {spec.what}, got dtype {dtype}")
    if shape != spec.shape:
        raise Refused(f"{name}: expected shape {spec.shape}, got {shape}")


def _read_into(member: IO[bytes], array: np.ndarray[Any, Any], name: str) -> np.ndarray[Any, Any]:
    """Fill `array` from `member`, `_CHUNK` bytes at a time; the CRC is checked at the end."""
    view = array.reshape(-1, order="A").view(np.uint8)  # the same memory, as bytes
    filled = 0
    try:
        while filled < len(view):
            piece = member.read(min(_CHUNK, len(view) - filled))
            if not piece:
                raise EOFError("the member ends early")
            view[filled : filled + len(piece)] = np.frombuffer(piece, np.uint8)
            filled += len(piece)
        member.read(1)  # reaching the end makes zipfile check the CRC
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        raise Refused(f"{name}: {error}") from None
    return array
