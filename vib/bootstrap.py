"""Confidence intervals of EER / minDCF by resampling speakers, and paired comparisons of systems.

Trials that share a speaker are not independent, so the bootstrap resamples *speakers*, not
trials: each resample draws the S speakers of a trial list with replacement, which is the
same as copying speaker s c_s times as distinct people. A target trial of speaker s then
occurs c_s times and a non-target trial of speakers a and b c_a * c_b times (Poh and
Bengio's "subset bootstrap", two-sided). Each resample's metrics are those of the
weighted trial list; the 95 % interval is the 2.5 and 97.5 percentiles over resamples.

Every score set is sorted once; a resample costs two gathers, two cumulative sums (integer
weights: exact) and the crossing and minimum searches over its M trials, in buffers that
stay in cache (16-45 ms per resample of 10^6 trials on one core: bench/backend.py). A
paired comparison of systems A and B (the same trials) uses the same resamples for both,
so their difference's interval is narrower than either interval.
"""
from __future__ import annotations

import warnings

import numpy as np

from vib.errors import VibError
from vib.metrics import eer_from_points, min_dcf_from_points


def trial_speakers(enroll: list[str], test: list[str], utt2spk: dict[str, str],
                   source: str = "utt2spk") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Speaker indices ``[M]`` of both sides and the speaker names. A key is an utterance of
    ``utt2spk`` or itself a speaker (an enrollment model named by its speaker); any other key
    is an error naming it."""
    speakers = set(utt2spk.values())

    def speaker(key: str) -> str:
        spk = utt2spk.get(key)
        if spk is None:
            if key not in speakers:
                raise VibError(f"{source}: no speaker for trial key '{key}'")
            spk = key
        return spk

    cache: dict[str, str] = {}
    sides = [[cache[k] if k in cache else cache.setdefault(k, speaker(k)) for k in keys] for keys in (enroll, test)]
    names = sorted(set(sides[0]) | set(sides[1]))
    index = {name: i for i, name in enumerate(names)}
    return (np.fromiter((index[s] for s in sides[0]), np.int64, len(enroll)),
            np.fromiter((index[s] for s in sides[1]), np.int64, len(test)), names)


class _SortedTrials:
    """One score set sorted once, with buffers reused by every resample: the enrollment
    speaker of each trial and, for non-targets, the test speaker (targets point at a column
    of ones, so that weight = c[e] * c[t] needs no branch), in score order, and the last
    index of every run of tied scores (None when no two scores tie)."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray, spk_e: np.ndarray, spk_t: np.ndarray,
                 num_speakers: int):
        order = np.argsort(scores, kind="stable")
        ordered = scores[order]
        ties = ordered[1:] == ordered[:-1]
        self.last_of_tie = np.flatnonzero(np.append(~ties, True)) if ties.any() else None
        self.labels = labels[order]
        self.spk_e = spk_e[order].astype(np.intp)
        self.spk_t = np.where(self.labels, num_speakers, spk_t[order]).astype(np.intp)
        self.num_speakers = num_speakers
        num_points = len(scores) if self.last_of_tie is None else len(self.last_of_tie)
        self.p_miss = np.zeros(num_points + 1, np.float32)
        self.p_fa = np.ones(num_points + 1, np.float32)

    def points(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Operating points ``(p_miss, p_fa)`` ``[K + 1]`` of :func:`vib.metrics.det_points` for
        speaker multiplicities ``counts [S]`` (float32: a resample's own error is far larger);
        None when the resample has no target or no non-target weight. The arrays are reused."""
        big = len(self.labels) * int(counts.max()) ** 2 >= 2 ** 31
        ext = np.append(counts, 1).astype(np.int64 if big else np.int32)
        weights = np.take(ext, self.spk_e)
        weights *= np.take(ext, self.spk_t)
        tar = np.where(self.labels, weights, 0)
        all_cum, tar_cum = np.cumsum(weights, out=weights), np.cumsum(tar, out=tar)
        non_cum = np.subtract(all_cum, tar_cum, out=all_cum)
        if self.last_of_tie is not None:
            tar_cum, non_cum = tar_cum[self.last_of_tie], non_cum[self.last_of_tie]
        tar_total, non_total = float(tar_cum[-1]), float(non_cum[-1])
        if tar_total == 0 or non_total == 0:
            return None
        np.multiply(tar_cum, 1.0 / tar_total, out=self.p_miss[1:], casting="unsafe")
        np.multiply(non_cum, -1.0 / non_total, out=self.p_fa[1:], casting="unsafe")
        self.p_fa[1:] += 1.0
        return self.p_miss, self.p_fa


def metric_names(p_targets: tuple[float, ...]) -> list[str]:
    return ["eer"] + [f"min_dcf_{p:g}" for p in p_targets]


def resample_counts(num_speakers: int, num_resamples: int, seed: int) -> np.ndarray:
    """Speaker multiplicities ``[R, S]`` (int64) of ``num_resamples`` draws of S speakers with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, num_speakers, size=(num_resamples, num_speakers))
    offsets = (np.arange(num_resamples) * num_speakers)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=num_resamples * num_speakers).reshape(
        num_resamples, num_speakers)


def bootstrap_metrics(score_sets: np.ndarray, labels: np.ndarray, spk_e: np.ndarray, spk_t: np.ndarray,
                      num_resamples: int = 1000, seed: int = 0,
                      p_targets: tuple[float, ...] = (0.01, 0.001)) -> dict[str, np.ndarray]:
    """Metrics of every score set ``[N, M]`` (N systems on the same M trials) on the same speaker
    resamples: ``{"eer": [R, N] (%), "min_dcf_<p>": [R, N]}``; NaN for a degenerate resample
    (no target or no non-target trial drawn)."""
    score_sets = np.atleast_2d(np.asarray(score_sets, dtype=np.float64))
    labels = np.asarray(labels, dtype=bool)
    if num_resamples < 1:
        raise VibError(f"--bootstrap needs at least one resample, got {num_resamples}")
    if not (labels.any() and (~labels).any()):
        raise VibError("the bootstrap needs target and non-target trials")
    num_speakers = int(max(spk_e.max(), spk_t.max())) + 1
    counts = resample_counts(num_speakers, num_resamples, seed)
    names = metric_names(p_targets)
    out = {name: np.full((num_resamples, len(score_sets)), np.nan) for name in names}
    for n, scores in enumerate(score_sets):
        trials = _SortedTrials(scores, labels, spk_e, spk_t, num_speakers)
        for r in range(num_resamples):
            points = trials.points(counts[r])
            if points is None:
                continue
            out["eer"][r, n] = 100.0 * eer_from_points(*points)
            for p, name in zip(p_targets, names[1:]):
                out[name][r, n] = min_dcf_from_points(*points, p)
    return out


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite resampled values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise VibError("no resample had both target and non-target trials")
    tail = 100.0 * (1.0 - level) / 2
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_comparison(point_a: dict[str, float], point_b: dict[str, float], boot_a: dict[str, np.ndarray],
                      boot_b: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """B against A per metric: ``diff`` = B - A (of the means over each system's runs: point
    values ``{metric: float}``, resamples ``{metric: [R, runs]}``), ``rel`` = diff / A (%), their
    95 % intervals, and ``significant``: the diff interval excludes 0."""
    out = {}
    for name in point_a:
        with warnings.catch_warnings():  # a degenerate resample is NaN in every column
            warnings.simplefilter("ignore", RuntimeWarning)
            a, b = np.nanmean(boot_a[name], axis=1), np.nanmean(boot_b[name], axis=1)
        diff_lo, diff_hi = interval(b - a)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel_lo, rel_hi = interval(100.0 * (b - a) / a)
        out[name] = {"a": point_a[name], "b": point_b[name], "diff": point_b[name] - point_a[name],
                     "diff_ci": [diff_lo, diff_hi],
                     "rel": 100.0 * (point_b[name] - point_a[name]) / point_a[name] if point_a[name] else float("nan"),
                     "rel_ci": [rel_lo, rel_hi], "significant": bool(diff_lo > 0 or diff_hi < 0)}
    return out
