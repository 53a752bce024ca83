"""vib-results-table: one Markdown table of EER / minDCF for system x back-end x trial list.

Reads the ``metrics*.json`` files that steps/score_*.sh write (``vib-compute-metrics --json``)
and prints the table. A back-end ``X`` is ``<exp>/<system>/scores_X_<list>/{scores,metrics.json}``;
``X+NORM`` (e.g. ``cosine+asnorm``) is the score-normalised variant in the same dir,
``scores_NORM`` and ``metrics_NORM.json``. With ``--paths`` it prints those file names instead.
"""
from __future__ import annotations

import itertools
import json
import os
from typing import Sequence

from vib.cli import make_parser, run
from vib.errors import VibError


def score_paths(exp: str, system: str, backend: str, trial_list: str) -> tuple[str, str]:
    """(scores, metrics.json) that steps/score_*.sh leave for one system, back-end (``X`` or ``X+NORM``) and list."""
    scorer, _, norm = backend.partition("+")
    score_dir = os.path.join(exp, system, f"scores_{scorer}_{trial_list}")
    if norm:
        return os.path.join(score_dir, f"scores_{norm}"), os.path.join(score_dir, f"metrics_{norm}.json")
    return os.path.join(score_dir, "scores"), os.path.join(score_dir, "metrics.json")


def metrics_path(exp: str, system: str, backend: str, trial_list: str) -> str:
    """Where steps/score_*.sh leave the metrics of one system, back-end (``X`` or ``X+NORM``) and list."""
    return score_paths(exp, system, backend, trial_list)[1]


def results_table(exp: str, systems: Sequence[str], backends: Sequence[str], lists: Sequence[str]) -> str:
    """Markdown table, one row per (list, back-end, system); EER in %, minDCF normalised."""
    rows = ["| trial list | back-end | system | EER (%) | minDCF 0.01 | minDCF 0.001 |",
            "|---|---|---|---:|---:|---:|"]
    for trial_list in lists:
        for backend in backends:
            for system in systems:
                path = metrics_path(exp, system, backend, trial_list)
                if not os.path.isfile(path):
                    raise VibError(f"missing metrics file '{path}' (run the scoring stage first)")
                with open(path) as f:
                    m = json.load(f)
                try:
                    rows.append(f"| {trial_list} | {backend} | {system} | {m['eer']:.2f} | "
                                f"{m['min_dcf_0.01']:.3f} | {m['min_dcf_0.001']:.3f} |")
                except KeyError as err:
                    raise VibError(f"{path}: no field {err}") from err
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-results-table", __doc__)
    parser.add_argument("--systems", required=True, help="comma-separated system names (dirs under <exp>)")
    parser.add_argument("--backends", required=True, help="comma-separated back-end names, e.g. cosine,cosine+asnorm,plda")
    parser.add_argument("--lists", required=True, help="comma-separated trial list names, e.g. trials,trials_hard")
    parser.add_argument("--paths", action="store_true",
                        help="print '<list> <back-end> <system> <scores> <metrics.json>' lines (in table order, "
                             "whether or not the files exist) instead of the table")
    parser.add_argument("exp", help="experiment dir holding <system>/scores_<backend>_<list>/metrics.json")
    opts = parser.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    systems, backends, lists = split(opts.systems), split(opts.backends), split(opts.lists)
    if opts.paths:
        for trial_list, backend, system in itertools.product(lists, backends, systems):
            print(trial_list, backend, system, *score_paths(opts.exp, system, backend, trial_list))
    else:
        print(results_table(opts.exp, systems, backends, lists), end="")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    main_entry()
