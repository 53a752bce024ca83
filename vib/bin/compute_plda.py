"""vib-compute-plda: Kaldi's ivector-compute-plda."""
from __future__ import annotations

import sys
from typing import Sequence

from vib.backend.mean import group_rows
from vib.backend.plda import PldaEstimationConfig, estimate_plda, plda_stats
from vib.backend.vectors import load_vectors
from vib.cli import add_bool, add_config_options, config_from_options, make_parser, run
from vib.errors import VibError
from vib.io.kaldi_objects import read_token_table, write_plda

USAGE = """vib-compute-plda [options] <spk2utt-rspecifier> <vector-rspecifier> <plda-wxfilename>
e.g.: vib-compute-plda ark:data/train/spk2utt scp:xvector.scp plda"""


def log(msg: str) -> None:
    print(f"vib-compute-plda: LOG: {msg}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-compute-plda", "Estimates a two-covariance PLDA model by E-M from vectors "
                         "grouped by spk2utt, exactly as Kaldi's ivector-compute-plda, and writes Kaldi's "
                         "<Plda> object.", USAGE)
    add_config_options(parser, PldaEstimationConfig)
    add_bool(parser, "--binary", True, "write the model in binary")
    parser.add_argument("spk2utt")
    parser.add_argument("vectors")
    parser.add_argument("plda_out")
    opts = parser.parse_args(argv)
    spk2utt = read_token_table(opts.spk2utt)
    keys, vectors = load_vectors(opts.vectors)
    speakers, rows, owner, missing = group_rows(spk2utt, {k: i for i, k in enumerate(keys)})
    if missing:
        print(f"vib-compute-plda: WARNING: {len(missing)} utterances of {opts.spk2utt} have no vector",
              file=sys.stderr)
    if not len(rows):
        raise VibError("No stats accumulated, unable to estimate PLDA.")
    log(f"accumulated stats from {len(speakers)} speakers, {len(rows)} vectors of dimension {vectors.shape[1]}")
    stats = plda_stats(vectors[rows], owner)
    plda = estimate_plda(stats, config_from_options(PldaEstimationConfig, opts), log)
    write_plda(opts.plda_out, plda, binary=opts.binary)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
