"""vib-combine-cuts: concatenates cut manifests into one (atomic, ids checked unique)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vib.cli import VibError, make_parser, run
from vib.data.features import combine_cut_parts


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-combine-cuts", "Writes <out> = the cuts of <part> ... in order.")
    parser.add_argument("out")
    parser.add_argument("parts", nargs="+")
    args = parser.parse_args(argv)
    for part in args.parts:
        if not Path(part).is_file():
            raise VibError(f"missing cut manifest '{part}'")
    combine_cut_parts(args.parts, args.out)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
