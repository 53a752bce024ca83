"""vib-calibrate: logistic-regression calibration of scores into log-likelihood ratios, optionally
with quality measures (QMF: log duration and, for VIB, the mean predicted log-variance)."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.backend.calibration import QUALITY_MEASURES, Calibration
from vib.backend.trials import align_scores, read_scores, read_trials, write_scores
from vib.backend.vectors import vectors_for_keys
from vib.cli import make_parser, run
from vib.errors import VibError

USAGE = """vib-calibrate [options] <dev-trials> <dev-scores> <scores-rxfilename> <llr-wxfilename>
e.g.: vib-calibrate --prior=0.01 dev/trials dev/scores eval/scores eval/scores_calibrated
      vib-calibrate --dev-quality=scp:dev/quality.scp --quality=scp:eval/quality.scp \\
        --model-out=exp/vib/backend/calibration_plda.json dev/trials dev/scores eval/scores eval/llr"""


def trial_quality(rspecifier: str, enroll: list[str], test: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Quality vectors ``[M, Q]`` of both sides of each trial from a vector table keyed by
    utterance (``vib-extract --write-quality``); a key without one is an error naming it."""
    rows = vectors_for_keys(rspecifier, enroll + test, "quality measures").astype(np.float64)
    if rows.shape[1] > len(QUALITY_MEASURES):
        raise VibError(f"{rspecifier}: quality vectors have {rows.shape[1]} values; expected at most "
                       f"{len(QUALITY_MEASURES)} ({', '.join(QUALITY_MEASURES)})")
    return rows[:len(enroll)], rows[len(enroll):]


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-calibrate"
    parser = make_parser(prog, "Trains llr = a * score + b (+ quality terms) on a labelled development "
                         "trial list (prior-weighted logistic regression) and applies it to a score file.", USAGE)
    parser.add_argument("--prior", type=float, default=0.5, help="target prior of the training "
                        "objective (default: 0.5)")
    parser.add_argument("--model-out", default="", help="also write the calibration as JSON here "
                        "(a model dir's backend/calibration_<backend>.json)")
    parser.add_argument("--dev-quality", default="", help="rspecifier of the dev utterances' quality vectors: "
                        "turns on quality-measure calibration (needs --quality)")
    parser.add_argument("--quality", default="", help="rspecifier of the scored utterances' quality vectors")
    for name in ("dev_trials", "dev_scores", "scores_in", "scores_out"):
        parser.add_argument(name)
    opts = parser.parse_args(argv)
    if bool(opts.dev_quality) != bool(opts.quality):
        raise VibError("--dev-quality and --quality go together")
    trials = read_trials(opts.dev_trials, need_labels=True)
    dev = align_scores(trials, *read_scores(opts.dev_scores), opts.dev_scores)
    dev_q = trial_quality(opts.dev_quality, trials.enroll, trials.test) if opts.dev_quality else (None, None)
    calibration = Calibration.train(dev, trials.labels, opts.prior, *dev_q)
    enroll, test, scores = read_scores(opts.scores_in)
    q = trial_quality(opts.quality, enroll, test) if opts.quality else (None, None)
    write_scores(opts.scores_out, enroll, test, calibration(scores, *q))
    if opts.model_out:
        calibration.write(opts.model_out)
    quality = "".join(f" + {lo:.4g} * min({m}) + {hi:.4g} * max({m})"
                      for m, lo, hi in zip(calibration.measures, calibration.w_min, calibration.w_max))
    print(f"{prog}: LOG: llr = {calibration.a:.6g} * score{quality} + {calibration.b:.6g} (prior {opts.prior:g})",
          file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
