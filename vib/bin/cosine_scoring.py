"""vib-cosine-scoring: cosine similarity of trial pairs, vectorised."""
from __future__ import annotations

import sys
from typing import Sequence

from vib.backend.cosine import unit_rows
from vib.backend.scoring import score_trials
from vib.backend.trials import index_trials, read_trials, write_scores
from vib.backend.vectors import load_vectors
from vib.cli import add_bool, make_parser, run

USAGE = """vib-cosine-scoring [options] <enroll-rspecifier> <test-rspecifier> <trials-rxfilename> <scores-wxfilename>
Same as Kaldi's ivector-normalize-length --scaleup=false on both sides, then ivector-compute-dot-products."""


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-cosine-scoring"
    parser = make_parser(prog, "Scores trials by the cosine of enrollment and test vectors; output "
                         "'enroll test score'.", USAGE)
    add_bool(parser, "--skip-missing", False, "drop trials whose key has no vector (else an error)")
    for name in ("enroll", "test", "trials", "scores"):
        parser.add_argument(name)
    opts = parser.parse_args(argv)
    enroll_keys, enroll = load_vectors(opts.enroll)
    test_keys, test = load_vectors(opts.test, enroll.shape[1])
    trials = read_trials(opts.trials)
    ei, ti, keep = index_trials(trials, {k: i for i, k in enumerate(enroll_keys)},
                                {k: i for i, k in enumerate(test_keys)}, opts.trials, opts.skip_missing, prog)
    scores = score_trials(unit_rows(enroll, enroll_keys), unit_rows(test, test_keys), ei, ti)
    write_scores(opts.scores, (enroll_keys, ei), (test_keys, ti), scores)
    print(f"{prog}: LOG: scored {len(scores)} trials", file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
