"""vib-ivector-subtract-global-mean: Kaldi's ivector-subtract-global-mean."""
from __future__ import annotations

from typing import Sequence

from vib.backend.mean import global_mean, subtract_mean
from vib.backend.vectors import load_vectors
from vib.cli import make_parser, run
from vib.errors import VibError
from vib.io.kaldi_objects import read_kaldi_vector
from vib.io.tables import write_table

USAGE = """vib-ivector-subtract-global-mean [<mean-rxfilename>] <vector-rspecifier> <vector-wspecifier>
e.g.: vib-ivector-subtract-global-mean mean.vec scp:xvector.scp ark:-
With two arguments the mean of the input itself is subtracted."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-ivector-subtract-global-mean", "Copies a vector table, subtracting a "
                         "global mean (given, or that of the input).", USAGE)
    parser.add_argument("args", nargs="+")
    opts = parser.parse_args(argv)
    if len(opts.args) not in (2, 3):
        parser.error("expected 2 or 3 arguments")
    *mean_arg, rspec, wspec = opts.args
    keys, vectors = load_vectors(rspec)
    mean = read_kaldi_vector(mean_arg[0]) if mean_arg else global_mean(vectors)
    if mean.shape[0] != vectors.shape[1]:
        raise VibError(f"mean '{mean_arg[0]}' has dimension {mean.shape[0]}, vectors of '{rspec}' "
                       f"have {vectors.shape[1]}")
    write_table(wspec, zip(keys, subtract_mean(vectors, mean)))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
