"""vib-score-norm: z-, t-, s-norm and adaptive s-norm of a score file with a cohort."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.backend.cosine import unit_rows
from vib.backend.plda import PldaConfig, llr_enroll_side, llr_test_side, transform_vectors
from vib.backend.score_norm import METHODS, cohort_stats, cohort_stats_of_probes, normalize
from vib.backend.trials import add_num_utts_option, enroll_counts, index_keys, read_scores, write_scores
from vib.backend.vectors import load_vectors
from vib.cli import add_config_options, config_from_options, make_parser, run
from vib.errors import VibError
from vib.io.kaldi_objects import read_plda

USAGE = """vib-score-norm [options] <cohort-rspecifier> <enroll-rspecifier> <test-rspecifier> <scores-rxfilename> <scores-wxfilename>
e.g.: vib-score-norm --method=asnorm --top-n=300 scp:train/spk_xvector.scp scp:test/xvector.scp scp:test/xvector.scp scores scores_asnorm
Cohort scores use cosine, or PLDA with --plda (then --num-utts etc. as in vib-plda-scoring)."""


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-score-norm"
    parser = make_parser(prog, "Normalises scores with cohort statistics of the enrollment and test "
                         "sides (std with ddof 0).", USAGE)
    parser.add_argument("--method", default="asnorm", choices=METHODS, help="(default: asnorm)")
    parser.add_argument("--top-n", type=int, default=300,
                        help="cohort scores kept per side for asnorm (default: 300)")
    parser.add_argument("--plda", default="", help="score the cohort with this PLDA instead of cosine")
    add_config_options(parser, PldaConfig)
    add_num_utts_option(parser)
    for name in ("cohort", "enroll", "test", "scores_in", "scores_out"):
        parser.add_argument(name)
    opts = parser.parse_args(argv)
    if opts.top_n < 1:
        raise VibError(f"--top-n must be positive, got {opts.top_n}")
    enroll_keys, trial_test, scores = read_scores(opts.scores_in)
    cohort_keys, cohort = load_vectors(opts.cohort)
    e_keys, enroll = load_vectors(opts.enroll, cohort.shape[1])
    t_keys, test = load_vectors(opts.test, cohort.shape[1])
    # z side: enrollments scored against the cohort as tests; t side: the cohort enrolled
    # (one vector each) scored against the tests. Cosine: both sides unit vectors, no offset.
    if opts.plda:
        plda = read_plda(opts.plda)
        config = config_from_options(PldaConfig, opts)
        counts, _ = enroll_counts(opts.num_utts, e_keys, False, prog)
        e_left, e_off = llr_enroll_side(plda, transform_vectors(plda, enroll, counts, config), counts)
        c_right = llr_test_side(transform_vectors(plda, cohort, 1, config))
        c_left, c_off = llr_enroll_side(plda, transform_vectors(plda, cohort, 1, config), 1)
        t_right = llr_test_side(transform_vectors(plda, test, 1, config))
    else:
        e_left, c_right, t_right = unit_rows(enroll, e_keys), unit_rows(cohort, cohort_keys), unit_rows(test, t_keys)
        c_left, e_off, c_off = c_right, None, np.zeros(len(cohort_keys))
    ei = index_keys(enroll_keys, {k: i for i, k in enumerate(e_keys)})
    ti = index_keys(trial_test, {k: i for i, k in enumerate(t_keys)})
    for keys, idx, table in ((enroll_keys, ei, opts.enroll), (trial_test, ti, opts.test)):
        if (idx < 0).any():
            raise VibError(f"{opts.scores_in}: no vector in '{table}' for key '{keys[int(np.argmax(idx < 0))]}'")
    top_n = opts.top_n if opts.method == "asnorm" else None
    e_stats = t_stats = None
    if opts.method != "tnorm":
        mean, std = cohort_stats(e_left, c_right, e_off, top_n)
        e_stats = (mean[ei], std[ei])
    if opts.method != "znorm":
        mean, std = cohort_stats_of_probes(c_left, c_off, t_right, top_n)
        t_stats = (mean[ti], std[ti])
    write_scores(opts.scores_out, enroll_keys, trial_test, normalize(scores, opts.method, e_stats, t_stats))
    print(f"{prog}: LOG: {opts.method} of {len(scores)} scores with a cohort of {len(cohort_keys)}",
          file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
