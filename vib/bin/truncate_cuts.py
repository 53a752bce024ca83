"""vib-truncate-cuts: a short-segment condition of a feature dir, and its trial lists."""
from __future__ import annotations

import sys
from typing import Sequence

from vib.cli import make_parser, name_value_pairs, run
from vib.data.short_segments import short_test_trials, truncate_cuts

USAGE = """vib-truncate-cuts [options] <fbank-dir> <out-fbank-dir>
e.g.: vib-truncate-cuts --duration 2.0 --suffix _2s --trials data/test/trials=data/test_2s/trials fbank/test fbank/test_2s"""


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-truncate-cuts"
    parser = make_parser(prog, "Writes <out-fbank-dir>/cuts.jsonl.gz: every cut of <fbank-dir> cut to its first "
                         "--duration seconds (the same stored features; a shorter cut is kept whole), ids + "
                         "--suffix; with --trials, trial lists whose test side points at them.", USAGE)
    parser.add_argument("--duration", type=float, required=True, help="seconds kept from the start of each cut")
    parser.add_argument("--suffix", default=None, help="appended to every cut id (default: _<duration>s)")
    parser.add_argument("--trials", action="append", default=[], metavar="IN=OUT",
                        help="a trial list to rewrite (repeatable): the test key of each trial renamed, enroll kept")
    parser.add_argument("fbank_dir")
    parser.add_argument("out_dir")
    opts = parser.parse_args(argv)
    pairs = name_value_pairs(opts.trials, "--trials")
    suffix = opts.suffix if opts.suffix is not None else f"_{opts.duration:g}s"
    renamed = truncate_cuts(opts.fbank_dir, opts.out_dir, opts.duration, suffix)
    print(f"{prog}: LOG: {len(renamed)} cuts cut to {opts.duration:g} s -> {opts.out_dir}/cuts.jsonl.gz", file=sys.stderr)
    for trials_in, trials_out in pairs.items():
        count = short_test_trials(trials_in, trials_out, renamed)
        print(f"{prog}: LOG: {count} trials -> {trials_out}", file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
