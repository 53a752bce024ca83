"""Reading embedding tables into one matrix, with the checks every back-end tool needs."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vib.backend.trials import index_keys
from vib.errors import VibError
from vib.io.tables import read_table


def _check_shape(key: str, vec: np.ndarray, dim: int | None, source: str) -> np.ndarray:
    vec = np.asarray(vec)
    if vec.ndim != 1:
        raise VibError(f"{source}: '{key}' is not a vector (shape {vec.shape})")
    if dim is not None and vec.shape[0] != dim:
        raise VibError(f"{source}: '{key}' has dimension {vec.shape[0]}, expected {dim}")
    return vec


def load_vectors(rspecifier: str, dim: int | None = None) -> tuple[list[str], np.ndarray]:
    """Reads a vector table: keys in file order and a float32 matrix [N, D].
    Errors name the key for a repeated key, NaN/inf, or a dimension other than ``dim``
    (or than the first vector's)."""
    keys: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    for key, vec in read_table(rspecifier):
        vec = _check_shape(key, vec, dim, rspecifier)
        dim = vec.shape[0]
        if key in seen:
            raise VibError(f"{rspecifier}: key '{key}' appears twice")
        seen.add(key)
        keys.append(key)
        rows.append(vec)
    if not rows:
        raise VibError(f"{rspecifier}: no vectors read")
    matrix = np.stack(rows).astype(np.float32, copy=False)
    finite = np.isfinite(matrix).all(axis=1)  # one pass over the matrix, not one call per vector
    if not finite.all():
        raise VibError(f"{rspecifier}: '{keys[int(np.argmin(finite))]}' contains NaN or inf")
    return keys, matrix


def vectors_for_keys(rspecifier: str, keys: Sequence[str], what: str, dim: int | None = None) -> np.ndarray:
    """The rows ``[len(keys), D]`` of a vector table (:func:`load_vectors`) in the order of ``keys``;
    a key the table lacks is an error naming it: ``<rspecifier>: no <what> for '<key>'``."""
    table_keys, table = load_vectors(rspecifier, dim)
    rows = index_keys(list(keys), {k: i for i, k in enumerate(table_keys)})
    if (rows < 0).any():
        raise VibError(f"{rspecifier}: no {what} for '{keys[int(np.flatnonzero(rows < 0)[0])]}'")
    return table[rows]
