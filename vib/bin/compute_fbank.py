"""vib-compute-fbank: fbank for one manifest of cuts, stored with LilcomChunkyWriter."""
from __future__ import annotations

from typing import Sequence

import torch

from vib.cli import make_parser, run
from vib.data.features import compute_fbank_part, read_fbank_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-compute-fbank",
        "Computes 80-dim log-mel fbank (25 ms / 10 ms, Lhotse's Fbank) for every cut in <cuts-in>,\n"
        "stores it in <storage>.lca (lilcom) and writes cuts pointing at it to <cuts-out>.\n"
        "Used by steps/compute_fbank.sh for one of its --nj parts.")
    parser.add_argument("cuts_in")
    parser.add_argument("storage", help="archive path without the .lca suffix")
    parser.add_argument("cuts_out")
    parser.add_argument("--config-dir", default=None,
                        help="dir with fbank.yaml overriding the default fbank options")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.num_threads)
    config = read_fbank_config(args.config_dir) if args.config_dir else None
    compute_fbank_part(args.cuts_in, args.storage, args.cuts_out, config)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
