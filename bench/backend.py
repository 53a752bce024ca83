#!/usr/bin/env python3
"""Back-end speed: PLDA and cosine trial scoring, metrics, PLDA training.

Each vectorised figure is printed beside a per-trial Python loop baseline measured
in the same run: the loop (Kaldi's per-trial structure, one trial at a time with
numpy vector operations) is timed on a subset and extrapolated linearly to the
full size, which the output says.

    python bench/backend.py                       # 1M PLDA + 1M cosine trials (256-dim), 10M scores
    python bench/backend.py --trials 2000 --scores 20000 --threads 1   # smoke test
    python bench/backend.py --plda-train          # also PLDA training on 100,000 x 256, 5,000 speakers

bench_plda_training(num_vectors, dim, num_speakers) can be imported and called on its own.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1_000_000, help="trials to score (default 1,000,000)")
    p.add_argument("--dim", type=int, default=256, help="embedding dimension (default 256)")
    p.add_argument("--enroll", type=int, default=4000, help="distinct enrollment vectors (default 4000)")
    p.add_argument("--test", type=int, default=4000, help="distinct test vectors (default 4000)")
    p.add_argument("--scores", type=int, default=10_000_000, help="scores for the metrics (default 10,000,000)")
    p.add_argument("--loop-trials", type=int, default=20_000, help="trials timed in the loop baselines")
    p.add_argument("--loop-scores", type=int, default=200_000, help="scores timed in the metrics loop baseline")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    p.add_argument("--plda-train", action="store_true", help="also time PLDA training")
    p.add_argument("--train-vectors", type=int, default=100_000)
    p.add_argument("--train-speakers", type=int, default=5_000)
    return p.parse_args()


if __name__ == "__main__":  # BLAS reads its thread count when numpy is first imported
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(parse_args().threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402  (after the thread settings)

from tests.backend.references import kaldi_min_dcf_loop  # noqa: E402
from vib.backend.cosine import unit_rows  # noqa: E402
from vib.backend.plda import (estimate_plda, llr_enroll_side, llr_test_side, plda_stats,  # noqa: E402
                              transform_vectors)
from vib.backend.scoring import score_trials  # noqa: E402
from vib.io.kaldi_objects import Plda  # noqa: E402
from vib.metrics import compute_metrics  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def report(name: str, fast: float, loop_subset: float, subset: int, full: int, loop_setup: float = 0.0) -> None:
    """Prints both times; the loop's per-item time is scaled to ``full``, its one-off setup is not."""
    loop_full = loop_setup + loop_subset * full / subset
    setup = f" + {loop_setup:.3f} s setup" if loop_setup else ""
    print(f"{name}: vectorised {fast:.3f} s | per-trial loop {loop_subset:.3f} s on {subset:,}{setup} "
          f"-> {loop_full:.1f} s extrapolated to {full:,} | speed-up x{loop_full / fast:.0f}", flush=True)


def random_plda(rng: np.random.Generator, dim: int) -> Plda:
    return Plda(rng.standard_normal(dim) * 0.1, rng.standard_normal((dim, dim)) / np.sqrt(dim),
                np.sort(rng.gamma(1.0, 2.0, dim))[::-1])


def bench_plda_scoring(rng, enroll, test, ei, ti, loop_trials: int) -> None:
    plda = random_plda(rng, enroll.shape[1])

    def vectorised():
        u_e = transform_vectors(plda, enroll)
        left, off = llr_enroll_side(plda, u_e)
        return score_trials(left, llr_test_side(transform_vectors(plda, test)), ei, ti, off)

    fast, scores = timed(vectorised)
    n = min(loop_trials, ei.size)

    # Kaldi's ivector-plda-scoring structure: transform each vector once (setup), then one LLR per trial
    setup, (u_e, u_t) = timed(lambda: ([transform_vectors(plda, v[None])[0].astype(np.float64) for v in enroll],
                                        [transform_vectors(plda, v[None])[0].astype(np.float64) for v in test]))
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

    slow, ref = timed(loop)
    assert np.allclose(ref, scores[:n], rtol=1e-6, atol=1e-4), "loop and vectorised PLDA scores differ"
    report(f"PLDA scoring, {ei.size:,} trials, dim {enroll.shape[1]}", fast, slow, n, ei.size, setup)


def bench_cosine(enroll, test, ei, ti, loop_trials: int) -> None:
    fast, scores = timed(lambda: score_trials(unit_rows(enroll), unit_rows(test), ei, ti))
    n = min(loop_trials, ei.size)

    def loop():
        out = np.empty(n)
        for k in range(n):
            e, t = enroll[ei[k]].astype(np.float64), test[ti[k]].astype(np.float64)
            out[k] = e @ t / (np.linalg.norm(e) * np.linalg.norm(t))
        return out

    slow, ref = timed(loop)
    assert np.allclose(ref, scores[:n], rtol=1e-9, atol=1e-12), "loop and vectorised cosine scores differ"
    report(f"cosine scoring, {ei.size:,} trials, dim {enroll.shape[1]}", fast, slow, n, ei.size)


def bench_metrics(rng, num: int, loop_scores: int) -> None:
    labels = rng.random(num) < 0.01
    scores = np.where(labels, rng.normal(3, 1, num), rng.normal(0, 1, num))
    tar, non = scores[labels], scores[~labels]
    fast, _ = timed(lambda: compute_metrics(tar, non, (0.01, 0.001)))
    n = min(loop_scores, num)
    sub_scores, sub_labels = scores[:n].tolist(), labels[:n].astype(int).tolist()
    slow, _ = timed(lambda: [kaldi_min_dcf_loop(sub_scores, sub_labels, p) for p in (0.01, 0.001)])
    print("  (metrics: vectorised = EER + 2 minDCF; loop = Kaldi's compute_min_dcf.py algorithm, 2 minDCF only)")
    report(f"metrics, {num:,} scores", fast, slow, n, num)


def bench_plda_training(num_vectors: int = 100_000, dim: int = 256, num_speakers: int = 5_000,
                        seed: int = 0) -> float:
    """Seconds to estimate a PLDA (stats + 10 E-M iterations) on random speaker data."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_speakers, num_vectors)
    labels = np.unique(labels, return_inverse=True)[1]
    vectors = (rng.standard_normal((labels.max() + 1, dim)) * 2)[labels] + rng.standard_normal((num_vectors, dim))
    stats_seconds, stats = timed(lambda: plda_stats(vectors.astype(np.float32), labels))
    em_seconds, _ = timed(lambda: estimate_plda(stats, 10))
    seconds = stats_seconds + em_seconds
    print(f"PLDA training, {num_vectors:,} x {dim} vectors of {labels.max() + 1:,} speakers, 10 E-M "
          f"iterations: {seconds:.2f} s (statistics {stats_seconds:.2f} s, E-M and output {em_seconds:.2f} s)",
          flush=True)
    return seconds


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}; numpy {np.__version__}", flush=True)
    enroll = rng.standard_normal((args.enroll, args.dim)).astype(np.float32)
    test = rng.standard_normal((args.test, args.dim)).astype(np.float32)
    ei = rng.integers(0, args.enroll, args.trials)
    ti = rng.integers(0, args.test, args.trials)
    bench_plda_scoring(rng, enroll, test, ei, ti, args.loop_trials)
    bench_cosine(enroll, test, ei, ti, args.loop_trials)
    bench_metrics(rng, args.scores, args.loop_scores)
    if args.plda_train:
        bench_plda_training(args.train_vectors, args.dim, args.train_speakers)


if __name__ == "__main__":
    main()
