"""Two-covariance PLDA exactly as Kaldi estimates and scores it (ivector/plda.cc).

Model: x = mean + y + e, y ~ N(0, B) (between speakers), e ~ N(0, W) (within).
The stored :class:`~vib.io.kaldi_objects.Plda` holds mean, transform T and psi
with T W T^T = I and T B T^T = diag(psi), psi sorted descending.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from vib.backend.mean import sum_by_group
from vib.backend.scoring import score_trials
from vib.errors import VibError
from vib.io.kaldi_objects import Plda


@dataclass(frozen=True)
class PldaConfig:
    """Kaldi's ``PldaConfig``: length normalisation at scoring time (``vib.cli.add_config_options``
    makes the tools' options from these fields)."""

    normalize_length: bool = field(default=True, metadata={
        "help": "length-normalise in the PLDA space so that u^T (psi + I/n)^-1 u = dim"})
    simple_length_normalization: bool = field(default=False, metadata={
        "help": "instead normalise to length sqrt(dim)"})


@dataclass(frozen=True)
class PldaEstimationConfig:
    """Kaldi's ``PldaEstimationConfig``."""

    num_em_iters: int = field(default=10, metadata={"help": "E-M iterations"})


@dataclass
class PldaStats:
    """Sufficient statistics of PldaStats::AddSamples with weight 1 per speaker.

    counts [S] vectors per speaker, sorted ascending (Kaldi sorts classes by count);
    means [S, D] speaker means; scatter [D, D] = sum over vectors of (x - m_s)(x - m_s)^T.
    """

    counts: np.ndarray
    means: np.ndarray
    scatter: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])


def plda_stats(vectors: np.ndarray, speaker: np.ndarray) -> PldaStats:
    """Statistics from vectors [N, D] with integer speaker labels [N] (0..S-1, each used).

    Errors, as Kaldi's ivector-compute-plda: no speaker with two or more vectors;
    and (our check, the model would be degenerate) N <= D.
    """
    x = vectors.astype(np.float64)
    num, dim = x.shape
    counts = np.bincount(speaker)
    if num == 0 or counts.size == 0:
        raise VibError("No stats accumulated, unable to estimate PLDA.")
    if np.all(counts <= 1):
        raise VibError("No speakers with multiple utterances, unable to estimate PLDA.")
    if num <= dim:
        raise VibError(f"Too little data for iVector dimension: {num} vectors for dimension {dim}")
    means = sum_by_group(x, speaker, counts.size) / counts[:, None]
    # as PldaStats::AddSamples: sum x x^T - sum_s n_s m_s m_s^T (no centred copy of the data)
    scatter = x.T @ x - (means.T * counts) @ means
    order = np.argsort(counts, kind="stable")
    return PldaStats(counts[order], means[order], (scatter + scatter.T) / 2)


def em_iteration(stats: PldaStats, within: np.ndarray, between: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One E-M step of PldaEstimator::EstimateOneIter; returns the new (W, B).

    For each speaker mean m (global mean removed) with n vectors:
    M = (B^-1 + n W^-1)^-1, w = M n W^-1 m;  B_stats += M + w w^T;
    W_stats += n (M + (m - w)(m - w)^T); W_stats also holds the within scatter.
    Kaldi inverts one matrix per distinct n; here all speakers are done at once in the
    basis A (A W A^T = I, A B A^T = diag(lam)) where every M is diagonal:
    M_A = lam / (1 + n lam) and w_A = n lam / (1 + n lam) * m_A. Same update, no loop.
    """
    centered = stats.means - stats.means.mean(axis=0)
    chol = np.linalg.cholesky(within)
    chol_inv = np.linalg.solve(chol, np.eye(within.shape[0]))
    lam, u = np.linalg.eigh(_sym(chol_inv @ between @ chol_inv.T))
    lam = np.maximum(lam, 0.0)
    to_a, from_a = u.T @ chol_inv, chol @ u  # A and A^-1
    m_a = centered @ to_a.T  # [S, D]
    n = stats.counts[:, None].astype(np.float64)
    mixed = lam / (1.0 + n * lam)  # diagonal of each M in basis A, [S, D]
    w_a = n * mixed * m_a
    resid = np.sqrt(n) * (m_a - w_a)
    b_stats_a = np.diag(mixed.sum(axis=0)) + w_a.T @ w_a
    w_stats_a = np.diag((n * mixed).sum(axis=0)) + resid.T @ resid
    num_spk = stats.counts.size
    w_count = float(stats.counts.sum() - num_spk) + num_spk
    within_new = (stats.scatter + from_a @ w_stats_a @ from_a.T) / w_count
    between_new = from_a @ b_stats_a @ from_a.T / num_spk
    return _sym(within_new), _sym(between_new)


def _sym(mat: np.ndarray) -> np.ndarray:
    return (mat + mat.T) / 2


def plda_from_covariances(mean: np.ndarray, within: np.ndarray, between: np.ndarray) -> Plda:
    """PldaEstimator::GetOutput: T1 = C^-1 with W = C C^T (Cholesky); eigen-decompose
    T1 B T1^T = U diag(s) U^T, floor s at 0, sort descending; transform = U^T T1, psi = s."""
    chol = np.linalg.cholesky(within)
    t1 = np.linalg.solve(chol, np.eye(within.shape[0]))
    between_proj = t1 @ between @ t1.T
    s, u = np.linalg.eigh(_sym(between_proj))
    order = np.argsort(-s, kind="stable")
    s, u = np.maximum(s[order], 0.0), u[:, order]
    return Plda(mean, u.T @ t1, s)


def estimate_plda(stats: PldaStats, config: PldaEstimationConfig = PldaEstimationConfig(),
                  log: Callable[[str], None] | None = None) -> Plda:
    """PldaEstimator::Estimate: W = B = I, ``config.num_em_iters`` E-M steps, then the output transform."""
    within = np.eye(stats.dim)
    between = np.eye(stats.dim)
    try:
        for it in range(config.num_em_iters):
            within, between = em_iteration(stats, within, between)
            if log:
                log(f"PLDA iteration {it + 1}/{config.num_em_iters}: trace(W) = {np.trace(within):.6g}, "
                    f"trace(B) = {np.trace(between):.6g}")
        return plda_from_covariances(stats.means.mean(axis=0), within, between)
    except np.linalg.LinAlgError:
        raise VibError("cannot estimate PLDA: the within-class covariance is not positive definite "
                       "(constant dimensions, or every speaker's vectors identical?)") from None


def smooth_within_class(plda: Plda, factor: float) -> Plda:
    """Plda::SmoothWithinClassCovariance (ivector-copy-plda --smoothing): W += factor * B."""
    if not 0.0 <= factor <= 1.0:
        raise VibError(f"smoothing factor must be in [0, 1], got {factor}")
    within_diag = 1.0 + factor * plda.psi
    return Plda(plda.mean, plda.transform / np.sqrt(within_diag)[:, None], plda.psi / within_diag)


def transform_vectors(plda: Plda, vectors: np.ndarray, num_examples: np.ndarray | int = 1,
                      config: PldaConfig = PldaConfig()) -> np.ndarray:
    """Plda::TransformIvector for many vectors [N, D] -> float32 [N, D].

    u = T (x - mean); with ``config.normalize_length`` u is scaled so that
    sum_i u_i^2 / (psi_i + 1/n) = D (n = ``num_examples``, per vector or one value), or,
    with ``config.simple_length_normalization``, to norm sqrt(D). The result is rounded to
    float32 as ivector-plda-scoring stores it.
    """
    return transform_vectors_and_scales(plda, vectors, num_examples, config)[0]


def transform_vectors_and_scales(plda: Plda, vectors: np.ndarray, num_examples: np.ndarray | int = 1,
                                 config: PldaConfig = PldaConfig()) -> tuple[np.ndarray, np.ndarray]:
    """:func:`transform_vectors` and the length-normalisation factor of each vector ``[N]`` (1
    without normalisation): what a per-vector covariance is scaled by (squared)."""
    if vectors.shape[1] != plda.dim:
        raise VibError(f"vector dimension {vectors.shape[1]} does not match the PLDA dimension {plda.dim}")
    u = (vectors.astype(np.float64) - plda.mean) @ plda.transform.T
    factor = np.ones(u.shape[0])
    if config.normalize_length:
        if config.simple_length_normalization:
            factor = np.sqrt(plda.dim) / np.linalg.norm(u, axis=1)
        else:
            n = np.broadcast_to(np.asarray(num_examples, dtype=np.float64), (u.shape[0],))
            inv_covar = 1.0 / (plda.psi[None, :] + 1.0 / n[:, None])
            factor = np.sqrt(plda.dim / np.einsum("ij,ij->i", u * u, inv_covar))
        u = u * factor[:, None]
    return u.astype(np.float32), factor


@dataclass
class LlrTerms:
    """Plda::LogLikelihoodRatio split into enrollment-side terms:
    llr(e, t) = linear[e] . t + quad[group[e]] . t^2 + offset[e].

    With a = n psi / (n psi + 1), v = 1 + psi / (n psi + 1), m = a e (n vectors averaged):
    linear = m / v; quad = (1/(1 + psi) - 1/v) / 2, which depends only on n, so it is kept
    once per distinct n (``group`` maps enrollments to rows of quad);
    offset = sum(log((1 + psi)/v) - m^2 / v) / 2. Shapes [E, D], [G, D], [E], [E]; float64.
    """

    linear: np.ndarray
    quad: np.ndarray
    group: np.ndarray
    offset: np.ndarray


def llr_terms(plda: Plda, enroll: np.ndarray, num_examples: np.ndarray | int = 1) -> LlrTerms:
    """:class:`LlrTerms` of transformed enrollment vectors [E, D], each an average of n vectors."""
    e = enroll.astype(np.float64)
    n_all = np.broadcast_to(np.asarray(num_examples, dtype=np.float64), (e.shape[0],))
    distinct, group = np.unique(n_all, return_inverse=True)
    psi = plda.psi[None, :]
    var_g = 1.0 + psi / (distinct[:, None] * psi + 1.0)            # [G, D]
    scale_g = distinct[:, None] * psi / (distinct[:, None] * psi + 1.0)
    m = scale_g[group] * e
    var = var_g[group]
    offset = 0.5 * np.sum(np.log((1.0 + psi) / var) - m * m / var, axis=1)
    return LlrTerms(m / var, 0.5 * (1.0 / (1.0 + psi) - 1.0 / var_g), group.reshape(-1), offset)


def llr_enroll_side(plda: Plda, enroll: np.ndarray, num_examples: np.ndarray | int = 1
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The same terms as one dot product: llr(e, t) = left[e] . [t, t^2] + offset[e].
    Returns left [E, 2D] and offset [E] (pair with :func:`llr_test_side`)."""
    terms = llr_terms(plda, enroll, num_examples)
    return np.concatenate([terms.linear, terms.quad[terms.group]], axis=1), terms.offset


def plda_trial_scores(terms: LlrTerms, test: np.ndarray, ei: np.ndarray, ti: np.ndarray) -> np.ndarray:
    """LLRs [M] of trials (ei[k], ti[k]) given enrollment terms and transformed test vectors [T, D]."""
    t = test.astype(np.float64)
    quad_by_test = (t * t) @ terms.quad.T  # [T, G]
    return score_trials(terms.linear, t, ei, ti, terms.offset) + quad_by_test[ti, terms.group[ei]]


def llr_test_side(test: np.ndarray) -> np.ndarray:
    """[t, t^2] for transformed test vectors [T, D] -> [T, 2D] float64 (see :func:`llr_enroll_side`)."""
    t = test.astype(np.float64)
    return np.concatenate([t, t * t], axis=1)
