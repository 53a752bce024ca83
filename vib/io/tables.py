"""Kaldi table specifiers and extended filenames, parsed in one place, on kaldiio.

rspecifiers (read):   ``ark:FILE``, ``scp:FILE``, ``ark,t:FILE`` (text is detected
                      anyway), ``ark:-`` (stdin), ``ark:CMD |``; the options
                      ``s``, ``cs``, ``o``, ``p``, ``b``, ``t`` are accepted as Kaldi does.
wspecifiers (write):  ``ark:FILE``, ``ark,t:FILE``, ``ark:-`` (stdout),
                      ``ark,scp:ARK,SCP`` (also ``scp,ark:SCP,ARK``), ``ark,t,scp:...``;
                      files are written under a temporary name and renamed on success.
rxfilename / wxfilename: a path, ``-`` (stdin/stdout) or ``CMD |`` / ``| CMD``.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import IO, Iterator

import kaldiio
import numpy as np
from kaldiio.matio import read_kaldi, read_token, write_array, write_array_ascii

from vib.cli import VibError

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


@contextlib.contextmanager
def atomic_output(path: str, binary: bool = False) -> Iterator[IO]:
    """Opens a wxfilename for writing; a plain path is written to ``path.tmp.PID``
    and renamed to ``path`` only when the block finishes without an exception."""
    if path == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    if _is_pipe(path):
        with kaldiio.open_like_kaldi(path, "wb" if binary else "w") as f:
            yield f
        return
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb" if binary else "w") as f:
            yield f
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_table(rspecifier: str) -> Iterator[tuple[str, np.ndarray]]:
    """Streams (key, array) pairs from a Kaldi table, in file order."""
    spec = parse_rspecifier(rspecifier)
    if spec.path != "-" and not _is_pipe(spec.path) and not os.path.exists(spec.path):
        raise VibError(f"cannot read table '{rspecifier}': no such file '{spec.path}'")
    if spec.kind == "scp":
        loader = kaldiio.load_scp_sequential(spec.path)
    else:
        loader = _iter_ark(spec.path)
    try:
        yield from loader
    except VibError:
        raise
    except Exception as err:  # kaldiio raises bare ValueError/IOError/KeyError
        raise VibError(f"error reading table '{rspecifier}': {err}") from err


def _iter_ark(path: str) -> Iterator[tuple[str, np.ndarray]]:
    with kaldiio.open_like_kaldi(path, "rb") as fd:
        while True:
            key = read_token(fd)
            if key is None:
                return
            yield key, read_kaldi(fd)


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
        self._ark = self._stack.enter_context(atomic_output(spec.ark, binary=True))
        if spec.scp is not None:
            self._scp = self._stack.enter_context(atomic_output(spec.scp))
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
    "RSpecifier", "WSpecifier", "TableSpecError", "TableWriter", "atomic_output", "open_rxfilename",
    "parse_rspecifier", "parse_wspecifier", "read_table", "read_table_dict", "read_text_table",
    "write_table",
]
