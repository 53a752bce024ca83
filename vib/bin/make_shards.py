"""vib-make-shards: writes a training set's cuts with their features (and audio) as Lhotse Shar shards."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vib.cli import add_bool, make_parser, run
from vib.data.shards import write_shards
from vib.errors import VibError


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-make-shards",
        "Writes the cuts of <fbank-dir>/cuts.jsonl.gz (or a manifest given directly), in a seeded random\n"
        "order, as shards <shard-dir>/cuts.NNNNNN.jsonl.gz + features.NNNNNN.tar (lilcom) [+ recording.NNNNNN.tar\n"
        "(FLAC)], with utt2spk, utt2num_frames, utt2dur and fbank.yaml; vib-train reads the dir sequentially.\n"
        "The dir is written under a temporary name and renamed into place when complete.",
        "vib-make-shards [options] <fbank-dir | cuts.jsonl.gz> <shard-dir>\n"
        "e.g.: vib-make-shards --shard-size 1000 --audio=true fbank/train shards/train")
    parser.add_argument("cuts")
    parser.add_argument("shard_dir")
    parser.add_argument("--shard-size", type=int, default=1000, help="cuts per shard")
    add_bool(parser, "--audio", False, "also store the audio (needed for online augmentation)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cut order")
    parser.add_argument("--nj", type=int, default=1, help="parallel writer processes")
    args = parser.parse_args(argv)
    cuts = Path(args.cuts) / "cuts.jsonl.gz" if Path(args.cuts).is_dir() else Path(args.cuts)
    if not cuts.is_file():
        raise VibError(f"missing cut manifest '{cuts}' (run steps/compute_fbank.sh first)")
    count = write_shards(cuts, args.shard_dir, shard_size=args.shard_size, audio=args.audio, seed=args.seed,
                         num_jobs=args.nj)
    print(f"vib-make-shards: {args.shard_dir}: {count} shard(s)")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
