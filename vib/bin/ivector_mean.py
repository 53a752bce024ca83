"""vib-ivector-mean: Kaldi's ivector-mean (global mean, or per-speaker means and counts)."""
from __future__ import annotations

import sys
from typing import Sequence

from vib.backend.mean import global_mean, speaker_means
from vib.backend.vectors import load_vectors
from vib.cli import add_bool, make_parser, run
from vib.errors import VibError
from vib.io.kaldi_objects import read_token_table, write_int_table, write_kaldi_vector
from vib.io.tables import write_table

USAGE = """vib-ivector-mean [options] <spk2utt> <vector-rspecifier> <vector-wspecifier> [<num-utts-wspecifier>]
   or: vib-ivector-mean [options] <vector-rspecifier> <mean-wxfilename>
e.g.: vib-ivector-mean data/spk2utt scp:xvector.scp ark,scp:spk_xvector.ark,spk_xvector.scp ark,t:num_utts.ark
      vib-ivector-mean scp:xvector.scp mean.vec"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-ivector-mean", "Averages vectors per speaker (3 or 4 arguments) or over "
                         "all inputs (2 arguments), as Kaldi's ivector-mean.", USAGE)
    add_bool(parser, "--binary", False, "write the 2-argument mean vector in binary (Kaldi default false)")
    parser.add_argument("args", nargs="+")
    opts = parser.parse_args(argv)
    if len(opts.args) == 2:
        _, vectors = load_vectors(opts.args[0])
        write_kaldi_vector(opts.args[1], global_mean(vectors), binary=opts.binary, double=True)
        return 0
    if len(opts.args) not in (3, 4):
        parser.error("expected 2, 3 or 4 arguments")
    spk2utt = read_token_table(opts.args[0])
    keys, vectors = load_vectors(opts.args[1])
    row_of = {k: i for i, k in enumerate(keys)}
    speakers, means, counts, missing = speaker_means(spk2utt, row_of, vectors)
    if missing:
        print(f"vib-ivector-mean: WARNING: {len(missing)} utterances of {opts.args[0]} have no vector "
              f"(first: '{missing[0]}')", file=sys.stderr)
    if not speakers:
        raise VibError(f"no speaker of '{opts.args[0]}' has a vector in '{opts.args[1]}'")
    write_table(opts.args[2], dict(zip(speakers, means)))
    if len(opts.args) == 4:
        write_int_table(opts.args[3], dict(zip(speakers, counts.tolist())))
    print(f"vib-ivector-mean: LOG: averaged {int(counts.sum())} vectors over {len(speakers)} speakers",
          file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
