"""vib-vector-dim: the dimension of the vectors of a Kaldi table (as Kaldi's feat-to-dim for matrices)."""
from __future__ import annotations

from typing import Sequence

from vib.cli import make_parser, run
from vib.errors import VibError
from vib.io.tables import read_table


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-vector-dim", "Prints the dimension of the first vector of <vector-rspecifier>.",
                         "vib-vector-dim <vector-rspecifier>\ne.g.: vib-vector-dim scp:exp/vib/xvectors_train/xvector.scp")
    parser.add_argument("rspecifier")
    args = parser.parse_args(argv)
    for key, value in read_table(args.rspecifier):
        if value.ndim != 1:
            raise VibError(f"{args.rspecifier}: '{key}' is a matrix, not a vector")
        print(value.shape[0])
        return 0
    raise VibError(f"{args.rspecifier}: the table is empty")


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
