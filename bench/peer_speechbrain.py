#!/usr/bin/env python3
"""Our PLDA side by side with a peer's: SpeechBrain's speechbrain/processing/PLDA_LDA.py.

SpeechBrain is installed on first use with ``pip install --no-deps --target bench/work/peer``
(a separate bench environment; never a project dependency) and its PLDA module is loaded
alone from that file: the ``speechbrain`` package import pulls torchaudio, the module
itself needs only numpy and scipy.

Both PLDAs are trained (10 E-M iterations, SpeechBrain with rank_f = dim, i.e. the same
full-rank two-covariance model) on the same vectors drawn from a known two-covariance
model, and score the same trials: every enrollment vector (one per held-out speaker)
against every test vector (one per speaker), so the diagonal holds the targets. Ours
scores without length normalisation so both compute the same log-likelihood ratio.
Printed: training and scoring times of both and their ratios, the Pearson correlation
of the two score sets and the EER of each.

SpeechBrain's training loops over speakers with a boolean mask over all vectors per
speaker (quadratic in the data size), so the default size is 20,000 x 256 vectors of
1,000 speakers, not the 100,000 x 256 of bench/backend.py. Its Ndx / StatObject_SB
objects are built by setting their arrays directly (their constructors loop
quadratically too) and scoring uses fast_PLDA_scoring(..., check_missing=False).

    python bench/peer_speechbrain.py           # 20,000 x 256 of 1,000 speakers; 1,000 x 1,000 trials
    python bench/peer_speechbrain.py --tiny
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (REPO, Figure, FigureLog, add_common_options, median_time, pin_threads,  # noqa: E402
                          pip_install_target, threads_from_argv)

if __name__ == "__main__":  # BLAS reads its thread count when numpy is first imported
    pin_threads(threads_from_argv(2))

import numpy as np  # noqa: E402

from vib.backend.plda import (PldaConfig, PldaEstimationConfig, estimate_plda, llr_enroll_side, llr_test_side,  # noqa: E402
                              plda_stats, transform_vectors)
from vib.backend.scoring import score_trials  # noqa: E402
from vib.metrics import eer  # noqa: E402

SPEECHBRAIN = "speechbrain==1.1.2"
PEER_DIR = REPO / "bench" / "work" / "peer"
MODULE = Path("speechbrain") / "processing" / "PLDA_LDA.py"
GROUP = "Peer: SpeechBrain PLDA"


def install_speechbrain(target: Path = PEER_DIR) -> Path:
    """Path of PLDA_LDA.py in ``target``, installing SpeechBrain there (no dependencies) if needed."""
    return pip_install_target([SPEECHBRAIN], target, MODULE) / MODULE


def load_module(path: Path) -> ModuleType:
    """Imports one source file as a module of its own (not through its package)."""
    spec = importlib.util.spec_from_file_location("speechbrain_plda_lda", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_covariance_model(rng: np.random.Generator, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean [D], between-speaker factor [D, D], within-speaker factor [D, D]): covariances are
    factor @ factor.T; the between spectrum decays so that some directions carry little identity."""
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    between = basis * np.sqrt(np.exp(-np.arange(dim) / (dim / 4)))
    within = np.eye(dim) + rng.standard_normal((dim, dim)) * (0.3 / np.sqrt(dim))
    return rng.standard_normal(dim), between, within


def draw(rng: np.random.Generator, model, num_speakers: int, per_speaker: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectors [S * per_speaker, D] (float64) and speaker labels [S * per_speaker] from the model."""
    mean, between, within = model
    dim = mean.size
    speakers = rng.standard_normal((num_speakers, dim)) @ between.T
    labels = np.repeat(np.arange(num_speakers), per_speaker)
    return mean + speakers[labels] + rng.standard_normal((labels.size, dim)) @ within.T, labels


def stat_object(sb: ModuleType, ids: np.ndarray, vectors: np.ndarray, modelset: np.ndarray | None = None):
    """A StatObject_SB of one vector per row, arrays set directly."""
    none = np.array([None] * len(ids))
    return sb.StatObject_SB(modelset=ids if modelset is None else modelset, segset=ids, start=none, stop=none,
                            stat0=np.ones((len(ids), 1)), stat1=vectors.astype(np.float64))


def full_ndx(sb: ModuleType, models: np.ndarray, segments: np.ndarray):
    """An Ndx of every model against every segment, without the constructor's quadratic loops."""
    ndx = sb.Ndx.__new__(sb.Ndx)
    ndx.modelset, ndx.segset = models, segments
    ndx.trialmask = np.ones((models.size, segments.size), dtype=bool)
    return ndx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--speakers", type=int, default=1000, help="training speakers")
    parser.add_argument("--per-speaker", type=int, default=20, help="training vectors per speaker")
    parser.add_argument("--test-speakers", type=int, default=1000, help="held-out speakers: trials = its square")
    add_common_options(parser)
    args = parser.parse_args()
    if args.tiny:
        args.dim, args.speakers, args.per_speaker, args.test_speakers = 32, 100, 10, 100
    sb = load_module(install_speechbrain())
    rng = np.random.default_rng(0)
    model = two_covariance_model(rng, args.dim)
    train, labels = draw(rng, model, args.speakers, args.per_speaker)
    held_out, _ = draw(rng, model, args.test_speakers, 2)
    enroll, test = held_out[0::2], held_out[1::2]
    num_train, num_test = train.shape[0], args.test_speakers
    print(f"{SPEECHBRAIN}; {num_train:,} x {args.dim} training vectors of {args.speakers:,} speakers; "
          f"{num_test:,} x {num_test:,} trials; {args.repeats} repeats", flush=True)

    ids = np.array([f"spk{s:06d}" for s in labels], dtype=object)
    segs = np.array([f"seg{i:07d}" for i in range(num_train)], dtype=object)
    enroll_ids = np.array([f"enr{i:06d}" for i in range(num_test)], dtype=object)
    test_ids = np.array([f"tst{i:06d}" for i in range(num_test)], dtype=object)

    def sb_train():
        plda = sb.PLDA(rank_f=args.dim, nb_iter=10)
        plda.plda(stat_object(sb, segs, train, modelset=ids))
        return plda

    def sb_score(plda) -> np.ndarray:
        scores = sb.fast_PLDA_scoring(stat_object(sb, enroll_ids, enroll), stat_object(sb, test_ids, test),
                                      full_ndx(sb, enroll_ids, test_ids), plda.mean, plda.F, plda.Sigma,
                                      check_missing=False)
        return scores.scoremat.ravel()

    ei, ti = (g.ravel() for g in np.meshgrid(np.arange(num_test), np.arange(num_test), indexing="ij"))

    raw = PldaConfig(normalize_length=False)

    def our_score(plda) -> np.ndarray:
        left, offset = llr_enroll_side(plda, transform_vectors(plda, enroll, config=raw))
        return score_trials(left, llr_test_side(transform_vectors(plda, test, config=raw)), ei, ti, offset)

    sb_train_s, sb_plda = median_time(sb_train, args.repeats)
    our_train_s, our_plda = median_time(lambda: estimate_plda(plda_stats(train, labels), PldaEstimationConfig(10)),
                                        args.repeats)
    sb_score_s, sb_scores = median_time(lambda: sb_score(sb_plda), args.repeats)
    our_score_s, our_scores = median_time(lambda: our_score(our_plda), args.repeats)

    target = ei == ti
    log = FigureLog()
    size = f"{num_train:,} x {args.dim} vectors of {args.speakers:,} speakers"
    log.add(Figure(GROUP, f"PLDA training, {size}, 10 E-M iterations", our_train_s, "s", "SpeechBrain PLDA.plda",
                   sb_train_s, repeats=args.repeats, note="SpeechBrain rank_f = dim"))
    log.add(Figure(GROUP, f"PLDA scoring, {ei.size:,} trials ({num_test:,} x {num_test:,})", our_score_s, "s",
                   "SpeechBrain fast_PLDA_scoring", sb_score_s, repeats=args.repeats,
                   note="ours: trial-list scoring incl. transforms; SpeechBrain: full score matrix"))
    log.add(Figure(GROUP, "Pearson correlation of SpeechBrain's scores with ours", float(
        np.corrcoef(sb_scores, our_scores)[0, 1]), "", better="", note="same trials, no length normalisation"))
    log.add(Figure(GROUP, f"EER on the same trials ({int(target.sum()):,} targets), %",
                   100 * eer(our_scores[target], our_scores[~target]), "", "SpeechBrain",
                   100 * eer(sb_scores[target], sb_scores[~target]), better=""))
    log.write(args.json, "bench/peer_speechbrain.py")


if __name__ == "__main__":
    main()
