"""vib-split-speakers: holds speakers out of a data dir as a dev set with a trial list."""
from __future__ import annotations

import sys
from typing import Sequence

from vib.cli import make_parser, run

USAGE = """vib-split-speakers [options] <data-dir> <rest-dir> <heldout-dir>
e.g.: vib-split-speakers --num-speakers=200 data/voxceleb2_dev data/voxceleb2_dev_fit data/voxceleb2_dev_cal"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-split-speakers", "Writes <heldout-dir> (--num-speakers speakers of <data-dir>, drawn "
                         "with --seed, and <heldout-dir>/trials: sampled target and non-target pairs, Kaldi form) and "
                         "<rest-dir> (the other speakers): wav.scp, utt2spk, spk2utt and the Lhotse manifests.", USAGE)
    parser.add_argument("--num-speakers", type=int, default=200, help="speakers to hold out (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the speaker draw and the trials (default: 0)")
    parser.add_argument("--max-targets", type=int, default=20000, help="at most this many target trials "
                        "(default: 20000)")
    parser.add_argument("--nontarget-ratio", type=float, default=10.0, help="non-target trials per target trial "
                        "(default: 10)")
    for name in ("data_dir", "rest_dir", "heldout_dir"):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    from vib.data.speaker_split import split_speakers

    rest, held = split_speakers(args.data_dir, args.rest_dir, args.heldout_dir, args.num_speakers, args.seed,
                                args.max_targets, args.nontarget_ratio)
    print(f"vib-split-speakers: {args.heldout_dir}: {args.num_speakers} speakers, {held} utterances (+ trials); "
          f"{args.rest_dir}: {rest} utterances", file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
