"""vib-fingerprint: one line naming the software a result depends on (torch, numpy, BLAS, threads)."""
from __future__ import annotations

from typing import Sequence

from vib.cli import make_parser, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-fingerprint", "Prints Python, torch (its CPU kernel level and threads), numpy and "
                         "its BLAS, lhotse and OMP_NUM_THREADS on one line (RESULTS.md records it).", "vib-fingerprint")
    parser.parse_args(argv)
    from vib.fingerprint import software_fingerprint

    print(software_fingerprint())
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
