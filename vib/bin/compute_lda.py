"""vib-compute-lda: Kaldi's ivector-compute-lda."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.backend.lda import LdaConfig, compute_lda
from vib.backend.vectors import load_vectors
from vib.cli import add_bool, add_config_options, config_from_options, make_parser, run
from vib.io.kaldi_objects import read_token_table, write_kaldi_matrix

USAGE = """vib-compute-lda [options] <vector-rspecifier> <utt2spk-rspecifier> <lda-matrix-wxfilename>
e.g.: vib-compute-lda --dim=200 --total-covariance-factor=0.0 scp:xvector.scp ark:data/train/utt2spk transform.mat"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-compute-lda", "Computes an LDA affine transform [dim x (D+1)] from "
                         "vectors and utt2spk, as Kaldi's ivector-compute-lda (global mean removed, "
                         "within-class covariance made unit).", USAGE)
    add_config_options(parser, LdaConfig)
    add_bool(parser, "--binary", True, "write the matrix in binary")
    parser.add_argument("vectors")
    parser.add_argument("utt2spk")
    parser.add_argument("lda_out")
    opts = parser.parse_args(argv)
    keys, vectors = load_vectors(opts.vectors)
    utt2spk = read_token_table(opts.utt2spk)
    have = [i for i, k in enumerate(keys) if k in utt2spk]
    if len(have) < len(keys):
        print(f"vib-compute-lda: WARNING: {len(keys) - len(have)} vectors have no utt2spk entry, "
              "skipping them", file=sys.stderr)
    speakers = sorted({utt2spk[keys[i]][0] for i in have})
    spk_id = {s: n for n, s in enumerate(speakers)}
    labels = np.array([spk_id[utt2spk[keys[i]][0]] for i in have], dtype=np.int64)
    transform = compute_lda(vectors[have], labels, config_from_options(LdaConfig, opts))
    write_kaldi_matrix(opts.lda_out, transform, binary=opts.binary)
    print(f"vib-compute-lda: LOG: LDA {vectors.shape[1]} -> {opts.dim} from {len(have)} vectors of "
          f"{len(speakers)} speakers", file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
