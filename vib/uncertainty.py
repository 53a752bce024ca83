"""How a VIB extractor's predicted variance behaves: per-utterance statistics of the quality
tables that ``vib-extract --write-quality`` writes (``ln(duration / 1 s)``, mean over dimensions
of ``ln sigma^2``), summarised per set and drawn against duration."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vib.errors import VibError


@dataclass(frozen=True)
class UncertaintyStats:
    """One set's summary: ``count`` utterances, their median duration (s), the mean over
    utterances of the geometric-mean sigma^2 over dimensions, and the correlation (Pearson) of
    ln duration with the mean ln sigma^2 (NaN when either is constant)."""

    count: int
    median_duration: float
    mean_var: float
    correlation: float


def quality_columns(quality: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(duration in s [N], geometric-mean sigma^2 [N]) of quality rows ``[N, 2]``; a table
    without the variance column (not a VIB extractor) is an error naming ``where``."""
    if quality.ndim != 2 or quality.shape[1] < 2 or not len(quality):
        raise VibError(f"{where}: expected quality rows of (ln duration, mean ln variance), got shape "
                       f"{tuple(quality.shape)} (the variance column comes only from a VIB extractor)")
    return np.exp(quality[:, 0].astype(np.float64)), np.exp(quality[:, 1].astype(np.float64))


def uncertainty_stats(quality: np.ndarray, where: str) -> UncertaintyStats:
    """The :class:`UncertaintyStats` of quality rows ``[N, 2]``."""
    duration, var = quality_columns(quality, where)
    log_d, log_v = np.log(duration), np.log(var)
    spread = log_d.std() * log_v.std()
    corr = float(np.mean((log_d - log_d.mean()) * (log_v - log_v.mean())) / spread) if spread > 0 else float("nan")
    return UncertaintyStats(len(duration), float(np.median(duration)), float(var.mean()), corr)


def plot_uncertainty(sets: list[tuple[str, np.ndarray]], path: str, title: str | None = None) -> None:
    """Scatter of geometric-mean sigma^2 against duration (log axis), one colour per (label,
    quality rows ``[N, 2]``) set, to a PNG file (written under a temporary name)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vib.io.tables import atomic_output

    fig, ax = plt.subplots(figsize=(6, 4.5))
    shortest, longest = np.inf, 0.0
    for label, quality in sets:
        duration, var = quality_columns(quality, label)
        shortest, longest = min(shortest, duration.min()), max(longest, duration.max())
        ax.scatter(duration, var, s=6, alpha=0.5, label=f"{label} (mean {var.mean():.3f})")
    ax.set_xscale("log")
    ticks = [t for t in (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 20, 30, 60) if shortest / 1.2 <= t <= longest * 1.2]
    ax.minorticks_off()
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("utterance duration (s)")
    ax.set_ylabel("predicted variance (geometric mean over dimensions)")
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=8, markerscale=2)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    with atomic_output(path, binary=True) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
