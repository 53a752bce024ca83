"""One Kaldi table record (a float vector or matrix) read from a byte stream, strictly.

Only Kaldi's own holder types are accepted: binary ``FV``/``DV`` vectors,
``FM``/``DM`` matrices, compressed ``CM``/``CM2``/``CM3`` matrices, and text
vectors `` [ 1 2 3 ]`` / matrices `` [\\n 1 2 \\n 3 4 ]``. Anything else that
kaldiio would also read — ``PKL`` (a Python pickle, i.e. code), ``NPY``,
``RIFF``/``fLaC`` audio, ``AUDIO`` — is refused, and so is a record whose bytes
fall short of what its header claims (sizes are checked before anything is
allocated). Errors are :class:`RecordError` naming the file and key.
"""
from __future__ import annotations

import io
import re
import struct
from typing import IO

import numpy as np
from kaldiio.matio import read_matrix_or_vector

from vib.errors import VibError

BINARY_TYPES = ("FV", "DV", "FM", "DM", "CM", "CM2", "CM3")
_ITEM = {"FV": 4, "DV": 8, "FM": 4, "DM": 8}
_CHUNK = 1 << 24  # read big records in 16 MiB pieces: a lying header allocates nothing
_BLOCK = 1 << 13  # look-ahead buffer: a few small records (an scp entry reads one block at most)
_SPACE = re.compile(rb"[ \t\n\r\x0b\x0c]")  # bytes.isspace()


class RecordError(VibError):
    """A table record that is not a well-formed Kaldi float vector or matrix."""


class ByteStream:
    """A forward-only reader over a binary file object, with look-ahead (:meth:`peek`,
    :meth:`token`, :meth:`until` search a buffer of up to 8 KiB instead of reading byte by
    byte); ``name`` (the file) goes into every error message."""

    def __init__(self, fd: IO[bytes], name: str):
        self.fd, self.name = fd, name
        self._buf, self._pos = b"", 0
        self._read_some = getattr(fd, "read1", fd.read)  # what a pipe has now, not a full block

    def _more(self) -> bool:
        """Appends a block to what is left of the buffer; False at the end of the stream."""
        block = self._read_some(_BLOCK)
        if not block:
            return False
        self._buf, self._pos = self._buf[self._pos:] + block, 0
        return True

    def read(self, count: int) -> bytes:
        """Up to ``count`` bytes (fewer only at the end of the stream)."""
        if count <= 0:
            return b""
        end = self._pos + count
        if end <= len(self._buf):
            out, self._pos = self._buf[self._pos:end], end
            return out
        parts, need = [self._buf[self._pos:]], count - (len(self._buf) - self._pos)
        self._buf, self._pos = b"", 0
        while need > 0:
            block = self.fd.read(min(need, _CHUNK))
            if not block:
                break
            parts.append(block)
            need -= len(block)
        return b"".join(parts)

    def peek(self) -> bytes:
        """The next byte without consuming it (b"" at the end)."""
        if self._pos >= len(self._buf) and not self._more():
            return b""
        return self._buf[self._pos:self._pos + 1]

    def skip_space(self) -> None:
        while self.peek().isspace():
            self._pos += 1

    def token(self, limit: int = 4096) -> bytes:
        """Bytes up to the next whitespace (consumed, one byte); b"" at the end."""
        while True:
            found = _SPACE.search(self._buf, self._pos, self._pos + limit + 1)
            if found:
                out, self._pos = self._buf[self._pos:found.start()], found.end()
                return out
            if len(self._buf) - self._pos > limit:
                raise RecordError(f"'{self.name}': a token longer than {limit} bytes (not a Kaldi table?)")
            if not self._more():
                out, self._buf, self._pos = self._buf[self._pos:], b"", 0
                return out

    def until(self, stop: bytes, limit: int = 1 << 30) -> bytes:
        """Bytes up to and including the byte ``stop``; an error at the end of the stream."""
        out = bytearray()
        while len(out) <= limit:
            cut = self._buf.find(stop, self._pos)
            if cut >= 0:
                out += self._buf[self._pos:cut + 1]
                self._pos = cut + 1
                return bytes(out)
            out += self._buf[self._pos:]
            self._buf, self._pos = b"", 0
            if not self._more():
                raise RecordError(f"'{self.name}': unexpected end of file, no '{stop.decode()}' closing a record")
        raise RecordError(f"'{self.name}': a text record longer than {limit} bytes")


def _exact(stream: ByteStream, count: int, where: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise RecordError(f"{where}: truncated record: {count} bytes expected, {len(data)} present")
    return data


def _int32(stream: ByteStream, where: str) -> int:
    raw = _exact(stream, 5, where)
    if raw[:1] != b"\x04":
        raise RecordError(f"{where}: expected a 4-byte size marker, got byte {raw[:1]!r}")
    (value,) = struct.unpack("<i", raw[1:])
    if value < 0:
        raise RecordError(f"{where}: negative size {value} in the header")
    return value


def _read_binary(stream: ByteStream, where: str) -> np.ndarray:
    kind = stream.token(8).decode(errors="replace")
    if kind not in BINARY_TYPES:
        raise RecordError(f"{where}: unsupported binary record type '{kind}' "
                          f"(only Kaldi's {', '.join(BINARY_TYPES)} are read)")
    if kind in _ITEM:
        dims = (_int32(stream, where),) if kind.endswith("V") else (_int32(stream, where), _int32(stream, where))
        count = int(np.prod(dims, dtype=np.int64))
        data = _exact(stream, count * _ITEM[kind], where)
        return np.frombuffer(data, dtype="<f4" if _ITEM[kind] == 4 else "<f8").reshape(dims)
    header = _exact(stream, 16, where)  # min, range (float32), rows, cols (int32)
    rows, cols = struct.unpack("<ii", header[8:])
    if rows < 0 or cols < 0:
        raise RecordError(f"{where}: negative size {rows} x {cols} in the compressed-matrix header")
    payload = {"CM": 8 * cols + rows * cols, "CM2": 2 * rows * cols, "CM3": rows * cols}[kind]
    body = _exact(stream, payload, where)
    array = read_matrix_or_vector(io.BytesIO(b"\0B" + kind.encode() + b" " + header + body))
    return np.asarray(array, dtype=np.float32).reshape(rows, cols)


def _read_text(stream: ByteStream, where: str) -> np.ndarray:
    stream.skip_space()
    if stream.peek() != b"[":
        got = stream.read(8)
        raise RecordError(f"{where}: not a Kaldi record: starts with {got!r} "
                          f"(expected binary '\\0B' or a text '[')")
    body = stream.until(b"]")[1:-1]
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise RecordError(f"{where}: a text record holds non-text bytes") from None
    is_matrix = text.lstrip(" \t\r").startswith("\n")
    try:
        rows = [[float(t) for t in line.split()] for line in text.splitlines() if line.strip()]
    except ValueError as err:
        raise RecordError(f"{where}: bad number in a text record ({err})") from None
    if not is_matrix:
        return np.array([v for row in rows for v in row], dtype=np.float32)
    if any(len(r) != len(rows[0]) for r in rows):
        raise RecordError(f"{where}: a text matrix with rows of different lengths")
    return np.array(rows, dtype=np.float32).reshape(len(rows), len(rows[0]) if rows else 0)


def read_record(stream: ByteStream, where: str) -> np.ndarray:
    """Reads one vector [D] or matrix [R, C] at the stream's position (after the key);
    ``where`` (file and key) starts every error message."""
    if stream.peek() == b"\0":
        if _exact(stream, 2, where) != b"\0B":
            raise RecordError(f"{where}: unsupported record (a NUL byte not followed by 'B')")
        return _read_binary(stream, where)
    head = stream.peek()
    if head and not head.isspace() and head != b"[":
        sniff = stream.read(4)
        raise RecordError(f"{where}: unsupported record type starting with {sniff!r} (only Kaldi's "
                          f"{', '.join(BINARY_TYPES)} and text vectors/matrices are read)")
    return _read_text(stream, where)


__all__ = ["BINARY_TYPES", "ByteStream", "RecordError", "read_record"]
