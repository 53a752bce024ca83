"""Text tables built with array operations: cells of keys and numbers joined into lines.

A cell column is a zero-padded uint8 matrix ``[N, W]`` holding one left-aligned text cell per row
(text never holds a NUL byte). A million score lines are written this way in a fraction of
the time of one Python format call per line, and the numbers are byte-identical to
``"%.7g" % x`` (C++'s default stream format at precision 7, which Kaldi's tools print).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

_WIDTH = 16  # longest '%.7g' of a float64: '-1.234567e-308' (14 bytes)
_POW10 = 10.0 ** np.arange(-300, 301, dtype=np.float64)  # _POW10[300 + k] = 10^k
# Source columns of a number's row (see _layout): its 7 digits, then these characters.
_POINT, _ZERO, _MINUS, _E, _ESIGN, _E100, _E10, _E1, _NUL = range(7, 16)
_DIGITS_4 = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8)  # [10^4, 4]
_NUM_ECLASS = 13  # %g in fixed notation for exponents -4..6 (classes 0-10), else 2- or 3-digit exponent


@lru_cache(maxsize=None)
def _layout(negative: bool, eclass: int, ndig: int) -> tuple[int, ...]:
    """Source columns of '%.7g' for a sign, an exponent class and the digits kept (1-7)."""
    cols = [_MINUS] if negative else []
    if eclass < 11:
        e = eclass - 4
        if e >= 0:  # integer part of e + 1 digits (zeros of the mantissa included), then the rest
            cols += list(range(e + 1)) + ([_POINT, *range(e + 1, ndig)] if ndig > e + 1 else [])
        else:  # 0.000ddd
            cols += [_ZERO, _POINT] + [_ZERO] * (-e - 1) + list(range(ndig))
    else:
        cols += [0] + ([_POINT, *range(1, ndig)] if ndig > 1 else [])
        cols += [_E, _ESIGN] + ([_E100] if eclass == 12 else []) + [_E10, _E1]
    return tuple(cols + [_NUL] * (_WIDTH - len(cols)))


_LAYOUTS = np.array([_layout(bool(s), c, n) for s in (0, 1) for c in range(_NUM_ECLASS) for n in range(1, 8)],
                    dtype=np.uint8)  # [2 * 13 * 7, 16]


def float_cells(values: np.ndarray) -> np.ndarray:
    """``'%.7g' % x`` of every value [N] -> cells [N, 16].

    The 7-digit mantissa comes from one scaled rint in float64; values whose scaled fraction
    lies within 1e-6 of a rounding tie, non-finite values and magnitudes beyond 1e+-290 are
    formatted by Python instead, so every cell equals Python's correctly rounded text."""
    v = np.asarray(values, dtype=np.float64).ravel()
    a = np.abs(v)
    zero = a == 0
    python = ~np.isfinite(v) | (a < 1e-290) & ~zero | (a > 1e290)
    safe = np.where(python | zero, 1.0, a)
    e = np.floor(np.log10(safe)).astype(np.int64)
    e -= safe * _POW10[306 - e] < 999_999.5  # log10 rounded up: one digit short
    e += safe * _POW10[306 - e] >= 9_999_999.5  # rounds up to one more digit
    scaled = safe * _POW10[306 - e]
    for x in (scaled, safe * _POW10[307 - e]):  # near a tie at this or the next exponent
        python |= np.abs(x - np.floor(x) - 0.5) < 1e-6
    mant = np.rint(scaled).astype(np.int64)
    mant[zero], e[zero] = 0, 0
    src = np.empty((v.size, _WIDTH), dtype=np.uint8)
    src[:, 0:3] = _DIGITS_4[mant // 10_000, 1:]
    src[:, 3:7] = _DIGITS_4[mant % 10_000]
    src[:, _POINT], src[:, _ZERO], src[:, _MINUS], src[:, _E], src[:, _NUL] = ord("."), ord("0"), ord("-"), ord("e"), 0
    src[:, _ESIGN] = np.where(e < 0, ord("-"), ord("+"))
    src[:, _E100:_E1 + 1] = _DIGITS_4[np.minimum(np.abs(e), 999), 1:]
    trailing = (mant[:, None] % (10 ** np.arange(1, 7))[None, :] == 0).sum(1)  # trailing zeros, 0-6
    ndig = np.where(zero, 1, 7 - trailing)
    eclass = np.where((e >= -4) & (e < 7), e + 4, np.where(np.abs(e) >= 100, 12, 11))
    combo = (np.signbit(v) * _NUM_ECLASS + eclass) * 7 + ndig - 1
    out = np.take_along_axis(src, _LAYOUTS[combo], axis=1)
    for i in np.flatnonzero(python):
        text = np.frombuffer(("%.7g" % v[i]).encode(), dtype=np.uint8)
        out[i] = 0
        out[i, :text.size] = text
    return out


def key_cells(keys: Sequence[str]) -> np.ndarray:
    """UTF-8 cells of ``keys`` [K] -> [K, longest key in bytes]."""
    if not len(keys):
        return np.zeros((0, 1), dtype=np.uint8)
    wide = np.array(keys, dtype=str)
    codes = wide.view(np.uint32).reshape(len(keys), -1)
    if codes.max(initial=0) < 128:
        return codes.astype(np.uint8)
    encoded = np.array([k.encode() for k in keys], dtype=bytes)
    return encoded.view(np.uint8).reshape(len(keys), -1)


def join_cells(columns: Sequence[np.ndarray | tuple[np.ndarray, np.ndarray]], sep: bytes = b" ",
               end: bytes = b"\n") -> bytes:
    """Lines of cells separated by ``sep`` and ended by ``end`` (one byte each). A column is cells
    [N, W] or (cells [K, W], rows [N]): line n then holds ``cells[rows[n]]`` (a key table and the
    trials' indices into it, gathered straight into the output)."""
    columns = [c if isinstance(c, tuple) else (c, None) for c in columns]
    n = len(columns[0][1]) if columns[0][1] is not None else columns[0][0].shape[0]
    table = np.empty((n, sum(cells.shape[1] + 1 for cells, _ in columns)), dtype=np.uint8)
    at = 0
    for k, (cells, rows) in enumerate(columns):
        cell = np.zeros((cells.shape[0], cells.shape[1] + 1), dtype=np.uint8)
        cell[:, :-1] = cells
        cell[np.arange(cells.shape[0]), (cells != 0).sum(1)] = (end if k == len(columns) - 1 else sep)[0]
        if rows is None:
            table[:, at:at + cell.shape[1]] = cell
        else:
            np.take(cell, rows, axis=0, out=table[:, at:at + cell.shape[1]], mode="clip")
        at += cell.shape[1]
    return table[table != 0].tobytes()
