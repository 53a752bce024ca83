"""vib-split-cuts: splits a cut manifest into N parts for parallel jobs."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vib.cli import make_parser, run
from vib.data.features import read_fbank_config, write_cuts, write_fbank_config
from vib.data.manifests import load_cuts
from vib.errors import VibError


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-split-cuts",
        "Splits <cuts> into <nj> contiguous parts <out-dir>/cuts.JOB.jsonl.gz, JOB = 1..nj\n"
        "(fewer when there are fewer cuts; the count is printed). Existing complete splits are kept.\n"
        "With --fbank-dir, also writes <fbank-dir>/fbank.yaml (an existing one is completed with\n"
        "the default options and otherwise kept) for the feature jobs and the training loader.")
    parser.add_argument("cuts")
    parser.add_argument("nj", type=int)
    parser.add_argument("out_dir")
    parser.add_argument("--fbank-dir", default=None, help="feature dir to write fbank.yaml into")
    args = parser.parse_args(argv)
    if not Path(args.cuts).is_file():
        raise VibError(f"missing cut manifest '{args.cuts}'")
    if args.nj < 1:
        raise VibError(f"nj must be at least 1, got {args.nj}")
    if args.fbank_dir:
        Path(args.fbank_dir).mkdir(parents=True, exist_ok=True)
        write_fbank_config(args.fbank_dir, read_fbank_config(args.fbank_dir))
    out = Path(args.out_dir)
    done = out / "num_parts"
    if done.is_file():
        print(done.read_text().strip())
        return 0
    cuts = load_cuts(args.cuts).to_eager()
    if len(cuts) == 0:
        raise VibError(f"'{args.cuts}' has no cuts")
    parts = cuts.split(min(args.nj, len(cuts)))
    out.mkdir(parents=True, exist_ok=True)
    for job, part in enumerate(parts, 1):
        write_cuts(part, out / f"cuts.{job}.jsonl.gz")
    done.write_text(f"{len(parts)}\n")
    print(len(parts))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
