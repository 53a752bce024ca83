"""vib-prepare-augmentation: MUSAN / RIRS_NOISES -> augmentation manifests."""
from __future__ import annotations

from typing import Sequence

from vib.cli import make_parser, run
from vib.data.augment_sources import prepare_augmentation


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-prepare-augmentation",
        "Writes <out-dir>/{noise,music,speech}.jsonl.gz from MUSAN (<musan>/{noise,music,speech}/*/*.wav)\n"
        "and <out-dir>/rir.jsonl.gz from RIRS_NOISES/simulated_rirs/{small,medium,large}room (rir_list);\n"
        "the training loader's augmentation config points at these files.")
    parser.add_argument("out_dir")
    parser.add_argument("--musan", default=None, help="MUSAN root dir")
    parser.add_argument("--rirs", default=None, help="RIRS_NOISES root dir")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--nj", type=int, default=4, help="parallel audio probes (threads)")
    args = parser.parse_args(argv)
    counts = prepare_augmentation(args.out_dir, args.musan, args.rirs, args.sample_rate, args.nj)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
