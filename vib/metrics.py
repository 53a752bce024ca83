"""Detection metrics from target / non-target scores: DET points, EER, minDCF, actDCF, Cllr.

Everything sorts the scores once (values only) and uses cumulative sums, so 10^7
scores take about a second. A decision accepts a trial when its score is above the threshold; tied
scores move together (one operating point per distinct score).
"""
from __future__ import annotations

import numpy as np

from vib.errors import VibError


def _check(tar: np.ndarray, non: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tar = np.asarray(tar, dtype=np.float64)
    non = np.asarray(non, dtype=np.float64)
    if tar.size == 0 or non.size == 0:
        raise VibError(f"metrics need target and non-target scores (got {tar.size} and {non.size})")
    if not (np.all(np.isfinite(tar)) and np.all(np.isfinite(non))):
        raise VibError("scores contain NaN or inf")
    return tar, non


def det_points(tar: np.ndarray, non: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Operating points (p_miss, p_fa, threshold), p_miss ascending, [K + 1] for K distinct scores.

    Point 0 accepts everything (p_miss 0, p_fa 1, threshold -inf); point k rejects every
    score <= the k-th smallest distinct score, which is its threshold.
    """
    tar, non = _check(tar, non)
    scores = np.sort(np.concatenate([tar, non]))  # values only: much faster than an argsort
    last_of_tie = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    thresholds = scores[last_of_tie]
    # targets rejected at each threshold: each target lands on the threshold equal to it
    tar_rejected = np.cumsum(np.bincount(np.searchsorted(thresholds, tar), minlength=thresholds.size))
    # written into preallocated arrays: at 10^7 scores every temporary costs ~0.1 s
    p_miss = np.empty(thresholds.size + 1)
    p_miss[0] = 0.0
    np.divide(tar_rejected, tar.size, out=p_miss[1:])
    p_fa = np.empty(thresholds.size + 1)
    p_fa[0] = 1.0
    non_rejected = np.subtract(last_of_tie + 1, tar_rejected, out=tar_rejected)
    np.divide(non_rejected, -non.size, out=p_fa[1:])
    p_fa[1:] += 1.0
    thresholds = np.concatenate([[-np.inf], thresholds])
    return p_miss, p_fa, thresholds


def eer(tar: np.ndarray, non: np.ndarray) -> float:
    """Equal error rate (a fraction): where p_miss and p_fa cross, interpolating linearly
    between the two operating points that straddle the crossing."""
    return eer_from_points(*det_points(tar, non)[:2])


def eer_from_points(p_miss: np.ndarray, p_fa: np.ndarray) -> float | np.ndarray:
    """:func:`eer` from the operating points of :func:`det_points`; points ``[..., K]`` (e.g. one
    row per bootstrap resample) give an array ``[...]``."""
    diff = p_miss - p_fa  # rises from -1 to +1 along the last axis
    k = np.argmax(diff >= 0, axis=-1)[..., None]
    before = np.maximum(k - 1, 0)
    d_k, d_before = np.take_along_axis(diff, k, -1), np.take_along_axis(diff, before, -1)
    m_k, m_before = np.take_along_axis(p_miss, k, -1), np.take_along_axis(p_miss, before, -1)
    exact = (d_k == 0) | (k == 0)
    frac = np.divide(-d_before, d_k - d_before, out=np.zeros_like(d_k), where=~exact)
    value = np.where(exact, m_k, m_before + frac * (m_k - m_before))[..., 0]
    return float(value) if value.ndim == 0 else value


def min_dcf(tar: np.ndarray, non: np.ndarray, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """Minimum over thresholds of (c_miss p p_miss + c_fa (1 - p) p_fa) / min(c_miss p, c_fa (1 - p))."""
    return min_dcf_from_points(*det_points(tar, non)[:2], p_target, c_miss, c_fa)


def min_dcf_from_points(p_miss: np.ndarray, p_fa: np.ndarray, p_target: float, c_miss: float = 1.0,
                        c_fa: float = 1.0) -> float | np.ndarray:
    """:func:`min_dcf` from the operating points of :func:`det_points` (``[..., K]`` -> ``[...]``)."""
    cost = c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa
    value = cost.min(axis=-1) / min(c_miss * p_target, c_fa * (1 - p_target))
    return float(value) if np.ndim(value) == 0 else value


def act_dcf(tar_llr: np.ndarray, non_llr: np.ndarray, p_target: float, c_miss: float = 1.0,
            c_fa: float = 1.0) -> float:
    """Normalised DCF of Bayes decisions on LLR scores: accept when llr > log(c_fa (1-p) / (c_miss p))."""
    tar, non = _check(tar_llr, non_llr)
    threshold = np.log(c_fa * (1 - p_target) / (c_miss * p_target))
    p_miss = np.mean(tar <= threshold)
    p_fa = np.mean(non > threshold)
    cost = c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa
    return float(cost / min(c_miss * p_target, c_fa * (1 - p_target)))


def cllr(tar_llr: np.ndarray, non_llr: np.ndarray) -> float:
    """Log-likelihood-ratio cost in bits: (mean log2(1 + e^-s_tar) + mean log2(1 + e^s_non)) / 2."""
    tar, non = _check(tar_llr, non_llr)
    return float((np.mean(np.logaddexp(0, -tar)) + np.mean(np.logaddexp(0, non))) / (2 * np.log(2)))


def compute_metrics(tar: np.ndarray, non: np.ndarray, p_targets: tuple[float, ...] = (0.01, 0.001),
                    llr: bool = False) -> dict[str, float]:
    """EER (%), minDCF per p-target, and with ``llr`` actDCF per p-target and Cllr (one sort)."""
    p_miss, p_fa, _ = det_points(tar, non)
    out: dict[str, float] = {"eer": 100.0 * eer_from_points(p_miss, p_fa), "num_target": int(np.size(tar)),
                             "num_nontarget": int(np.size(non))}
    for p in p_targets:
        out[f"min_dcf_{p:g}"] = min_dcf_from_points(p_miss, p_fa, p)
        if llr:
            out[f"act_dcf_{p:g}"] = act_dcf(tar, non, p)
    if llr:
        out["cllr"] = cllr(tar, non)
    return out


def plot_det(curves: list[tuple[str, np.ndarray, np.ndarray]], path: str, title: str | None = None) -> None:
    """Draws DET curves (probit axes, in %) for (label, tar, non) triples to a PNG file."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    ticks = np.array([0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 60]) / 100
    limit = (norm.ppf(0.0005), norm.ppf(0.6))
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for label, tar, non in curves:
        p_miss, p_fa, _ = det_points(tar, non)
        eps = 1e-6
        ax.plot(norm.ppf(np.clip(p_fa, eps, 1 - eps)), norm.ppf(np.clip(p_miss, eps, 1 - eps)),
                label=f"{label} (EER {100 * eer(tar, non):.2f}%)")
    ax.set_xticks(norm.ppf(ticks))
    ax.set_yticks(norm.ppf(ticks))
    ax.set_xticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_yticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_xlim(*limit)
    ax.set_ylim(*limit)
    ax.set_xlabel("False alarm rate (%)")
    ax.set_ylabel("Miss rate (%)")
    ax.plot(limit, limit, color="grey", linewidth=0.5, linestyle=":")
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    from vib.io.tables import atomic_output
    with atomic_output(path, binary=True) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
