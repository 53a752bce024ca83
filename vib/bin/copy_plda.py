"""vib-copy-plda: Kaldi's ivector-copy-plda (format conversion, within-class smoothing)."""
from __future__ import annotations

from typing import Sequence

from vib.backend.plda import smooth_within_class
from vib.cli import add_bool, make_parser, run
from vib.io.kaldi_objects import read_plda, write_plda

USAGE = "vib-copy-plda [--smoothing=0.0] [--binary=true] <plda-rxfilename> <plda-wxfilename>"


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-copy-plda", "Copies a PLDA object, optionally adding smoothing times the "
                         "between-class covariance to the within-class covariance.", USAGE)
    parser.add_argument("--smoothing", type=float, default=0.0, help="smoothing factor (default: 0.0)")
    add_bool(parser, "--binary", True, "write in binary")
    parser.add_argument("plda_in")
    parser.add_argument("plda_out")
    opts = parser.parse_args(argv)
    plda = read_plda(opts.plda_in)
    if opts.smoothing != 0.0:
        plda = smooth_within_class(plda, opts.smoothing)
    write_plda(opts.plda_out, plda, binary=opts.binary)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
