"""vib-results-table: Markdown tables of EER / minDCF for system x back-end x trial list.

Reads the ``metrics*.json`` files that steps/score_*.sh write (``vib-compute-metrics --json``)
and prints the table. A back-end ``X`` is ``<exp>/<run>/scores_X_<list>/{scores,metrics.json}``;
``X+NORM`` (e.g. ``cosine+asnorm``) is the score-normalised variant in the same dir,
``scores_NORM`` and ``metrics_NORM.json``; steps/calibrate_systems.sh adds ``<scores>_llr`` and
``<scores>_llr_qmf`` (plain and quality-aware calibration) with their ``metrics_*.json``.
With ``--seeds`` a system is several runs ``<system>_s<seed>`` and each cell is the mean ± the
standard deviation over them. With ``--bootstrap N --trials LIST=FILE`` the lists given get 95 %
intervals by resampling speakers (``utt2spk`` beside the trials file), of the mean over seeds,
and ``--compare B:A`` a table of B's relative difference from A with paired intervals.
``--calibrated-lists`` adds actDCF / Cllr of the calibrated scores. With ``--paths`` it prints
the file names instead.
"""
from __future__ import annotations

import itertools
import json
import os
import warnings
from typing import Sequence

import numpy as np

from vib.cli import make_parser, name_value_pairs, run
from vib.errors import VibError

METRICS = ("eer", "min_dcf_0.01", "min_dcf_0.001")


def run_dirs(system: str, seeds: Sequence[str]) -> list[str]:
    """The run dirs of a system: ``<system>_s<seed>`` per seed, or the system itself without seeds."""
    return [f"{system}_s{seed}" for seed in seeds] if seeds else [system]


def score_paths(exp: str, system: str, backend: str, trial_list: str) -> tuple[str, str]:
    """(scores, metrics.json) that steps/score_*.sh leave for one run, back-end (``X`` or ``X+NORM``) and list."""
    scorer, _, norm = backend.partition("+")
    score_dir = os.path.join(exp, system, f"scores_{scorer}_{trial_list}")
    if norm:
        return os.path.join(score_dir, f"scores_{norm}"), os.path.join(score_dir, f"metrics_{norm}.json")
    return os.path.join(score_dir, "scores"), os.path.join(score_dir, "metrics.json")


def calibrated_paths(exp: str, system: str, backend: str, trial_list: str, qmf: bool) -> tuple[str, str]:
    """(LLRs, metrics.json) of steps/calibrate_systems.sh: plain (``qmf`` False) or quality-aware."""
    scores, metrics = score_paths(exp, system, backend, trial_list)
    suffix = "_llr_qmf" if qmf else "_llr"
    return scores + suffix, metrics[:-len(".json")] + suffix + ".json"


def metrics_path(exp: str, system: str, backend: str, trial_list: str) -> str:
    """Where steps/score_*.sh leave the metrics of one run, back-end (``X`` or ``X+NORM``) and list."""
    return score_paths(exp, system, backend, trial_list)[1]


def read_metrics(path: str, fields: Sequence[str] = METRICS) -> dict[str, float]:
    if not os.path.isfile(path):
        raise VibError(f"missing metrics file '{path}' (run the scoring stage first)")
    with open(path) as f:
        m = json.load(f)
    try:
        return {k: float(m[k]) for k in fields}
    except KeyError as err:
        raise VibError(f"{path}: no field {err}") from None


def _cell(values: Sequence[float], digits: int) -> str:
    """``mean`` or, for several runs, ``mean ± std`` (sample standard deviation)."""
    mean = f"{np.mean(values):.{digits}f}"
    return mean if len(values) == 1 else f"{mean} ± {np.std(values, ddof=1):.{digits}f}"


def _per_run(exp: str, system: str, seeds: Sequence[str], backend: str, trial_list: str,
             fields: Sequence[str] = METRICS, path_of=metrics_path) -> dict[str, list[float]]:
    runs = [read_metrics(path_of(exp, r, backend, trial_list), fields) for r in run_dirs(system, seeds)]
    return {k: [m[k] for m in runs] for k in fields}


def results_table(exp: str, systems: Sequence[str], backends: Sequence[str], lists: Sequence[str],
                  seeds: Sequence[str] = (), intervals: dict | None = None) -> str:
    """Markdown table, one row per (list, back-end, system); EER in %, minDCF normalised; with
    ``intervals[(list, backend, system)] = (low, high)`` a column of EER intervals."""
    intervals = intervals or {}
    rows = ["| trial list | back-end | system | EER (%) |" + (" EER 95 % interval |" if intervals else "") +
            " minDCF 0.01 | minDCF 0.001 |",
            "|---|---|---|---:|" + ("---:|" if intervals else "") + "---:|---:|"]
    for trial_list, backend, system in itertools.product(lists, backends, systems):
        m = _per_run(exp, system, seeds, backend, trial_list)
        ci = intervals.get((trial_list, backend, system))
        ci_cell = (f" [{ci[0]:.2f}, {ci[1]:.2f}] |" if ci else " |") if intervals else ""
        rows.append(f"| {trial_list} | {backend} | {system} | {_cell(m['eer'], 2)} |{ci_cell} "
                    f"{_cell(m['min_dcf_0.01'], 3)} | {_cell(m['min_dcf_0.001'], 3)} |")
    return "\n".join(rows) + "\n"


def bootstrap_lists(exp: str, systems: Sequence[str], backends: Sequence[str], trials: dict[str, str],
                    seeds: Sequence[str], num_resamples: int, pairs: Sequence[tuple[str, str]],
                    seed: int = 0) -> tuple[dict, dict]:
    """Speaker-bootstrap intervals of each system's EER (mean over its runs) and the paired
    comparisons ``pairs`` (B, A), per (list, back-end), every run on the same resamples."""
    from vib.backend.trials import align_scores, read_scores, read_trials
    from vib.bootstrap import bootstrap_metrics, interval, paired_comparison, trial_speakers
    from vib.data.kaldi_dir import read_kaldi_map

    intervals, comparisons = {}, {}
    for trial_list, path in trials.items():
        labelled = read_trials(path, need_labels=True)
        utt2spk = os.path.join(os.path.dirname(path), "utt2spk")
        if not os.path.isfile(utt2spk):
            raise VibError(f"no {utt2spk} beside the trials {path} (the bootstrap resamples speakers)")
        spk_e, spk_t, _ = trial_speakers(labelled.enroll, labelled.test, read_kaldi_map(utt2spk), utt2spk)
        for backend in backends:
            runs = {s: run_dirs(s, seeds) for s in systems}
            sets = []
            for system in systems:
                for r in runs[system]:
                    scores = score_paths(exp, r, backend, trial_list)[0]
                    sets.append(align_scores(labelled, *read_scores(scores), scores))
            boot = bootstrap_metrics(np.stack(sets), labelled.labels, spk_e, spk_t, num_resamples, seed)
            columns, start = {}, 0
            for system in systems:
                columns[system] = slice(start, start + len(runs[system]))
                start += len(runs[system])
                intervals[(trial_list, backend, system)] = interval(_run_mean(boot["eer"][:, columns[system]]))
            for b, a in pairs:
                point = [{k: float(np.mean(v)) for k, v in _per_run(exp, s, seeds, backend, trial_list).items()}
                         for s in (a, b)]
                comparisons[(trial_list, backend, b, a)] = paired_comparison(
                    point[0], point[1], *({k: v[:, columns[s]] for k, v in boot.items()} for s in (a, b)))
    return intervals, comparisons


def _run_mean(values: np.ndarray) -> np.ndarray:
    """The mean over runs (columns) per resample; NaN where a resample was degenerate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=1)


def comparison_table(comparisons: dict) -> str:
    """B's relative difference from A (%) in EER and minDCF 0.01 with paired 95 % intervals; a
    star marks a difference whose interval excludes 0."""
    rows = ["| trial list | back-end | B vs A | EER: B - A (%, relative) | minDCF 0.01: B - A (%, relative) |",
            "|---|---|---|---:|---:|"]

    def cell(c: dict) -> str:
        return f"{c['rel']:+.1f} [{c['rel_ci'][0]:+.1f}, {c['rel_ci'][1]:+.1f}]{' *' if c['significant'] else ''}"

    for (trial_list, backend, b, a), c in comparisons.items():
        rows.append(f"| {trial_list} | {backend} | {b} vs {a} | {cell(c['eer'])} | {cell(c['min_dcf_0.01'])} |")
    return "\n".join(rows) + "\n"


def calibration_table(exp: str, systems: Sequence[str], backends: Sequence[str], lists: Sequence[str],
                      seeds: Sequence[str] = ()) -> str:
    """minDCF 0.01 of the scores beside actDCF 0.01 and Cllr of the plain and the quality-aware
    calibration (steps/calibrate_systems.sh)."""
    rows = ["| trial list | back-end | system | minDCF 0.01 | actDCF 0.01 | actDCF 0.01, QMF | Cllr (bits) | "
            "Cllr, QMF |", "|---|---|---|---:|---:|---:|---:|---:|"]
    fields = ("min_dcf_0.01", "act_dcf_0.01", "cllr")
    for trial_list, backend, system in itertools.product(lists, backends, systems):
        plain, qmf = (_per_run(exp, system, seeds, backend, trial_list, fields,
                               lambda e, r, b, lst, q=q: calibrated_paths(e, r, b, lst, q)[1]) for q in (False, True))
        rows.append(f"| {trial_list} | {backend} | {system} | {_cell(plain['min_dcf_0.01'], 3)} | "
                    f"{_cell(plain['act_dcf_0.01'], 3)} | {_cell(qmf['act_dcf_0.01'], 3)} | "
                    f"{_cell(plain['cllr'], 3)} | {_cell(qmf['cllr'], 3)} |")
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-results-table", __doc__)
    parser.add_argument("--systems", required=True, help="comma-separated system names")
    parser.add_argument("--backends", required=True, help="comma-separated back-end names, e.g. cosine,cosine+asnorm,plda")
    parser.add_argument("--lists", required=True, help="comma-separated trial list names, e.g. trials,trials_hard")
    parser.add_argument("--seeds", default="", help="comma-separated seeds: a system is the runs <system>_s<seed>")
    parser.add_argument("--trials", action="append", default=[], metavar="LIST=FILE",
                        help="trials file of a list to bootstrap (repeatable; utt2spk is read beside it)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="speaker resamples for --trials (default: 1000)")
    parser.add_argument("--compare", default="", help="comma-separated B:A system pairs for the comparison table "
                        "(needs --trials)")
    parser.add_argument("--calibrated-lists", default="", help="comma-separated lists with calibrated scores: "
                        "adds the calibration table")
    parser.add_argument("--paths", action="store_true",
                        help="print '<list> <back-end> <run> <scores> <metrics.json> <llr> <llr metrics> "
                             "<qmf llr> <qmf llr metrics>' lines (in table order, whether or not the files exist) "
                             "instead of the tables")
    parser.add_argument("exp", help="experiment dir holding <run>/scores_<backend>_<list>/metrics.json")
    opts = parser.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    systems, backends, lists, seeds = split(opts.systems), split(opts.backends), split(opts.lists), split(opts.seeds)
    if opts.paths:
        for trial_list, backend, system in itertools.product(lists, backends, systems):
            for r in run_dirs(system, seeds):
                print(trial_list, backend, r, *score_paths(opts.exp, r, backend, trial_list),
                      *calibrated_paths(opts.exp, r, backend, trial_list, False),
                      *calibrated_paths(opts.exp, r, backend, trial_list, True))
        return 0
    trials = name_value_pairs(opts.trials, "--trials")
    pairs = [tuple(p.split(":", 1)) for p in split(opts.compare)]
    bad = [p for p in pairs if len(p) != 2 or not set(p) <= set(systems)]
    if bad:
        raise VibError(f"--compare: expected B:A pairs of --systems, got '{':'.join(bad[0])}'")
    if pairs and not trials:
        raise VibError("--compare needs --trials (the comparisons are bootstrapped)")
    intervals, comparisons = bootstrap_lists(opts.exp, systems, backends, trials, seeds, opts.bootstrap, pairs) \
        if trials else ({}, {})
    print(results_table(opts.exp, systems, backends, lists, seeds, intervals), end="")
    if comparisons:
        print(f"\n### Paired comparisons (B vs A; {opts.bootstrap} speaker resamples; * : the 95 % interval "
              "excludes 0)\n")
        print(comparison_table(comparisons), end="")
    if opts.calibrated_lists:
        print("\n### Calibration (trained on dev, applied to test)\n")
        print(calibration_table(opts.exp, systems, backends, split(opts.calibrated_lists), seeds), end="")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    main_entry()
