"""vib-plda-scoring: Kaldi's ivector-plda-scoring, vectorised."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.backend.plda import llr_terms, plda_trial_scores, transform_vectors
from vib.backend.trials import index_trials, read_trials, write_scores
from vib.backend.vectors import load_vectors
from vib.cli import add_bool, make_parser, run
from vib.errors import VibError
from vib.io.kaldi_objects import read_int_table, read_plda

USAGE = """vib-plda-scoring [options] <plda-rxfilename> <enroll-rspecifier> <test-rspecifier> <trials-rxfilename> <scores-wxfilename>
e.g.: vib-plda-scoring --num-utts=ark:num_utts.ark plda scp:spk_xvector.scp scp:xvector.scp trials scores
Trials: 'enroll test', 'enroll test target|nontarget' or '1|0 enroll test'; output 'enroll test llr'."""


def add_plda_options(parser) -> None:
    """The options of Kaldi's PldaConfig plus --num-utts."""
    add_bool(parser, "--normalize-length", True, "length-normalise in the PLDA space so that "
             "u^T (psi + I/n)^-1 u = dim")
    add_bool(parser, "--simple-length-normalization", False, "instead normalise to length sqrt(dim)")
    parser.add_argument("--num-utts", default="", help="int table of vectors averaged per enrollment "
                        "key, e.g. ark:num_utts.ark (default: 1 each)")


def enroll_counts(num_utts: str, keys: list[str], skip_missing: bool, prog: str) -> tuple[np.ndarray, np.ndarray]:
    """(counts [E], kept mask [E]) from a --num-utts table; a missing key is an error unless skipped."""
    if not num_utts:
        return np.ones(len(keys), dtype=np.int64), np.ones(len(keys), dtype=bool)
    table = read_int_table(num_utts)
    counts = np.array([table.get(k, 0) for k in keys], dtype=np.int64)
    keep = counts > 0
    if not keep.all():
        first = keys[int(np.flatnonzero(~keep)[0])]
        if not skip_missing:
            raise VibError(f"{num_utts}: no positive count for enrollment key '{first}'")
        print(f"{prog}: WARNING: {int((~keep).sum())} enrollment keys have no count in {num_utts}; "
              f"their trials are skipped (first: '{first}')", file=sys.stderr)
    return np.maximum(counts, 1), keep


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-plda-scoring"
    parser = make_parser(prog, "Computes PLDA log-likelihood ratios for trials, as Kaldi's "
                         "ivector-plda-scoring.", USAGE)
    add_plda_options(parser)
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
    norm = dict(normalize_length=opts.normalize_length, simple_length_norm=opts.simple_length_normalization)
    terms = llr_terms(plda, transform_vectors(plda, enroll, counts, **norm), counts)
    scores = plda_trial_scores(terms, transform_vectors(plda, test, 1, **norm), ei, ti).astype(np.float32)
    kept = np.flatnonzero(keep)
    write_scores(opts.scores, [trials.enroll[k] for k in kept], [trials.test[k] for k in kept], scores)
    print(f"{prog}: LOG: scored {len(kept)} trials; mean {scores.mean():.4g}, std {scores.std():.4g}",
          file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
