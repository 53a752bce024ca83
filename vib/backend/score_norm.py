"""Score normalisation with a cohort: z-norm, t-norm, s-norm and adaptive s-norm.

For a trial (e, t) with raw score s, the enrollment side is scored against every
cohort vector and so is the test side. With mu_e, sd_e the mean and standard
deviation (ddof 0) of e's cohort scores (only its ``top_n`` highest for
adaptive s-norm) and mu_t, sd_t those of t:
  z-norm  (s - mu_e) / sd_e          t-norm  (s - mu_t) / sd_t
  s-norm / as-norm  ((s - mu_e) / sd_e + (s - mu_t) / sd_t) / 2
"""
from __future__ import annotations

import numpy as np

from vib.backend.scoring import score_blocks
from vib.errors import VibError

METHODS = ("znorm", "tnorm", "snorm", "asnorm")


def cohort_stats(left: np.ndarray, right: np.ndarray, offset: np.ndarray | None = None,
                 top_n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std [N] of each row of left's scores against all of right (or its top_n highest)."""
    mean = np.empty(left.shape[0])
    std = np.empty(left.shape[0])
    num = right.shape[0]
    for rows, block in score_blocks(left, right, offset):
        if top_n is not None and top_n < num:
            block = np.partition(block, num - top_n, axis=1)[:, num - top_n:]
        mean[rows] = block.mean(axis=1)
        std[rows] = block.std(axis=1)
    return mean, std


def cohort_stats_of_probes(cohort_left: np.ndarray, cohort_offset: np.ndarray, probe_right: np.ndarray,
                           top_n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stats [T] of each probe's scores when the cohort is the enrolled side (PLDA t-norm):
    score(c, t) = cohort_left[c] . probe_right[t] + cohort_offset[c], computed as rows per
    probe by carrying the offset in an extra column of ones."""
    left = np.concatenate([probe_right, np.ones((probe_right.shape[0], 1))], axis=1)
    right = np.concatenate([cohort_left, cohort_offset[:, None]], axis=1)
    return cohort_stats(left, right, None, top_n)


def normalize(scores: np.ndarray, method: str, enroll_stats: tuple[np.ndarray, np.ndarray] | None,
              test_stats: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Applies ``method`` to trial scores [M] given per-trial (mean, std) of each side."""
    if method not in METHODS:
        raise VibError(f"unknown score normalisation '{method}'; choose one of {', '.join(METHODS)}")
    parts = []
    if method in ("znorm", "snorm", "asnorm"):
        mean, std = enroll_stats
        parts.append((scores - mean) / std)
    if method in ("tnorm", "snorm", "asnorm"):
        mean, std = test_stats
        parts.append((scores - mean) / std)
    return sum(parts) / len(parts)
