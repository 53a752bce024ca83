"""Per-vector transforms: Kaldi's transform-vec and ivector-normalize-length."""
from __future__ import annotations

import numpy as np

from vib.errors import VibError


def apply_transform(transform: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Kaldi's transform-vec: linear [R, D] or affine [R, D + 1] applied to vectors [N, D] -> [N, R] float32."""
    transform = transform.astype(np.float32)
    dim = vectors.shape[1]
    if transform.shape[1] == dim:
        return vectors.astype(np.float32) @ transform.T
    if transform.shape[1] != dim + 1:
        raise VibError(f"Dimension mismatch: input vector has dimension {dim} and transform has "
                       f"{transform.shape[1]} columns")
    return vectors.astype(np.float32) @ transform[:, :dim].T + transform[:, dim]


def normalize_length(vectors: np.ndarray, scaleup: bool = True) -> np.ndarray:
    """Kaldi's ivector-normalize-length: scale to norm sqrt(D) (``scaleup``) or 1; zero vectors stay zero."""
    vectors = vectors.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    ratio = norms / np.float32(np.sqrt(vectors.shape[1])) if scaleup else norms
    ratio = np.where(ratio == 0, np.float32(1), ratio).astype(np.float32)
    return vectors / ratio[:, None]
