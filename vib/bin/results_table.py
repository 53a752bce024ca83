"""vib-results-table: Markdown tables of EER / minDCF for system x back-end x trial list.

Reads the ``metrics*.json`` files that steps/score_*.sh write (``vib-compute-metrics --json``)
and prints the table. A back-end ``X`` is ``<exp>/<run>/scores_X_<list>/{scores,metrics.json}``;
``X+NORM`` (e.g. ``cosine+asnorm``) is the score-normalised variant in the same dir,
``scores_NORM`` and ``metrics_NORM.json``; steps/calibrate_systems.sh adds ``<scores>_llr`` and
``<scores>_llr_qmf`` (plain and quality-aware calibration) with their ``metrics_*.json``.
With ``--seeds`` a system is several runs ``<system>_s<seed>`` and each cell is the mean ± the
standard deviation over them. With ``--bootstrap N --trials LIST=FILE`` the lists given get 95 %
intervals by resampling speakers (``utt2spk`` beside the trials file), of the mean over seeds,
and ``--compare B:A`` a table of B's relative difference from A with paired intervals
(``--compare-backends B:A``: of back-end B from back-end A, per system). A back-end that only
some systems have (``plda+up``: PLDA with the VIB variances, scores_plda_<list>/scores_up) is
given with ``--backend-systems BACKEND=SYS,...``: its rows are those systems'.
``--calibrated-lists`` adds actDCF / Cllr of the calibrated scores (of ``--calibrated-backends``).
With ``--paths`` it prints the file names instead.
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


def table_rows(systems: Sequence[str], backends: Sequence[str], lists: Sequence[str],
               backend_systems: dict[str, list[str]] | None = None) -> list[tuple[str, str, str]]:
    """(list, back-end, system) in table order; a back-end of ``backend_systems`` only with its systems."""
    only = backend_systems or {}
    return [(lst, b, s) for lst, b, s in itertools.product(lists, backends, systems) if s in only.get(b, systems)]


def results_table(exp: str, systems: Sequence[str], backends: Sequence[str], lists: Sequence[str],
                  seeds: Sequence[str] = (), intervals: dict | None = None,
                  backend_systems: dict[str, list[str]] | None = None) -> str:
    """Markdown table, one row per (list, back-end, system) of :func:`table_rows`; EER in %, minDCF
    normalised; with ``intervals[(list, backend, system)] = (low, high)`` a column of EER intervals."""
    intervals = intervals or {}
    rows = ["| trial list | back-end | system | EER (%) |" + (" EER 95 % interval |" if intervals else "") +
            " minDCF 0.01 | minDCF 0.001 |",
            "|---|---|---|---:|" + ("---:|" if intervals else "") + "---:|---:|"]
    for trial_list, backend, system in table_rows(systems, backends, lists, backend_systems):
        m = _per_run(exp, system, seeds, backend, trial_list)
        ci = intervals.get((trial_list, backend, system))
        ci_cell = (f" [{ci[0]:.2f}, {ci[1]:.2f}] |" if ci else " |") if intervals else ""
        rows.append(f"| {trial_list} | {backend} | {system} | {_cell(m['eer'], 2)} |{ci_cell} "
                    f"{_cell(m['min_dcf_0.01'], 3)} | {_cell(m['min_dcf_0.001'], 3)} |")
    return "\n".join(rows) + "\n"


def bootstrap_lists(exp: str, systems: Sequence[str], backends: Sequence[str], trials: dict[str, str],
                    seeds: Sequence[str], num_resamples: int, pairs: Sequence[tuple[str, str]],
                    seed: int = 0, backend_pairs: Sequence[tuple[str, str]] = (),
                    backend_systems: dict[str, list[str]] | None = None) -> tuple[dict, dict, dict]:
    """Speaker-bootstrap intervals of each system's EER (mean over its runs) and the paired
    comparisons of systems ``pairs`` (B, A) per (list, back-end), keyed (list, back-end, 'B vs A'),
    and of back-ends ``backend_pairs`` per (list, system), keyed (list, system, 'B vs A'); every
    run and back-end of a list on the same resamples."""
    from vib.backend.trials import align_scores, read_scores, read_trials
    from vib.bootstrap import bootstrap_metrics, interval, paired_comparison, trial_speakers
    from vib.data.kaldi_dir import read_kaldi_map

    intervals, comparisons, backend_comparisons = {}, {}, {}
    for trial_list, path in trials.items():
        labelled = read_trials(path, need_labels=True)
        utt2spk = os.path.join(os.path.dirname(path), "utt2spk")
        if not os.path.isfile(utt2spk):
            raise VibError(f"no {utt2spk} beside the trials {path} (the bootstrap resamples speakers)")
        spk_e, spk_t, _ = trial_speakers(labelled.enroll, labelled.test, read_kaldi_map(utt2spk), utt2spk)
        boots = {}
        for backend in backends:
            chosen = [s for s in systems if s in (backend_systems or {}).get(backend, systems)]
            runs = {s: run_dirs(s, seeds) for s in chosen}
            sets = []
            for system in chosen:
                for r in runs[system]:
                    scores = score_paths(exp, r, backend, trial_list)[0]
                    sets.append(align_scores(labelled, *read_scores(scores), scores))
            boot = bootstrap_metrics(np.stack(sets), labelled.labels, spk_e, spk_t, num_resamples, seed)
            start = 0
            for system in chosen:
                columns = slice(start, start + len(runs[system]))
                start += len(runs[system])
                boots[(backend, system)] = {k: v[:, columns] for k, v in boot.items()}
                intervals[(trial_list, backend, system)] = interval(_run_mean(boot["eer"][:, columns]))

        def compare(b_key: tuple[str, str], a_key: tuple[str, str]) -> dict:
            point = [{k: float(np.mean(v)) for k, v in _per_run(exp, s, seeds, backend, trial_list).items()}
                     for backend, s in (a_key, b_key)]
            return paired_comparison(point[0], point[1], boots[a_key], boots[b_key])

        for backend in backends:
            for b, a in pairs:
                if (backend, b) in boots and (backend, a) in boots:
                    comparisons[(trial_list, backend, f"{b} vs {a}")] = compare((backend, b), (backend, a))
        for system in systems:
            for b, a in backend_pairs:
                if (b, system) in boots and (a, system) in boots:
                    backend_comparisons[(trial_list, system, f"{b} vs {a}")] = compare((b, system), (a, system))
    return intervals, comparisons, backend_comparisons


def _run_mean(values: np.ndarray) -> np.ndarray:
    """The mean over runs (columns) per resample; NaN where a resample was degenerate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=1)


def comparison_table(comparisons: dict, group: str = "back-end") -> str:
    """B's relative difference from A (%) in EER and minDCF 0.01 with paired 95 % intervals, one row
    per key (list, ``group`` (the back-end or system compared within), 'B vs A'); a star marks a
    difference whose interval excludes 0."""
    rows = [f"| trial list | {group} | B vs A | EER: B - A (%, relative) | minDCF 0.01: B - A (%, relative) |",
            "|---|---|---|---:|---:|"]

    def cell(c: dict) -> str:
        return f"{c['rel']:+.1f} [{c['rel_ci'][0]:+.1f}, {c['rel_ci'][1]:+.1f}]{' *' if c['significant'] else ''}"

    for (trial_list, within, pair), c in comparisons.items():
        rows.append(f"| {trial_list} | {within} | {pair} | {cell(c['eer'])} | {cell(c['min_dcf_0.01'])} |")
    return "\n".join(rows) + "\n"


def calibration_table(exp: str, systems: Sequence[str], backends: Sequence[str], lists: Sequence[str],
                      seeds: Sequence[str] = (), backend_systems: dict[str, list[str]] | None = None) -> str:
    """minDCF 0.01 of the scores beside actDCF 0.01 and Cllr of the plain and the quality-aware
    calibration (steps/calibrate_systems.sh)."""
    rows = ["| trial list | back-end | system | minDCF 0.01 | actDCF 0.01 | actDCF 0.01, QMF | Cllr (bits) | "
            "Cllr, QMF |", "|---|---|---|---:|---:|---:|---:|---:|"]
    fields = ("min_dcf_0.01", "act_dcf_0.01", "cllr")
    for trial_list, backend, system in table_rows(systems, backends, lists, backend_systems):
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
    parser.add_argument("--compare-backends", default="", help="comma-separated B:A back-end pairs: a table of "
                        "B vs A per system that has both (needs --trials)")
    parser.add_argument("--backend-systems", action="append", default=[], metavar="BACKEND=SYS,...",
                        help="a back-end that only these systems have (repeatable), e.g. plda+up=vib")
    parser.add_argument("--calibrated-lists", default="", help="comma-separated lists with calibrated scores: "
                        "adds the calibration table")
    parser.add_argument("--calibrated-backends", default="", help="comma-separated back-ends of the calibration "
                        "table (default: --backends)")
    parser.add_argument("--paths", action="store_true",
                        help="print '<list> <back-end> <run> <scores> <metrics.json> <llr> <llr metrics> "
                             "<qmf llr> <qmf llr metrics>' lines (in table order, whether or not the files exist) "
                             "instead of the tables")
    parser.add_argument("exp", help="experiment dir holding <run>/scores_<backend>_<list>/metrics.json")
    opts = parser.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    systems, backends, lists, seeds = split(opts.systems), split(opts.backends), split(opts.lists), split(opts.seeds)
    only = {b: split(v) for b, v in name_value_pairs(opts.backend_systems, "--backend-systems").items()}
    unknown = next(([b, "--backends"] for b in only if b not in backends), None) or \
        next(([x, "--systems"] for v in only.values() for x in v if x not in systems), None)
    if unknown is not None:
        raise VibError(f"--backend-systems: '{unknown[0]}' is not one of {unknown[1]}")
    if opts.paths:
        for trial_list, backend, system in table_rows(systems, backends, lists, only):
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
    backend_pairs = [tuple(p.split(":", 1)) for p in split(opts.compare_backends)]
    bad = [p for p in backend_pairs if len(p) != 2 or not set(p) <= set(backends)]
    if bad:
        raise VibError(f"--compare-backends: expected B:A pairs of --backends, got '{':'.join(bad[0])}'")
    if (pairs or backend_pairs) and not trials:
        raise VibError(f"{'--compare' if pairs else '--compare-backends'} needs --trials (the comparisons are "
                       "bootstrapped)")
    intervals, comparisons, backend_comparisons = bootstrap_lists(
        opts.exp, systems, backends, trials, seeds, opts.bootstrap, pairs, backend_pairs=backend_pairs,
        backend_systems=only) if trials else ({}, {}, {})
    print(results_table(opts.exp, systems, backends, lists, seeds, intervals, only), end="")
    heading = f"B vs A; {opts.bootstrap} speaker resamples; * : the 95 % interval excludes 0"
    if comparisons:
        print(f"\n### Paired comparisons of systems ({heading})\n")
        print(comparison_table(comparisons), end="")
    if backend_comparisons:
        print(f"\n### Paired comparisons of back-ends ({heading})\n")
        print(comparison_table(backend_comparisons, group="system"), end="")
    if opts.calibrated_lists:
        print("\n### Calibration (trained on dev, applied to test)\n")
        print(calibration_table(opts.exp, systems, split(opts.calibrated_backends) or backends,
                                split(opts.calibrated_lists), seeds, only), end="")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    main_entry()
