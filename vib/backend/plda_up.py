"""PLDA with uncertainty propagation: each utterance's own covariance added to the within-class one.

A VIB extractor predicts a posterior variance ``sigma^2 [D_in]`` around every embedding. In
the PLDA space (Kaldi's ``Plda``: within-class covariance I, between-class ``diag(psi)``) an
utterance u is ``y + e + d`` with the speaker ``y ~ N(0, diag(psi))``, the within-class noise
``e ~ N(0, I)`` and its own uncertainty ``d ~ N(0, S_u)``, where ``S_u = f^2 M diag(sigma^2) M^T``
is the variance carried through every linear step before the PLDA (mean removal: none; LDA and
the PLDA transform: ``M``, their product; length normalisation and Kaldi's PLDA length
normalisation: the factor ``f`` by which they scale that vector). **Approximation**: of S_u only
the diagonal ``s = f^2 (M * M) sigma^2`` is kept, so the dimensions stay independent and the LLR is
a sum over dimensions (``tests/backend/test_plda_up.py`` measures the error against the full
covariance on small dimensions).

Per dimension, with ``w = 1 + s``: enrollment utterances ``j`` give the precision ``P = sum 1/w_j``
and ``S = sum u_j / w_j``; the speaker's posterior is ``N(m, v)``, ``v = 1 / (1/psi + P)``,
``m = v S``; a test vector ``t`` (own ``w_t``) scores

    llr = sum_k log N(t_k; m_k, v_k + w_tk) - log N(t_k; 0, psi_k + w_tk),

which for ``s = 0`` and one enrollment utterance (or Kaldi's ``--num-utts n`` average, P = n)
is Kaldi's ``Plda::LogLikelihoodRatio``.
"""
from __future__ import annotations

import numpy as np

from vib.errors import VibError
from vib.io.kaldi_objects import Plda


def plda_space_variance(linear: np.ndarray, var: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Diagonal ``[N, D]`` of ``scale^2 M diag(var) M^T`` for input variances ``var [N, D_in]``, the
    linear map ``M [D, D_in]`` into the PLDA space and per-vector scales ``[N]`` (length norms)."""
    var = np.asarray(var, dtype=np.float64)
    if var.ndim != 2 or var.shape[1] != linear.shape[1]:
        raise VibError(f"variances of dimension {var.shape[-1]} do not fit a map from dimension {linear.shape[1]}")
    if not (np.isfinite(var).all() and (var >= 0).all()):
        raise VibError("variances must be finite and non-negative")
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (var.shape[0],))
    return (var @ (linear * linear).T) * (scale * scale)[:, None]


def enrollment_posterior(plda: Plda, vectors: np.ndarray, var: np.ndarray, groups: np.ndarray | None = None,
                         num_groups: int | None = None, counts: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The speaker posterior ``(m, v)`` ``[G, D]`` of enrollments from PLDA-space vectors ``[N, D]``
    and their uncertainty variances ``[N, D]``; ``groups [N]`` assigns vectors to enrollments
    (default: one each), whose precisions add up. ``counts [N]``: a vector that is the average of
    n utterances (Kaldi's ``--num-utts``) counts as n utterances of its uncertainty, precision
    ``n / (1 + s)``."""
    vectors, var = np.asarray(vectors, np.float64), np.asarray(var, np.float64)
    if vectors.shape != var.shape:
        raise VibError(f"vectors {vectors.shape} and variances {var.shape} differ in shape")
    precision = (1.0 if counts is None else np.asarray(counts, np.float64)[:, None]) / (1.0 + var)
    if groups is None:
        p_sum, s_sum = precision, vectors * precision
    else:
        count = int(num_groups if num_groups is not None else groups.max() + 1)
        p_sum = np.zeros((count, vectors.shape[1]))
        s_sum = np.zeros_like(p_sum)
        np.add.at(p_sum, groups, precision)
        np.add.at(s_sum, groups, vectors * precision)
    v = 1.0 / (1.0 / plda.psi + p_sum)
    return v * s_sum, v


def up_trial_scores(plda: Plda, enroll_mean: np.ndarray, enroll_var: np.ndarray, test: np.ndarray,
                    test_var: np.ndarray, ei: np.ndarray, ti: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """LLRs ``[M]`` (float64) of trials ``(ei[k], ti[k])``: enrollment posteriors ``(m, v)`` ``[E, D]``
    (:func:`enrollment_posterior`), PLDA-space test vectors and their variances ``[T, D]``. The
    per-trial, per-dimension terms run in float32 in place (about 1e-5 of an LLR of 256
    dimensions: below the 7 digits the scores are written with), each trial's sum in float64."""
    psi = plda.psi
    t_all, w_all = np.asarray(test, np.float64), 1.0 + np.asarray(test_var, np.float64)
    # the non-target term depends on the test side only: once per test vector
    non_var = psi + w_all
    non = -0.5 * (np.log(non_var) + t_all * t_all / non_var).sum(axis=1)
    mean32, var32 = np.asarray(enroll_mean, np.float32), np.asarray(enroll_var, np.float32)
    t32, w32 = t_all.astype(np.float32), w_all.astype(np.float32)
    out = np.empty(len(ei))
    for start in range(0, len(ei), chunk):
        e, t = ei[start:start + chunk], ti[start:start + chunk]
        tar_var = np.take(var32, e, axis=0)
        tar_var += np.take(w32, t, axis=0)
        diff = np.take(t32, t, axis=0)
        diff -= np.take(mean32, e, axis=0)
        np.square(diff, out=diff)
        diff /= tar_var
        np.log(tar_var, out=tar_var)
        tar_var += diff
        out[start:start + chunk] = -0.5 * tar_var.sum(axis=1, dtype=np.float64) - non[t]
    return out


__all__ = ["enrollment_posterior", "plda_space_variance", "up_trial_scores"]
