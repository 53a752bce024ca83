"""vib-compute-metrics: EER, minDCF (and actDCF, Cllr for LLRs) of score files; DET plots."""
from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from vib.backend.trials import align_scores, read_scores, read_trials
from vib.bootstrap import bootstrap_metrics, interval, metric_names, paired_comparison, trial_speakers
from vib.cli import add_bool, make_parser, run
from vib.errors import VibError
from vib.io.tables import atomic_output
from vib.metrics import compute_metrics, plot_det

USAGE = """vib-compute-metrics [options] <trials> <scores> [<scores2> ...]
e.g.: vib-compute-metrics --p-target=0.01,0.001 --json data/test/trials exp/scores_plda/scores
      vib-compute-metrics --det-plot det.png --labels plda,cosine trials scores_plda scores_cos
      vib-compute-metrics --bootstrap=1000 --utt2spk=data/test/utt2spk trials scores     # 95-percent intervals
      vib-compute-metrics --bootstrap=1000 --utt2spk=data/test/utt2spk --compare trials a/scores b/scores
      vib-compute-metrics --bootstrap=1000 --utt2spk=U --compare trials a_s0 a_s1 b_s0 b_s1  # runs (seeds)"""


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
    parser.add_argument("--bootstrap", type=int, default=0, help="resample speakers N times (needs --utt2spk): "
                        "95 %% intervals of EER and minDCF as <metric>_ci in the JSON (default: 0, none)")
    parser.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resampling (default: 0)")
    parser.add_argument("--utt2spk", default="", help="speaker of every trial key (a key may also be a speaker)")
    add_bool(parser, "--compare", False, "paired comparison (needs --bootstrap): the second half of the score "
             "files (system B) against the first half (system A), on the same resamples; with several files per "
             "half (runs, e.g. seeds) the means over runs are compared. Prints one JSON object")
    parser.add_argument("trials")
    parser.add_argument("scores", nargs="+")
    opts = parser.parse_args(argv)
    p_targets = parse_p_targets(opts.p_target)
    labels = opts.labels.split(",") if opts.labels else [os.path.basename(os.path.dirname(s) or ".") + "/" +
                                                         os.path.basename(s) for s in opts.scores]
    if len(labels) != len(opts.scores):
        raise VibError(f"--labels has {len(labels)} names for {len(opts.scores)} score files")
    if opts.bootstrap and not opts.utt2spk:
        raise VibError("--bootstrap needs --utt2spk (speakers are resampled, not trials)")
    if opts.compare and (not opts.bootstrap or len(opts.scores) % 2):
        raise VibError("--compare needs --bootstrap and an even number of score files (system A's, then B's)")
    trials = read_trials(opts.trials, need_labels=True)
    results, curves, score_sets = [], [], []
    for label, path in zip(labels, opts.scores):
        scores = align_scores(trials, *read_scores(path), path)
        tar, non = scores[trials.labels], scores[~trials.labels]
        results.append({"scores": path, **compute_metrics(tar, non, p_targets, opts.llr)})
        curves.append((label, tar, non))
        score_sets.append(scores)
    if opts.det_plot:
        plot_det(curves, opts.det_plot)
    if opts.bootstrap:
        boot = _bootstrap(opts, trials, np.stack(score_sets), p_targets)
        if opts.compare:
            results = [_comparison(opts, results, boot, p_targets)]
        else:
            for n, res in enumerate(results):
                res.update({f"{name}_ci": list(interval(values[:, n])) for name, values in boot.items()})
                res["bootstrap"] = opts.bootstrap
    document = json.dumps(results[0] if len(results) == 1 else results, indent=1)
    if opts.json_out:
        with atomic_output(opts.json_out) as f:
            f.write(document + "\n")
    if opts.json or opts.compare:
        print(document)
    else:
        for res in results:
            parts = [f"EER {res['eer']:.3f}%"] + [f"{k} {v:.4f}" for k, v in res.items()
                                                  if k.startswith(("min_dcf", "act_dcf", "cllr"))]
            print(f"{res['scores']}: " + ", ".join(parts))
    return 0


def _bootstrap(opts, trials, score_sets: np.ndarray, p_targets: tuple[float, ...]) -> dict[str, np.ndarray]:
    from vib.data.kaldi_dir import read_kaldi_map

    spk_e, spk_t, _ = trial_speakers(trials.enroll, trials.test, read_kaldi_map(opts.utt2spk), opts.utt2spk)
    return bootstrap_metrics(score_sets, trials.labels, spk_e, spk_t, opts.bootstrap, opts.bootstrap_seed, p_targets)


def _comparison(opts, results: list[dict], boot: dict[str, np.ndarray], p_targets: tuple[float, ...]) -> dict:
    half = len(results) // 2
    names = metric_names(p_targets)
    point = [{name: float(np.mean([r[name] for r in side])) for name in names}
             for side in (results[:half], results[half:])]
    return {"a": [r["scores"] for r in results[:half]], "b": [r["scores"] for r in results[half:]],
            "bootstrap": opts.bootstrap, **paired_comparison(point[0], point[1], *(
                {name: values[:, sl] for name, values in boot.items()} for sl in (slice(0, half), slice(half, None))))}


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
