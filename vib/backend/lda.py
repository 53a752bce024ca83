"""LDA as Kaldi's ivector-compute-lda estimates it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vib.backend.mean import sum_by_group
from vib.errors import VibError


def _normalizing_transform(covar: np.ndarray, floor: float) -> np.ndarray:
    """P with P covar P^T = I: eigenvalues sorted descending, floored at floor * largest. [D, D]."""
    s, u = np.linalg.eigh(covar)
    order = np.argsort(-s, kind="stable")
    s, u = s[order], u[:, order]
    s = np.maximum(s, floor * s[0])
    return (u / np.sqrt(s)).T


@dataclass(frozen=True)
class LdaConfig:
    """The options of Kaldi's ivector-compute-lda (``vib.cli.add_config_options`` makes the tool's
    options from these fields)."""

    dim: int = field(default=100, metadata={"help": "dimension kept"})
    total_covariance_factor: float = field(default=0.0, metadata={
        "help": "0: normalise the within-class covariance; 1: the total"})
    covariance_floor: float = field(default=1e-6, metadata={
        "help": "floor of eigenvalues relative to the largest"})


def compute_lda(vectors: np.ndarray, speaker: np.ndarray, config: LdaConfig = LdaConfig()) -> np.ndarray:
    """Kaldi's ivector-compute-lda. vectors [N, D] (float32), speaker [N] int labels.

    Subtracts the global mean; normalises the interpolated covariance
    (1 - f) * within + f * total to unit; diagonalises the between-class covariance
    and keeps the ``config.dim`` directions with the largest between-class variance.
    Returns the affine transform [dim, D + 1] (float32), last column = -A @ mean.
    Errors, as Kaldi: no speaker with 2+ vectors; fewer vectors than dimensions.
    """
    dim, total_covariance_factor = config.dim, config.total_covariance_factor
    num, in_dim = vectors.shape
    if not 0 < dim <= in_dim:
        raise VibError(f"LDA dimension {dim} must be between 1 and the input dimension {in_dim}")
    num_spk = int(speaker.max()) + 1 if num else 0
    if num - num_spk == 0:
        raise VibError(f"no speaker has two or more vectors ({num_spk} speakers, {num} vectors): "
                       "the within-class covariance would be zero")
    if num < in_dim:
        raise VibError(f"Too little data for iVector dimension: {num} vectors for dimension {in_dim}")
    mean = vectors.astype(np.float64).mean(axis=0).astype(np.float32)
    centered = (vectors.astype(np.float32) - mean).astype(np.float64)
    counts = np.bincount(speaker, minlength=num_spk).astype(np.float64)
    spk_means = sum_by_group(centered, speaker, num_spk) / counts[:, None]
    total = centered.T @ centered / num
    between = (spk_means * counts[:, None]).T @ spk_means / num
    within = total - between
    to_normalize = total_covariance_factor * total + (1.0 - total_covariance_factor) * within
    norm = _normalizing_transform(to_normalize, config.covariance_floor)
    between_proj = norm @ (total - within) @ norm.T
    s, u = np.linalg.eigh((between_proj + between_proj.T) / 2)
    order = np.argsort(-s, kind="stable")
    linear = (u[:, order[:dim]].T @ norm).astype(np.float32)
    offset = -(linear @ mean)
    return np.concatenate([linear, offset[:, None]], axis=1)

