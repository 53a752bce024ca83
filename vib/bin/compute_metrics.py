"""vib-compute-metrics: EER, minDCF (and actDCF, Cllr for LLRs) of score files; DET plots."""
from __future__ import annotations

import json
import os
from typing import Sequence

from vib.backend.trials import align_scores, read_scores, read_trials
from vib.cli import add_bool, make_parser, run
from vib.errors import VibError
from vib.io.tables import atomic_output
from vib.metrics import compute_metrics, plot_det

USAGE = """vib-compute-metrics [options] <trials> <scores> [<scores2> ...]
e.g.: vib-compute-metrics --p-target=0.01,0.001 --json data/test/trials exp/scores_plda/scores
      vib-compute-metrics --det-plot det.png --labels plda,cosine trials scores_plda scores_cos"""


def parse_p_targets(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in text.split(",") if p)
    except ValueError:
        raise VibError(f"--p-target: expected comma-separated numbers, got '{text}'") from None
    if not values or not all(0 < p < 1 for p in values):
        raise VibError(f"--p-target: each value must be in (0, 1), got '{text}'")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-compute-metrics", "EER (interpolated crossing of the miss and false-alarm "
                         "curves) and minDCF with c_miss = c_fa = 1 normalised by min(p, 1-p); with "
                         "--llr also actDCF and Cllr (bits).", USAGE)
    parser.add_argument("--p-target", default="0.01,0.001", help="comma-separated (default: 0.01,0.001)")
    add_bool(parser, "--llr", False, "scores are log-likelihood ratios: report actDCF and Cllr")
    add_bool(parser, "--json", False, "print one JSON object (a list for several score files)")
    parser.add_argument("--json-out", default="", help="also write that JSON to this file (the summary "
                        "lines are printed as without --json)")
    parser.add_argument("--det-plot", default="", help="draw DET curves of all score files to this PNG")
    parser.add_argument("--labels", default="", help="comma-separated curve labels (default: file names)")
    parser.add_argument("trials")
    parser.add_argument("scores", nargs="+")
    opts = parser.parse_args(argv)
    p_targets = parse_p_targets(opts.p_target)
    labels = opts.labels.split(",") if opts.labels else [os.path.basename(os.path.dirname(s) or ".") + "/" +
                                                         os.path.basename(s) for s in opts.scores]
    if len(labels) != len(opts.scores):
        raise VibError(f"--labels has {len(labels)} names for {len(opts.scores)} score files")
    trials = read_trials(opts.trials, need_labels=True)
    results, curves = [], []
    for label, path in zip(labels, opts.scores):
        scores = align_scores(trials, *read_scores(path), path)
        tar, non = scores[trials.labels], scores[~trials.labels]
        results.append({"scores": path, **compute_metrics(tar, non, p_targets, opts.llr)})
        curves.append((label, tar, non))
    if opts.det_plot:
        plot_det(curves, opts.det_plot)
    document = json.dumps(results[0] if len(results) == 1 else results, indent=1)
    if opts.json_out:
        with atomic_output(opts.json_out) as f:
            f.write(document + "\n")
    if opts.json:
        print(document)
    else:
        for res in results:
            parts = [f"EER {res['eer']:.3f}%"] + [f"{k} {v:.4f}" for k, v in res.items()
                                                  if k.startswith(("min_dcf", "act_dcf", "cllr"))]
            print(f"{res['scores']}: " + ", ".join(parts))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
