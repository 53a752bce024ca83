#!/usr/bin/env python3
"""Back-end speed: PLDA and cosine trial scoring, metrics, the speaker bootstrap, PLDA training.

Each vectorised figure is the median of --repeats runs, beside a baseline measured in
the same run that follows Kaldi's loop structure in Python with numpy vector operations:
scoring one trial at a time, minDCF one threshold at a time (compute_min_dcf.py), PLDA
E-M one speaker at a time (PldaEstimator). Each loop's output is checked against the
vectorised one; scoring and metrics loops are timed on a subset and extrapolated
linearly to the full size, the PLDA loop is timed for one E-M iteration and scaled to 10.

    python bench/backend.py                       # 1M PLDA + 1M cosine trials (256-dim), 10M scores,
                                                  # PLDA training on 100,000 x 256 of 5,000 speakers
    python bench/backend.py --tiny --threads 1    # smoke test

bench_plda_training(num_vectors, dim, num_speakers) can be imported and called on its own.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench.common import (Figure, FigureLog, add_common_options, fmt, median_time, pin_threads,  # noqa: E402
                          threads_from_argv)

if __name__ == "__main__":  # BLAS reads its thread count when numpy is first imported
    pin_threads(threads_from_argv(2))

import numpy as np  # noqa: E402  (after the thread settings)

from tests.backend.references import kaldi_min_dcf_loop  # noqa: E402
from vib.backend.cosine import unit_rows  # noqa: E402
from vib.backend.plda import (PldaEstimationConfig, PldaStats, em_iteration, estimate_plda, llr_enroll_side,  # noqa: E402
                              llr_test_side, plda_stats, transform_vectors)
from vib.backend.scoring import score_trials  # noqa: E402
from vib.io.kaldi_objects import Plda  # noqa: E402
from vib.metrics import compute_metrics  # noqa: E402

GROUP = "Back-end"
LOOP = "per-trial Python loop"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1_000_000, help="trials to score (default 1,000,000)")
    p.add_argument("--dim", type=int, default=256, help="embedding dimension (default 256)")
    p.add_argument("--enroll", type=int, default=4000, help="distinct enrollment vectors (default 4000)")
    p.add_argument("--test", type=int, default=4000, help="distinct test vectors (default 4000)")
    p.add_argument("--scores", type=int, default=10_000_000, help="scores for the metrics (default 10,000,000)")
    p.add_argument("--loop-trials", type=int, default=20_000, help="trials timed in the loop baselines")
    p.add_argument("--loop-scores", type=int, default=200_000, help="scores timed in the metrics loop baseline")
    p.add_argument("--resamples", type=int, default=1000, help="speaker bootstrap resamples (default 1,000)")
    p.add_argument("--loop-resamples", type=int, default=3, help="resamples timed in the bootstrap baseline")
    p.add_argument("--train-vectors", type=int, default=100_000)
    p.add_argument("--train-speakers", type=int, default=5_000)
    add_common_options(p)
    args = p.parse_args()
    if args.tiny:
        args.trials, args.scores, args.enroll, args.test, args.dim = 3000, 20_000, 40, 50, 16
        args.loop_trials, args.loop_scores, args.train_vectors, args.train_speakers = 300, 2000, 600, 60
        args.resamples, args.loop_resamples = 20, 2
    return args


def extrapolated(loop_subset: float, subset: int, full: int, setup: float = 0.0) -> float:
    """Loop seconds at ``full`` items: per-item time scaled linearly, one-off setup added once."""
    return setup + loop_subset * full / subset


def random_plda(rng: np.random.Generator, dim: int) -> Plda:
    return Plda(rng.standard_normal(dim) * 0.1, rng.standard_normal((dim, dim)) / np.sqrt(dim),
                np.sort(rng.gamma(1.0, 2.0, dim))[::-1])


def bench_plda_scoring(rng, enroll, test, ei, ti, loop_trials: int, repeats: int) -> Figure:
    plda = random_plda(rng, enroll.shape[1])

    def vectorised():
        u_e = transform_vectors(plda, enroll)
        left, off = llr_enroll_side(plda, u_e)
        return score_trials(left, llr_test_side(transform_vectors(plda, test)), ei, ti, off)

    fast, scores = median_time(vectorised, repeats)
    n = min(loop_trials, ei.size)

    # Kaldi's ivector-plda-scoring structure: transform each vector once (setup), then one LLR per trial
    def transform_each():
        return ([transform_vectors(plda, v[None])[0].astype(np.float64) for v in enroll],
                [transform_vectors(plda, v[None])[0].astype(np.float64) for v in test])

    setup, (u_e, u_t) = median_time(transform_each, repeats)
    psi = plda.psi

    def loop():
        out = np.empty(n)
        for k in range(n):
            e, t = u_e[ei[k]], u_t[ti[k]]
            mean = psi / (psi + 1.0) * e
            var = 1.0 + psi / (psi + 1.0)
            given = -0.5 * (np.sum(np.log(var)) + np.sum((t - mean) ** 2 / var))
            without = -0.5 * (np.sum(np.log(1.0 + psi)) + np.sum(t * t / (1.0 + psi)))
            out[k] = given - without
        return out

    slow, ref = median_time(loop, repeats)
    assert np.allclose(ref, scores[:n], rtol=1e-6, atol=1e-4), "loop and vectorised PLDA scores differ"
    return Figure(GROUP, f"PLDA scoring, {ei.size:,} trials, dim {enroll.shape[1]}", fast, "s",
                  f"{LOOP} (Kaldi's structure)", extrapolated(slow, n, ei.size, setup), repeats=repeats,
                  note=f"loop timed on {n:,} trials + per-vector transforms, extrapolated")


def bench_cosine(enroll, test, ei, ti, loop_trials: int, repeats: int) -> Figure:
    fast, scores = median_time(lambda: score_trials(unit_rows(enroll), unit_rows(test), ei, ti), repeats)
    n = min(loop_trials, ei.size)

    def loop():
        out = np.empty(n)
        for k in range(n):
            e, t = enroll[ei[k]].astype(np.float64), test[ti[k]].astype(np.float64)
            out[k] = e @ t / (np.linalg.norm(e) * np.linalg.norm(t))
        return out

    slow, ref = median_time(loop, repeats)
    assert np.allclose(ref, scores[:n], rtol=1e-9, atol=1e-12), "loop and vectorised cosine scores differ"
    return Figure(GROUP, f"cosine scoring, {ei.size:,} trials, dim {enroll.shape[1]}", fast, "s", LOOP,
                  extrapolated(slow, n, ei.size), repeats=repeats, note=f"loop timed on {n:,} trials, extrapolated")


def bench_metrics(rng, num: int, loop_scores: int, repeats: int) -> Figure:
    labels = rng.random(num) < 0.01
    scores = np.where(labels, rng.normal(3, 1, num), rng.normal(0, 1, num))
    tar, non = scores[labels], scores[~labels]
    fast, _ = median_time(lambda: compute_metrics(tar, non, (0.01, 0.001)), repeats)
    n = min(loop_scores, num)
    sub_scores, sub_labels = scores[:n].tolist(), labels[:n].astype(int).tolist()
    slow, _ = median_time(lambda: [kaldi_min_dcf_loop(sub_scores, sub_labels, p) for p in (0.01, 0.001)], repeats)
    return Figure(GROUP, f"metrics (EER + 2 minDCF), {num:,} scores", fast, "s",
                  "Kaldi compute_min_dcf.py loop (2 minDCF only)", extrapolated(slow, n, num), repeats=repeats,
                  note=f"loop timed on {n:,} scores, extrapolated")


def bench_plda_up(rng, enroll, test, ei, ti, repeats: int) -> Figure:
    """PLDA scoring with uncertainty propagation (each side's variance, diagonal in the PLDA space)
    against plain PLDA scoring of the same trials, both vectorised, PLDA-space vectors given."""
    from vib.backend.plda_up import enrollment_posterior, up_trial_scores

    plda = random_plda(rng, enroll.shape[1])
    u_e, u_t = transform_vectors(plda, enroll), transform_vectors(plda, test)
    s_e, s_t = (rng.uniform(0.0, 0.5, u.shape) for u in (u_e, u_t))

    def plain():
        left, off = llr_enroll_side(plda, u_e)
        return score_trials(left, llr_test_side(u_t), ei, ti, off)

    def with_uncertainty():
        return up_trial_scores(plda, *enrollment_posterior(plda, u_e, s_e), u_t, s_t, ei, ti)

    base, _ = median_time(plain, repeats)
    ours, _ = median_time(with_uncertainty, repeats)
    return Figure(GROUP, f"PLDA scoring with uncertainty propagation, {ei.size:,} trials ({enroll.shape[1]}-dim)",
                  ours, "s", "plain PLDA scoring, same trials", base, repeats=repeats,
                  note="ratio < 1: the cost of the per-trial variances (plain PLDA is one dot product per trial)")


def bench_bootstrap(rng, num: int, resamples: int, loop_resamples: int) -> Figure:
    """1,000 speaker resamples of EER + 2 minDCF over ``num`` trials of 1,000 speakers, against
    building each resample's trial list (speakers copied, np.repeat) and scoring it."""
    from vib.bootstrap import bootstrap_metrics, resample_counts

    speakers = 1000
    spk_e, spk_t = rng.integers(0, speakers, num), rng.integers(0, speakers, num)
    same = rng.random(num) < 0.1
    spk_t[same] = spk_e[same]
    labels = spk_e == spk_t
    scores = rng.normal(size=num) + 2.5 * labels
    fast, boot = median_time(lambda: bootstrap_metrics(scores, labels, spk_e, spk_t, resamples, 0), 1)
    counts = resample_counts(speakers, loop_resamples, 0)

    def copied() -> list[float]:
        out = []
        for c in counts:
            reps = np.where(labels, c[spk_e], c[spk_e] * c[spk_t])
            kept, keep_labels = np.repeat(scores, reps), np.repeat(labels, reps)
            out.append(compute_metrics(kept[keep_labels], kept[~keep_labels])["eer"])
        return out

    slow, ref = median_time(copied, 1)
    assert np.allclose(ref, boot["eer"][:loop_resamples, 0], atol=1e-3), (ref, boot["eer"][:loop_resamples, 0])
    return Figure(GROUP, f"speaker bootstrap (EER + 2 minDCF), {resamples:,} resamples of {num:,} trials", fast,
                  "s", "trial list of each resample built and scored", extrapolated(slow, loop_resamples, resamples),
                  note=f"one run; baseline timed on {loop_resamples} resamples, extrapolated; "
                       f"{1000 * fast / resamples:.1f} ms per resample")


def kaldi_em_iteration_loop(stats: PldaStats, within: np.ndarray, between: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """PldaEstimator::EstimateOneIter as Kaldi runs it: speakers sorted by count, one matrix
    inverse per distinct count, then per speaker a few vector and rank-1 updates."""
    centered = stats.means - stats.means.mean(axis=0)
    within_inv = np.linalg.inv(within)
    between_inv = np.linalg.inv(between)
    w_stats = stats.scatter.copy()
    b_stats = np.zeros_like(between)
    prev_n, mixed = -1, None
    for n, m in zip(stats.counts, centered):
        if n != prev_n:
            mixed, prev_n = np.linalg.inv(between_inv + n * within_inv), n
        w = mixed @ (n * (within_inv @ m))
        m_w = m - w
        b_stats += mixed + np.outer(w, w)
        w_stats += n * (mixed + np.outer(m_w, m_w))
    num_spk = stats.counts.size
    w_count = float(stats.counts.sum() - num_spk) + num_spk
    return (w_stats + w_stats.T) / (2 * w_count), (b_stats + b_stats.T) / (2 * num_spk)


def bench_plda_training(num_vectors: int = 100_000, dim: int = 256, num_speakers: int = 5_000,
                        repeats: int = 1, seed: int = 0) -> Figure:
    """Seconds to estimate a PLDA (stats + 10 E-M iterations) on random speaker data, beside
    the same with Kaldi's per-speaker E-M loop (one iteration timed, scaled to 10)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_speakers, num_vectors)
    labels = np.unique(labels, return_inverse=True)[1]
    vectors = ((rng.standard_normal((labels.max() + 1, dim)) * 2)[labels]
               + rng.standard_normal((num_vectors, dim))).astype(np.float32)
    stats_seconds, stats = median_time(lambda: plda_stats(vectors, labels), repeats)
    em_seconds, _ = median_time(lambda: estimate_plda(stats, PldaEstimationConfig(10)), repeats)
    eye = np.eye(dim)
    one_iter, (w_ref, b_ref) = median_time(lambda: kaldi_em_iteration_loop(stats, eye, 2 * eye), repeats)
    w_fast, b_fast = em_iteration(stats, eye, 2 * eye)
    assert np.allclose(w_ref, w_fast, rtol=1e-8, atol=1e-10) and np.allclose(b_ref, b_fast, rtol=1e-8, atol=1e-10), \
        "loop and vectorised PLDA E-M differ"
    ours = stats_seconds + em_seconds
    return Figure(GROUP, f"PLDA training, {num_vectors:,} x {dim} vectors of {labels.max() + 1:,} speakers, "
                  "10 E-M iterations", ours, "s", "per-speaker E-M loop (Kaldi's structure)",
                  stats_seconds + 10 * one_iter, repeats=repeats,
                  note=f"statistics {fmt(stats_seconds)} s + E-M {fmt(em_seconds)} s; loop: same statistics "
                       f"+ 10 x {fmt(one_iter)} s per iteration")


def main() -> None:
    args = parse_args()
    log = FigureLog()
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}; numpy {np.__version__}; {args.repeats} repeats", flush=True)
    enroll = rng.standard_normal((args.enroll, args.dim)).astype(np.float32)
    test = rng.standard_normal((args.test, args.dim)).astype(np.float32)
    ei = rng.integers(0, args.enroll, args.trials)
    ti = rng.integers(0, args.test, args.trials)
    log.add(bench_plda_scoring(rng, enroll, test, ei, ti, args.loop_trials, args.repeats))
    log.add(bench_cosine(enroll, test, ei, ti, args.loop_trials, args.repeats))
    log.add(bench_plda_up(rng, enroll, test, ei, ti, args.repeats))
    log.add(bench_metrics(rng, args.scores, args.loop_scores, args.repeats))
    log.add(bench_bootstrap(rng, args.trials, args.resamples, args.loop_resamples))
    log.add(bench_plda_training(args.train_vectors, args.dim, args.train_speakers, args.repeats))
    log.write(args.json, "bench/backend.py")


if __name__ == "__main__":
    main()
