"""vib-fbank-to-kaldi: stored features of a cut manifest -> Kaldi feats table."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vib.cli import make_parser, run
from vib.data.features import export_kaldi_feats
from vib.errors import VibError


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-fbank-to-kaldi",
        "Writes the stored features of <cuts> as Kaldi float matrices, e.g.\n"
        "  vib-fbank-to-kaldi fbank/train/cuts.jsonl.gz ark,scp:fbank/train/feats.ark,fbank/train/feats.scp")
    parser.add_argument("cuts")
    parser.add_argument("wspecifier")
    args = parser.parse_args(argv)
    if not Path(args.cuts).is_file():
        raise VibError(f"missing cut manifest '{args.cuts}'")
    export_kaldi_feats(args.cuts, args.wspecifier)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
