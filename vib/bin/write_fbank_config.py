"""vib-write-fbank-config: writes the default fbank options to <fbank-dir>/fbank.yaml."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vib.cli import make_parser, run
from vib.data.features import FBANK_CONFIG_NAME, FBANK_DEFAULTS, read_fbank_config, write_fbank_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-write-fbank-config",
        f"Writes <fbank-dir>/{FBANK_CONFIG_NAME} with the default fbank options {FBANK_DEFAULTS};\n"
        "an existing file is completed with missing defaults and otherwise kept.")
    parser.add_argument("fbank_dir")
    args = parser.parse_args(argv)
    Path(args.fbank_dir).mkdir(parents=True, exist_ok=True)
    write_fbank_config(args.fbank_dir, read_fbank_config(args.fbank_dir))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
