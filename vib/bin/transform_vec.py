"""vib-transform-vec: Kaldi's transform-vec (linear or affine transform of each vector)."""
from __future__ import annotations

from typing import Sequence

from vib.backend.transforms import apply_transform
from vib.backend.vectors import load_vectors
from vib.cli import make_parser, run
from vib.io.kaldi_objects import read_kaldi_matrix
from vib.io.tables import write_table

USAGE = "vib-transform-vec <transform-rxfilename> <vector-rspecifier> <vector-wspecifier>"


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-transform-vec", "Applies a Kaldi matrix [R x D] or affine [R x (D+1)] "
                         "transform to every vector.", USAGE)
    parser.add_argument("transform")
    parser.add_argument("rspec")
    parser.add_argument("wspec")
    opts = parser.parse_args(argv)
    transform = read_kaldi_matrix(opts.transform)
    keys, vectors = load_vectors(opts.rspec)
    write_table(opts.wspec, zip(keys, apply_transform(transform, vectors)))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
