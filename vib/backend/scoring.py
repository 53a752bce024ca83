"""Vectorised trial scoring: score(e, t) = left[e] . right[t] + offset[e].

Cosine and PLDA both reduce to this form (see :mod:`vib.backend.cosine` and
:func:`vib.backend.plda.llr_enroll_side`), so one routine scores any trial list:
trials are grouped by enrollment block; a block whose trials cover its
(enroll x test) rectangle densely is scored with one matrix product, a sparse
block with row-wise dot products on gathered rows.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

_BLOCK_ROWS = 256       # enrollment vectors per block
_GATHER_CHUNK = 32768   # trials per gathered chunk in the sparse path
# A matrix product does ~30x more multiply-adds per second than row-wise dots on gathered
# rows, so it wins whenever the trials fill more than ~1/32 of the block's rectangle.
_DENSITY = 1 / 32


def _row_dots(left: np.ndarray, right: np.ndarray, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    out = np.empty(li.shape[0], dtype=np.float64)
    for start in range(0, li.shape[0], _GATHER_CHUNK):
        sl = slice(start, start + _GATHER_CHUNK)
        out[sl] = np.einsum("ij,ij->i", left[li[sl]], right[ri[sl]])
    return out


def score_trials(left: np.ndarray, right: np.ndarray, li: np.ndarray, ri: np.ndarray,
                 offset: np.ndarray | None = None) -> np.ndarray:
    """Scores of trials (li[k], ri[k]): left [E, K], right [T, K], indices [M] -> float64 [M]."""
    li = np.asarray(li, dtype=np.int64)
    ri = np.asarray(ri, dtype=np.int64)
    scores = np.empty(li.shape[0], dtype=np.float64)
    num_blocks = (left.shape[0] + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    block_of = li // _BLOCK_ROWS
    # a stable sort of small integers is a radix sort: much faster than sorting li itself
    order = np.argsort(block_of.astype(np.uint16 if num_blocks < 2 ** 16 else np.int64), kind="stable")
    bounds = np.searchsorted(block_of[order], np.arange(num_blocks + 1))
    used_mask = np.zeros(right.shape[0], dtype=bool)
    for b in range(num_blocks):
        lo, hi = bounds[b], bounds[b + 1]
        if lo == hi:
            continue
        idx = order[lo:hi]
        bl, br = li[idx], ri[idx]
        first = b * _BLOCK_ROWS
        rows = min(_BLOCK_ROWS, left.shape[0] - first)
        used_mask[:] = False
        used_mask[br] = True
        used = np.flatnonzero(used_mask)
        if 2 * used.shape[0] > right.shape[0]:  # most columns used: multiply by all of right, no copy
            scores[idx] = (left[first:first + rows] @ right.T)[bl - first, br]
        elif (hi - lo) >= _DENSITY * rows * used.shape[0]:
            local = np.cumsum(used_mask) - 1  # column of each used right row in the block
            block = left[first:first + rows] @ right[used].T
            scores[idx] = block[bl - first, local[br]]
        else:
            scores[idx] = _row_dots(left, right, bl, br)
    if offset is not None:
        scores += offset[li]
    return scores


def score_blocks(left: np.ndarray, right: np.ndarray, offset: np.ndarray | None = None,
                 max_cells: int = 4_000_000) -> Iterator[tuple[slice, np.ndarray]]:
    """All-pairs scores in row blocks: yields (rows of ``left``, scores [rows, T] float64)."""
    step = max(1, max_cells // max(1, right.shape[0]))
    for start in range(0, left.shape[0], step):
        rows = slice(start, min(start + step, left.shape[0]))
        block = left[rows].astype(np.float64) @ right.T.astype(np.float64)
        if offset is not None:
            block += offset[rows, None]
        yield rows, block
