"""vib-calibrate: logistic-regression calibration of scores into log-likelihood ratios."""
from __future__ import annotations

import json
import sys
from typing import Sequence

from vib.backend.calibration import apply_calibration, train_calibration
from vib.backend.trials import align_scores, read_scores, read_trials, write_scores
from vib.cli import make_parser, run
from vib.io.tables import atomic_output

USAGE = """vib-calibrate [options] <dev-trials> <dev-scores> <scores-rxfilename> <llr-wxfilename>
e.g.: vib-calibrate --prior=0.01 dev/trials dev/scores eval/scores eval/scores_calibrated"""


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-calibrate"
    parser = make_parser(prog, "Trains llr = a * score + b on a labelled development trial list "
                         "(prior-weighted logistic regression) and applies it to a score file.", USAGE)
    parser.add_argument("--prior", type=float, default=0.5, help="target prior of the training "
                        "objective (default: 0.5)")
    parser.add_argument("--model-out", default="", help="also write {\"a\": .., \"b\": ..} as JSON here")
    for name in ("dev_trials", "dev_scores", "scores_in", "scores_out"):
        parser.add_argument(name)
    opts = parser.parse_args(argv)
    trials = read_trials(opts.dev_trials, need_labels=True)
    dev = align_scores(trials, *read_scores(opts.dev_scores), opts.dev_scores)
    a, b = train_calibration(dev, trials.labels, opts.prior)
    enroll, test, scores = read_scores(opts.scores_in)
    write_scores(opts.scores_out, enroll, test, apply_calibration(scores, a, b))
    if opts.model_out:
        with atomic_output(opts.model_out) as f:
            json.dump({"a": a, "b": b, "prior": opts.prior}, f)
            f.write("\n")
    print(f"{prog}: LOG: llr = {a:.6g} * score + {b:.6g} (prior {opts.prior:g})", file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
