"""Slow, obviously correct references shared by the tests and the loop baselines of bench/backend.py."""
from __future__ import annotations


def kaldi_min_dcf_loop(scores: list[float], labels: list[int], p_target: float) -> float:
    """Kaldi's sid/compute_min_dcf.py algorithm (c_miss = c_fa = 1), re-written: sort, then one
    Python step per threshold, rejecting every score <= it."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    pos = sum(labels)
    neg = len(labels) - pos
    fn = tn = 0
    best = float("inf")
    for i in order:
        fn += labels[i]
        tn += 1 - labels[i]
        best = min(best, p_target * fn / pos + (1 - p_target) * (1 - tn / neg))
    return best / min(p_target, 1 - p_target)
