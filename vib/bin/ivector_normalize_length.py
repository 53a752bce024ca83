"""vib-ivector-normalize-length: Kaldi's ivector-normalize-length."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.backend.transforms import normalize_length
from vib.backend.vectors import load_vectors
from vib.cli import add_bool, make_parser, run
from vib.io.tables import write_table

USAGE = "vib-ivector-normalize-length [options] <vector-rspecifier> <vector-wspecifier>"


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-ivector-normalize-length", "Scales vectors to length sqrt(dim) "
                         "(or 1 with --scaleup=false), as Kaldi's ivector-normalize-length.", USAGE)
    add_bool(parser, "--normalize", True, "normalise (false: just copy)")
    add_bool(parser, "--scaleup", True, "scale the unit vector up by sqrt(dim)")
    parser.add_argument("rspec")
    parser.add_argument("wspec")
    opts = parser.parse_args(argv)
    keys, vectors = load_vectors(opts.rspec)
    zero = np.flatnonzero(~vectors.any(axis=1))
    if zero.size:
        print(f"vib-ivector-normalize-length: WARNING: {zero.size} zero vectors left as they are "
              f"(first: '{keys[zero[0]]}')", file=sys.stderr)
    out = normalize_length(vectors, opts.scaleup) if opts.normalize else vectors
    write_table(opts.wspec, zip(keys, out))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
