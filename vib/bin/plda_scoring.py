"""vib-plda-scoring: Kaldi's ivector-plda-scoring, vectorised."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.backend.plda import PldaConfig, llr_terms, plda_trial_scores, transform_vectors
from vib.backend.trials import add_num_utts_option, enroll_counts, index_trials, read_trials, write_scores
from vib.backend.vectors import load_vectors
from vib.cli import add_bool, add_config_options, config_from_options, make_parser, run
from vib.errors import VibError
from vib.io.kaldi_objects import read_plda

USAGE = """vib-plda-scoring [options] <plda-rxfilename> <enroll-rspecifier> <test-rspecifier> <trials-rxfilename> <scores-wxfilename>
e.g.: vib-plda-scoring --num-utts=ark:num_utts.ark plda scp:spk_xvector.scp scp:xvector.scp trials scores
Trials: 'enroll test', 'enroll test target|nontarget' or '1|0 enroll test'; output 'enroll test llr'."""


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-plda-scoring"
    parser = make_parser(prog, "Computes PLDA log-likelihood ratios for trials, as Kaldi's "
                         "ivector-plda-scoring.", USAGE)
    add_config_options(parser, PldaConfig)
    add_num_utts_option(parser)
    add_bool(parser, "--skip-missing", False, "drop trials whose key has no vector (else an error)")
    for name in ("plda", "enroll", "test", "trials", "scores"):
        parser.add_argument(name)
    opts = parser.parse_args(argv)
    plda = read_plda(opts.plda)
    enroll_keys, enroll = load_vectors(opts.enroll, plda.dim)
    test_keys, test = load_vectors(opts.test, plda.dim)
    counts, has_count = enroll_counts(opts.num_utts, enroll_keys, opts.skip_missing, prog)
    trials = read_trials(opts.trials)
    enroll_rows = {k: i for i, k in enumerate(enroll_keys) if has_count[i]}
    ei, ti, keep = index_trials(trials, enroll_rows, {k: i for i, k in enumerate(test_keys)},
                                opts.trials, opts.skip_missing, prog)
    config = config_from_options(PldaConfig, opts)
    terms = llr_terms(plda, transform_vectors(plda, enroll, counts, config), counts)
    scores = plda_trial_scores(terms, transform_vectors(plda, test, 1, config), ei, ti).astype(np.float32)
    write_scores(opts.scores, (enroll_keys, ei), (test_keys, ti), scores)
    print(f"{prog}: LOG: scored {len(scores)} trials; mean {scores.mean():.4g}, std {scores.std():.4g}",
          file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
