"""Kaldi table specifiers and extended filenames, parsed in one place, on kaldiio.

rspecifiers (read):   ``ark:FILE``, ``scp:FILE``, ``ark,t:FILE`` (text is detected
                      anyway), ``ark:-`` (stdin), ``ark:CMD |``; the options
                      ``s``, ``cs``, ``o``, ``p``, ``b``, ``t`` are accepted as Kaldi does.
wspecifiers (write):  ``ark:FILE``, ``ark,t:FILE``, ``ark:-`` (stdout),
                      ``ark,scp:ARK,SCP`` (also ``scp,ark:SCP,ARK``), ``ark,t,scp:...``;
                      files are written under a temporary name and renamed on success.
rxfilename / wxfilename: a path, ``-`` (stdin/stdout) or ``CMD |`` / ``| CMD``.

Records are read by :mod:`vib.io.records`: Kaldi's float vector and matrix types
only (never kaldiio's pickles), sizes checked against the bytes present. An scp
entry that is a command (``key cmd |``) is refused unless the tool was given
``--allow-scp-pipes`` (:func:`allow_scp_pipes`): commands come from the user's
command line and wav.scp, not from a table someone else wrote.

An output path that exists and is not a regular file (``/dev/null``, ``/dev/stdout``,
a FIFO, a device) is written in place; a symlink is followed.
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import stat
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, Iterator

import kaldiio
import numpy as np
from kaldiio.matio import write_array, write_array_ascii

from vib.errors import VibError
from vib.io.records import ByteStream, RecordError, read_record

_READ_OPTIONS = {"s", "cs", "o", "p", "b", "t", "ns", "nf", "no", "np", "f"}
_WRITE_OPTIONS = {"t", "b", "f", "nf", "p"}


class TableSpecError(VibError, ValueError):
    """A malformed rspecifier or wspecifier."""


@dataclass(frozen=True)
class RSpecifier:
    """A parsed rspecifier: ``kind`` is "ark" or "scp"; ``path`` an rxfilename."""

    kind: str
    path: str
    options: frozenset[str]


@dataclass(frozen=True)
class WSpecifier:
    """A parsed wspecifier: an ark path (may be "-"), an optional scp path, text flag."""

    ark: str
    scp: str | None
    text: bool


def _split(spec: str, what: str) -> tuple[list[str], str]:
    if not isinstance(spec, str) or ":" not in spec:
        raise TableSpecError(
            f"malformed {what} '{spec}': expected TYPE:FILE, e.g. ark:foo.ark, scp:foo.scp, ark,t:-")
    head, path = spec.split(":", 1)
    parts = [p.strip() for p in head.split(",")]
    if not path.strip():
        raise TableSpecError(f"malformed {what} '{spec}': no filename after ':'")
    return parts, path.strip()


def parse_rspecifier(spec: str) -> RSpecifier:
    """Parses a Kaldi rspecifier such as ``scp:data/feats.scp`` or ``ark,t:-``."""
    parts, path = _split(spec, "rspecifier")
    kinds = [p for p in parts if p in ("ark", "scp")]
    options = set(parts) - {"ark", "scp"}
    if len(kinds) != 1:
        raise TableSpecError(f"malformed rspecifier '{spec}': give exactly one of ark or scp before ':'")
    unknown = options - _READ_OPTIONS
    if unknown:
        raise TableSpecError(f"malformed rspecifier '{spec}': unknown option(s) {','.join(sorted(unknown))}")
    return RSpecifier(kinds[0], path, frozenset(options))


def parse_wspecifier(spec: str) -> WSpecifier:
    """Parses a Kaldi wspecifier such as ``ark:x.ark`` or ``ark,scp:x.ark,x.scp``."""
    parts, path = _split(spec, "wspecifier")
    kinds = [p for p in parts if p in ("ark", "scp")]
    options = set(parts) - {"ark", "scp"}
    unknown = options - _WRITE_OPTIONS
    if unknown:
        raise TableSpecError(f"malformed wspecifier '{spec}': unknown option(s) {','.join(sorted(unknown))}")
    text = "t" in options
    if kinds == ["ark"]:
        return WSpecifier(path, None, text)
    if sorted(kinds) == ["ark", "scp"]:
        files = path.split(",")
        if len(files) != 2 or not all(f.strip() for f in files):
            raise TableSpecError(f"malformed wspecifier '{spec}': ark,scp needs two filenames, ARK,SCP")
        ark, scp = (f.strip() for f in files)
        if kinds[0] == "scp":
            ark, scp = scp, ark
        if ark == "-":
            raise TableSpecError(f"malformed wspecifier '{spec}': an scp cannot point into stdout")
        return WSpecifier(ark, scp, text)
    if kinds == ["scp"]:
        raise TableSpecError(f"malformed wspecifier '{spec}': scp alone cannot be written; use ark,scp:ARK,SCP")
    raise TableSpecError(f"malformed wspecifier '{spec}': give ark, or ark,scp, before ':'")


def _is_pipe(name: str) -> bool:
    return name.strip().endswith("|") or name.strip().startswith("|")


def open_rxfilename(name: str, binary: bool = False) -> IO:
    """Opens an rxfilename (path, ``-`` or ``CMD |``) for reading."""
    if name != "-" and not _is_pipe(name) and not os.path.exists(name):
        raise VibError(f"cannot open '{name}' for reading: no such file")
    return kaldiio.open_like_kaldi(name, "rb" if binary else "r")


def _is_special_file(path: str) -> bool:
    """True for a path under /dev or /proc (``/dev/stdout`` may resolve to a regular file that a
    shell redirection holds open) or an existing path that is not a regular file: a device,
    FIFO or socket."""
    if os.path.abspath(path).startswith(("/dev/", "/proc/")):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str, kinds: tuple[str, ...] = ("tmp",)) -> list[str]:
    """Removes ``path.<kind>.PID`` files or dirs (``kind`` in ``kinds``) left by killed writers
    (PID no longer running)."""
    removed = []
    for kind in kinds:
        for tmp in glob.glob(f"{glob.escape(path)}.{kind}.*"):
            pid = tmp.rsplit(".", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                if os.path.isdir(tmp) and not os.path.islink(tmp):
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(tmp)
                removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_output(path: str, binary: bool = False) -> Iterator[IO]:
    """Opens a wxfilename for writing. A regular file (or a new path) is written to
    ``path.tmp.PID``, flushed to disk and renamed to ``path`` only when the block
    finishes without an exception; ``-``, ``| CMD`` and existing special files
    (``/dev/null``, FIFOs, devices) are written in place; a symlink is followed."""
    if path == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    if _is_pipe(path):
        with kaldiio.open_like_kaldi(path, "wb" if binary else "w") as f:
            yield f
        return
    if _is_special_file(path):
        with open(path, "wb" if binary else "w") as f:
            yield f
        return
    path = os.path.realpath(path) if os.path.islink(path) else path
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    remove_stale_temps(path)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb" if binary else "w") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_scp_pipes_allowed = False


def allow_scp_pipes(allowed: bool) -> None:
    """Lets scp entries of the form ``key cmd |`` run their command (process-wide;
    set by the tools' ``--allow-scp-pipes`` option)."""
    global _scp_pipes_allowed
    _scp_pipes_allowed = bool(allowed)


def read_table(rspecifier: str) -> Iterator[tuple[str, np.ndarray]]:
    """Streams (key, array) pairs from a Kaldi table of float vectors or matrices, in file order."""
    spec = parse_rspecifier(rspecifier)
    if spec.path != "-" and not _is_pipe(spec.path) and not os.path.exists(spec.path):
        raise VibError(f"cannot read table '{rspecifier}': no such file '{spec.path}'")
    loader = _iter_scp(spec.path) if spec.kind == "scp" else _iter_ark(spec.path)
    try:
        yield from loader
    except VibError:
        raise
    except (OSError, ValueError) as err:
        raise VibError(f"error reading table '{rspecifier}': {err}") from err


def _key(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{where}: a key with non-UTF-8 bytes {raw[:40]!r} (not a Kaldi archive?)") from None


def _iter_ark(path: str) -> Iterator[tuple[str, np.ndarray]]:
    with kaldiio.open_like_kaldi(path, "rb") as fd:
        stream = ByteStream(fd, path)
        while True:
            stream.skip_space()
            raw = stream.token()
            if not raw:
                return
            key = _key(raw, f"'{path}'")
            yield key, read_record(stream, f"'{path}': record '{key}'")


_SCP_OFFSET = re.compile(r"^(?P<file>.+):(?P<offset>\d+)(?P<range>\[[^\]]*\])?$")


def _apply_range(array: np.ndarray, text: str, where: str) -> np.ndarray:
    """Kaldi's ``[r1:r2]`` / ``[r1:r2,c1:c2]`` (inclusive; empty or ``:`` = all)."""
    parts = text[1:-1].split(",")
    if len(parts) > array.ndim:
        raise RecordError(f"{where}: range '{text}' has more parts than the record has dimensions")
    index = []
    for axis, part in enumerate(parts):
        part = part.strip()
        if part in ("", ":"):
            index.append(slice(None))
            continue
        match = re.fullmatch(r"(\d+):(\d+)", part)
        if not match or int(match[1]) > int(match[2]) or int(match[2]) >= array.shape[axis]:
            raise RecordError(f"{where}: bad range '{text}' for a record of shape {array.shape}")
        index.append(slice(int(match[1]), int(match[2]) + 1))
    return array[tuple(index)]


def _iter_scp(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Entries ``key file:offset[range]``, ``key file`` (an object file) or, when
    allowed, ``key cmd |``; open files are kept (up to 16) for sequential reading."""
    files: OrderedDict[str, IO[bytes]] = OrderedDict()
    try:
        with open_rxfilename(path) as scp:
            for lineno, line in enumerate(scp, 1):
                fields = line.strip().split(None, 1)
                if not fields:
                    continue
                key, value = fields[0], (fields[1].strip() if len(fields) > 1 else "")
                where = f"{path}:{lineno}: '{key}'"
                if not value:
                    raise VibError(f"{where}: no rxfilename after the key")
                if _is_pipe(value):
                    if not _scp_pipes_allowed:
                        raise VibError(f"{where}: the entry is a command ('{value}'); commands in a vector/matrix "
                                       f"scp are not run unless you pass --allow-scp-pipes")
                    with kaldiio.open_like_kaldi(value, "rb") as fd:
                        yield key, read_record(ByteStream(fd, value), f"{where} ({value})")
                    continue
                match = _SCP_OFFSET.match(value)
                name, offset = (match["file"], int(match["offset"])) if match else (value, 0)
                fd = files.pop(name, None)
                if fd is None:
                    if not os.path.isfile(name):
                        raise VibError(f"{where}: no such file '{name}'")
                    fd = open(name, "rb")
                files[name] = fd
                if len(files) > 16:
                    files.popitem(last=False)[1].close()
                size = os.fstat(fd.fileno()).st_size
                if offset >= size:
                    raise VibError(f"{where}: offset {offset} is past the end of '{name}' ({size} bytes)")
                fd.seek(offset)
                array = read_record(ByteStream(fd, name), f"{where} ({value})")
                if match and match["range"]:
                    array = _apply_range(array, match["range"], where)
                yield key, array
    finally:
        for fd in files.values():
            fd.close()


def read_table_dict(rspecifier: str) -> dict[str, np.ndarray]:
    """Reads a whole table into a dict; a repeated key is an error."""
    out: dict[str, np.ndarray] = {}
    for key, value in read_table(rspecifier):
        if key in out:
            raise VibError(f"table '{rspecifier}': key '{key}' appears twice")
        out[key] = value
    return out


class TableWriter:
    """Writes (key, array) records to a Kaldi wspecifier, Kaldi binary by default.

    Use as a context manager; files appear under their final names only if the
    block ends without an exception::

        with TableWriter("ark,scp:xvector.ark,xvector.scp") as w:
            w.write("utt1", vec)
    """

    def __init__(self, wspecifier: str):
        self.spec = parse_wspecifier(wspecifier)
        self._stack = contextlib.ExitStack()
        self._ark: IO | None = None
        self._scp: IO | None = None
        self._keys: set[str] = set()

    def __enter__(self) -> "TableWriter":
        spec = self.spec
        # Entered scp first so that the ark is renamed first on exit (exits run last-in first-out).
        if spec.scp is not None:
            self._scp = self._stack.enter_context(atomic_output(spec.scp))
        self._ark = self._stack.enter_context(atomic_output(spec.ark, binary=True))
        return self

    def write(self, key: str, array: np.ndarray) -> None:
        """Writes one record; keys must be non-empty, without whitespace, and unique."""
        if not key or any(c.isspace() for c in key):
            raise VibError(f"invalid table key '{key}': keys must be non-empty and without whitespace")
        if key in self._keys:
            raise VibError(f"key '{key}' written twice to '{self.spec.ark}'")
        self._keys.add(key)
        assert self._ark is not None, "use TableWriter as a context manager"
        self._ark.write(key.encode() + b" ")
        offset = self._ark.tell() if self._scp is not None else 0
        if self.spec.text:
            write_array_ascii(self._ark, np.asarray(array))
        else:
            write_array(self._ark, np.asarray(array))
        if self._scp is not None:
            self._scp.write(f"{key} {self.spec.ark}:{offset}\n")

    def __exit__(self, *exc) -> bool:
        # An old scp is removed before the new ark replaces the old one: a kill between the two
        # renames then leaves no scp at all, never an old scp pointing into a new ark.
        scp = self.spec.scp
        if exc[0] is None and scp is not None and os.path.isfile(scp) and not os.path.islink(scp):
            os.remove(scp)
        return self._stack.__exit__(*exc)


def write_table(wspecifier: str, items: dict[str, np.ndarray] | Iterator[tuple[str, np.ndarray]]) -> None:
    """Writes a whole table at once (see :class:`TableWriter`)."""
    pairs = items.items() if isinstance(items, dict) else items
    with TableWriter(wspecifier) as writer:
        for key, value in pairs:
            writer.write(key, value)


def read_text_table(rxfilename: str, min_fields: int = 2) -> Iterator[tuple[int, list[str]]]:
    """Yields (line number, fields) of a whitespace-separated text file such as
    utt2spk, spk2utt or a trial list; a line with too few fields is an error."""
    with open_rxfilename(rxfilename) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < min_fields:
                raise VibError(f"{rxfilename}:{lineno}: expected at least {min_fields} fields, got '{line.rstrip()}'")
            yield lineno, fields


__all__ = [
    "RSpecifier", "WSpecifier", "TableSpecError", "TableWriter", "allow_scp_pipes", "atomic_output",
    "open_rxfilename", "remove_stale_temps",
    "parse_rspecifier", "parse_wspecifier", "read_table", "read_table_dict", "read_text_table",
    "write_table",
]
