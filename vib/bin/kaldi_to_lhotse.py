"""vib-kaldi-to-lhotse: Kaldi data dir -> recordings/supervisions/cuts.jsonl.gz in the same dir."""
from __future__ import annotations

import logging
from typing import Sequence

from vib.cli import add_bool, make_parser, run
from vib.data.manifests import import_kaldi_data_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-kaldi-to-lhotse",
        "Reads a Kaldi data dir (wav.scp with paths or 'cmd |' entries, utt2spk, optional segments,\n"
        "utt2lang) and writes Lhotse manifests recordings.jsonl.gz, supervisions.jsonl.gz and\n"
        "cuts.jsonl.gz (one cut per utterance, speaker = Kaldi speaker id) into the same dir.")
    parser.add_argument("data_dir")
    parser.add_argument("--out-dir", default=None, help="write manifests here instead of the data dir")
    parser.add_argument("--sample-rate", type=int, default=16000, help="required sampling rate in Hz")
    parser.add_argument("--nj", type=int, default=4, help="parallel audio probes (threads)")
    add_bool(parser, "--skip-bad", False,
             "skip utterances with bad audio, listing them in skipped_utts, instead of stopping")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s vib-kaldi-to-lhotse: %(message)s")
    manifests = import_kaldi_data_dir(args.data_dir, args.out_dir, args.sample_rate, args.nj, args.skip_bad)
    logging.info("%s: %d utterances, %d recordings, %d speakers, %d skipped", args.data_dir, len(manifests.cuts),
                 len(manifests.recordings), len({s.speaker for s in manifests.supervisions}), len(manifests.skipped))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
