"""Kaldi object files: vectors, matrices and the ``<Plda>`` object, binary and text.

Byte layout, as Kaldi's ``Vector::Write`` / ``Matrix::Write`` / ``Plda::Write`` produce it:

* binary file: ``\\0B`` header; vector ``FV `` (float32) or ``DV `` (float64), then
  ``\\x04`` + int32-LE dim and the data; matrix ``FM ``/``DM ``, ``\\x04`` rows,
  ``\\x04`` cols, row-major data; tokens such as ``<Plda>`` are followed by one space.
* text file (no header): vector `` [ v1 v2 ... ]\\n``; matrix `` [\\n  r11 r12 \\n  r21 ... ]\\n``;
  numbers printed like C++ streams with precision 7 (``%.7g``).

Also the small text/binary tables Kaldi tools exchange beside vectors: int32 tables
(``num_utts.ark``) and token tables (``utt2spk``, ``spk2utt``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

import numpy as np

from vib.errors import VibError
from vib.io.tables import atomic_output, open_rxfilename, parse_rspecifier, parse_wspecifier, read_text_table

_BINARY_HEADER = b"\0B"


@dataclass
class Plda:
    """Kaldi's PLDA model: u = transform @ (x - mean) has unit within-class and
    diagonal between-class covariance diag(psi). Shapes: mean [D], transform [D, D], psi [D]."""

    mean: np.ndarray
    transform: np.ndarray
    psi: np.ndarray

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.transform = np.asarray(self.transform, dtype=np.float64)
        self.psi = np.asarray(self.psi, dtype=np.float64)
        dim = self.mean.shape[0]
        if self.mean.ndim != 1 or self.transform.shape != (dim, dim) or self.psi.shape != (dim,):
            raise VibError(f"inconsistent PLDA: mean {self.mean.shape}, transform {self.transform.shape}, "
                           f"psi {self.psi.shape}")
        for name in ("mean", "transform", "psi"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise VibError(f"invalid PLDA: its {name} contains NaN or inf")
        if np.any(self.psi < 0):
            raise VibError(f"invalid PLDA: negative between-class variance psi[{int(np.argmin(self.psi))}] = "
                           f"{self.psi.min():.6g}")
        # The within-class covariance is inv(T) inv(T)^T: positive definite iff T is well conditioned.
        if dim and np.linalg.cond(self.transform) > 1e12:
            raise VibError("invalid PLDA: its transform is singular (the within-class covariance is not "
                           "positive definite)")

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])


# ---------------------------------------------------------------- writing
def _fmt(values: np.ndarray) -> str:
    return " ".join("%.7g" % v for v in values.tolist())


def _write_token(f: IO[bytes], token: str) -> None:
    f.write(token.encode() + b" ")


def _write_vector(f: IO[bytes], vec: np.ndarray, binary: bool, double: bool) -> None:
    vec = np.asarray(vec)
    if vec.ndim != 1:
        raise VibError(f"expected a vector, got shape {vec.shape}")
    if binary:
        dtype = "<f8" if double else "<f4"
        _write_token(f, "DV" if double else "FV")
        f.write(b"\x04" + struct.pack("<i", vec.shape[0]))
        f.write(vec.astype(dtype).tobytes())
    else:
        body = _fmt(vec.astype(np.float64 if double else np.float32))
        f.write(f" [ {body} ]\n".encode() if len(vec) else b" [ ]\n")


def _write_matrix(f: IO[bytes], mat: np.ndarray, binary: bool, double: bool) -> None:
    mat = np.asarray(mat)
    if mat.ndim != 2:
        raise VibError(f"expected a matrix, got shape {mat.shape}")
    if binary:
        dtype = "<f8" if double else "<f4"
        _write_token(f, "DM" if double else "FM")
        f.write(b"\x04" + struct.pack("<i", mat.shape[0]) + b"\x04" + struct.pack("<i", mat.shape[1]))
        f.write(np.ascontiguousarray(mat.astype(dtype)).tobytes())
    elif mat.shape[1] == 0:
        f.write(b" [ ]\n")
    else:
        typed = mat.astype(np.float64 if double else np.float32)
        rows = "".join(f"\n  {_fmt(row)} " for row in typed)
        f.write(f" [{rows}]\n".encode())


def write_kaldi_vector(wxfilename: str, vec: np.ndarray, binary: bool = True, double: bool = False) -> None:
    """Writes a Kaldi vector object file (``FV``/``DV`` in binary)."""
    with atomic_output(wxfilename, binary=True) as f:
        if binary:
            f.write(_BINARY_HEADER)
        _write_vector(f, vec, binary, double)


def write_kaldi_matrix(wxfilename: str, mat: np.ndarray, binary: bool = True, double: bool = False) -> None:
    """Writes a Kaldi matrix object file (``FM``/``DM`` in binary), e.g. an LDA transform."""
    with atomic_output(wxfilename, binary=True) as f:
        if binary:
            f.write(_BINARY_HEADER)
        _write_matrix(f, mat, binary, double)


def write_plda(wxfilename: str, plda: Plda, binary: bool = True) -> None:
    """Writes ``<Plda> mean(DV) transform(DM) psi(DV) </Plda>`` as Kaldi's ``Plda::Write``."""
    with atomic_output(wxfilename, binary=True) as f:
        if binary:
            f.write(_BINARY_HEADER)
        _write_token(f, "<Plda>")
        _write_vector(f, plda.mean, binary, double=True)
        _write_matrix(f, plda.transform, binary, double=True)
        _write_vector(f, plda.psi, binary, double=True)
        _write_token(f, "</Plda>")


# ---------------------------------------------------------------- reading
class _ObjectReader:
    """Reads Kaldi tokens, vectors and matrices from the bytes of one object file."""

    def __init__(self, data: bytes, name: str):
        self.name = name
        self.binary = data.startswith(_BINARY_HEADER)
        self.data = data
        self.pos = 2 if self.binary else 0

    def _fail(self, what: str) -> VibError:
        return VibError(f"'{self.name}': {what} (at byte {self.pos})")

    def _skip_space(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos:self.pos + 1].isspace():
            self.pos += 1

    def token(self) -> str:
        if not self.binary:
            self._skip_space()
        end = self.pos
        while end < len(self.data) and not self.data[end:end + 1].isspace():
            end += 1
        if end == self.pos:
            raise self._fail("unexpected end of file, expected a token")
        tok = self.data[self.pos:end].decode(errors="replace")
        self.pos = end + 1  # the one space that ends a token
        return tok

    def expect(self, token: str) -> None:
        got = self.token()
        if got != token:
            raise self._fail(f"expected token '{token}', got '{got}'")

    def _int32(self) -> int:
        if self.data[self.pos:self.pos + 1] != b"\x04":
            raise self._fail("expected a 4-byte integer size marker")
        raw = self.data[self.pos + 1:self.pos + 5]
        if len(raw) != 4:
            raise self._fail("truncated file after a size marker")
        (value,) = struct.unpack("<i", raw)
        if value < 0:
            raise self._fail(f"negative size {value}")
        self.pos += 5
        return value

    def _floats(self, count: int, double: bool) -> np.ndarray:
        size = count * (8 if double else 4)
        if count < 0 or self.pos + size > len(self.data):
            raise self._fail(f"truncated data: expected {count} values")
        out = np.frombuffer(self.data, dtype="<f8" if double else "<f4", count=count, offset=self.pos)
        self.pos += size
        return out.astype(np.float64)

    def _text_block(self) -> str:
        self._skip_space()
        if self.data[self.pos:self.pos + 1] != b"[":
            raise self._fail("expected '[' starting a text vector or matrix")
        end = self.data.find(b"]", self.pos)
        if end < 0:
            raise self._fail("no ']' closing a text vector or matrix")
        try:
            body = self.data[self.pos + 1:end].decode("ascii")
        except UnicodeDecodeError:
            raise self._fail("binary bytes inside a text vector or matrix") from None
        self.pos = end + 1
        return body

    def _parse_numbers(self, text: str) -> list[float]:
        try:
            return [float(t) for t in text.split()]
        except ValueError as err:
            raise self._fail(f"bad number in text object: {err}") from None

    def vector(self) -> np.ndarray:
        if not self.binary:
            return np.array(self._parse_numbers(self._text_block()), dtype=np.float64)
        kind = self.token()
        if kind not in ("FV", "DV"):
            raise self._fail(f"expected a vector (FV or DV), got '{kind}'")
        return self._floats(self._int32(), kind == "DV")

    def matrix(self) -> np.ndarray:
        if not self.binary:
            rows = [self._parse_numbers(line) for line in self._text_block().splitlines() if line.strip()]
            if rows and any(len(r) != len(rows[0]) for r in rows):
                raise self._fail("text matrix has rows of different lengths")
            return np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]) if rows else 0)
        kind = self.token()
        if kind not in ("FM", "DM"):
            raise self._fail(f"expected an uncompressed matrix (FM or DM), got '{kind}'")
        rows, cols = self._int32(), self._int32()
        return self._floats(rows * cols, kind == "DM").reshape(rows, cols)

    def finish(self) -> None:
        rest = self.data[self.pos:]
        if rest.strip():
            raise self._fail("unexpected data after the object")


def _reader(rxfilename: str) -> _ObjectReader:
    with open_rxfilename(rxfilename, binary=True) as f:
        return _ObjectReader(f.read(), rxfilename)


def _finite(array: np.ndarray, rxfilename: str) -> np.ndarray:
    if not np.all(np.isfinite(array)):
        raise VibError(f"'{rxfilename}': contains NaN or inf")
    return array


def read_kaldi_vector(rxfilename: str) -> np.ndarray:
    """Reads a Kaldi vector file (binary FV/DV or text) as float64 [D]; NaN/inf is an error."""
    reader = _reader(rxfilename)
    vec = reader.vector()
    reader.finish()
    return _finite(vec, rxfilename)


def read_kaldi_matrix(rxfilename: str) -> np.ndarray:
    """Reads a Kaldi matrix file (binary FM/DM or text) as float64 [R, C]; NaN/inf is an error."""
    reader = _reader(rxfilename)
    mat = reader.matrix()
    reader.finish()
    return _finite(mat, rxfilename)


def read_plda(rxfilename: str) -> Plda:
    """Reads a ``<Plda>`` object written by Kaldi (binary or text) or by us."""
    reader = _reader(rxfilename)
    reader.expect("<Plda>")
    mean, transform, psi = reader.vector(), reader.matrix(), reader.vector()
    reader.expect("</Plda>")
    reader.finish()
    try:
        return Plda(mean, transform, psi)
    except VibError as err:
        raise VibError(f"'{rxfilename}': {err}") from None


# ---------------------------------------------------------------- small tables
def _table_path(spec: str) -> str:
    """The file of a token/int table given as an rspecifier (``ark:f``, ``ark,t:f``) or a plain path."""
    if spec.split(":", 1)[0].split(",")[0] in ("ark", "scp") and ":" in spec:
        parsed = parse_rspecifier(spec)
        if parsed.kind == "scp":
            raise VibError(f"'{spec}': token and integer tables must be archives (ark:), not scp")
        return parsed.path
    return spec


def read_token_table(spec: str) -> dict[str, list[str]]:
    """Reads ``key tok1 tok2 ...`` lines (spk2utt, utt2spk); a repeated key is an error."""
    path = _table_path(spec)
    out: dict[str, list[str]] = {}
    for lineno, fields in read_text_table(path, min_fields=2):
        if fields[0] in out:
            raise VibError(f"{path}:{lineno}: key '{fields[0]}' appears twice")
        out[fields[0]] = fields[1:]
    return out


def read_int_table(spec: str) -> dict[str, int]:
    """Reads an int32 table such as ``num_utts.ark``, text (``key 3``) or Kaldi binary."""
    path = _table_path(spec)
    with open_rxfilename(path, binary=True) as f:
        data = f.read()
    out: dict[str, int] = {}
    if b"\0B" in data[:4096]:
        pos = 0
        while pos < len(data):
            space = data.find(b" ", pos)
            if space < 0 or data[space + 1:space + 4] != b"\0B\x04":
                raise VibError(f"'{path}': malformed binary int32 table near byte {pos}")
            raw = data[space + 4:space + 8]
            if len(raw) != 4:
                raise VibError(f"'{path}': truncated binary int32 table at byte {space + 4}")
            key = data[pos:space].decode(errors="replace")
            (out[key],) = struct.unpack("<i", raw)
            pos = space + 8
        return out
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise VibError(f"'{path}': not a text or Kaldi binary int32 table (byte {err.start} is not text)") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise VibError(f"{path}:{lineno}: expected 'key integer', got '{line}'")
        try:
            out[fields[0]] = int(fields[1])
        except ValueError:
            raise VibError(f"{path}:{lineno}: '{fields[1]}' is not an integer") from None
    return out


def write_int_table(wspec: str, table: dict[str, int]) -> None:
    """Writes an int32 table in Kaldi text form (``ark,t:FILE``) or binary (``ark:FILE``)."""
    spec = parse_wspecifier(wspec)
    if spec.scp is not None:
        raise VibError(f"'{wspec}': integer tables are written as a plain archive (ark:FILE or ark,t:FILE)")
    text = spec.text
    with atomic_output(spec.ark, binary=True) as f:
        for key, value in table.items():
            if text:
                f.write(f"{key} {int(value)}\n".encode())
            else:
                f.write(key.encode() + b" \0B\x04" + struct.pack("<i", int(value)))


__all__ = [
    "Plda", "read_int_table", "read_kaldi_matrix", "read_kaldi_vector", "read_plda", "read_token_table",
    "write_int_table", "write_kaldi_matrix", "write_kaldi_vector", "write_plda",
]
