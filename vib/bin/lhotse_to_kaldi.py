"""vib-lhotse-to-kaldi: recordings/supervisions.jsonl.gz -> Kaldi data dir."""
from __future__ import annotations

from typing import Sequence

from vib.cli import make_parser, run
from vib.data.manifests import export_kaldi_data_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-lhotse-to-kaldi",
        "Writes a Kaldi data dir (wav.scp, utt2spk, spk2utt, segments when utterances are parts\n"
        "of recordings, utt2lang when set) from <manifest-dir>/{recordings,supervisions}.jsonl.gz.")
    parser.add_argument("manifest_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    export_kaldi_data_dir(args.manifest_dir, args.out_dir)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
