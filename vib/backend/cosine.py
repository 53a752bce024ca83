"""Cosine scoring: cos(e, t) = e . t / (|e| |t|)."""
from __future__ import annotations

import numpy as np

from vib.errors import VibError


def unit_rows(vectors: np.ndarray, keys: list[str] | None = None) -> np.ndarray:
    """Rows scaled to unit length, float64 [N, D]; a zero vector is an error naming its key."""
    x = vectors.astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        name = keys[zero[0]] if keys is not None else f"row {zero[0]}"
        raise VibError(f"vector '{name}' is all zeros: its cosine score is undefined")
    return x / norms[:, None]
