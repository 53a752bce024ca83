"""vib-uncertainty-report: how a VIB extractor's predicted variance varies with duration."""
from __future__ import annotations

import math
from typing import Sequence

from vib.backend.vectors import load_vectors
from vib.cli import make_parser, name_value_pairs, run
from vib.errors import VibError
from vib.uncertainty import plot_uncertainty, uncertainty_stats

USAGE = """vib-uncertainty-report [--plot PNG] [--plot-sets NAME,...] <name>=<quality-rspecifier> ...
e.g.: vib-uncertainty-report --plot uncertainty.png test=scp:exp/vib_s0/xvectors_test/quality.scp \\
        test_1s=scp:exp/vib_s0/xvectors_test_1s/quality.scp
Reads the quality tables of vib-extract --write-quality (ln duration, mean ln sigma^2; a VIB
extractor's) and prints a Markdown table, one row per set: utterances, median duration, the
mean over utterances of sigma^2 (geometric mean over dimensions) and the correlation of ln
duration with mean ln sigma^2. --plot draws sigma^2 against duration for --plot-sets (default: all)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-uncertainty-report", "Per-set statistics (and a plot) of the VIB variance "
                         "against utterance duration.", USAGE)
    parser.add_argument("--plot", default="", help="PNG of sigma^2 against duration (default: none)")
    parser.add_argument("--plot-sets", default="", help="comma-separated names of the sets drawn (default: all)")
    parser.add_argument("--title", default="", help="title of the plot")
    parser.add_argument("sets", nargs="+", metavar="NAME=RSPECIFIER")
    opts = parser.parse_args(argv)
    tables = name_value_pairs(opts.sets, "<name>=<quality-rspecifier>")
    quality = {name: load_vectors(rspec)[1] for name, rspec in tables.items()}
    stats = {name: uncertainty_stats(rows, tables[name]) for name, rows in quality.items()}
    drawn = [x for x in opts.plot_sets.split(",") if x] or list(quality)
    unknown = [x for x in drawn if x not in quality]
    if unknown:
        raise VibError(f"--plot-sets: no set '{unknown[0]}' among {', '.join(quality)}")
    if opts.plot:
        plot_uncertainty([(name, quality[name]) for name in drawn], opts.plot, opts.title or None)
    print("| set | utterances | median duration (s) | mean sigma^2 | corr(ln duration, mean ln sigma^2) |")
    print("|---|---:|---:|---:|---:|")
    for name, s in stats.items():
        corr = "n/a (one duration)" if math.isnan(s.correlation) else f"{s.correlation:+.3f}"
        print(f"| {name} | {s.count} | {s.median_duration:.2f} | {s.mean_var:.4f} | {corr} |")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
