#!/usr/bin/env python3
"""Assembles bench/RESULTS.md from the JSON figures of the benchmark scripts (see bench/run.sh).

    python bench/report.py --out bench/RESULTS.md --command "bench/run.sh" --threads 2 \\
        --load-start "1.02 0.88 0.75" --seconds 512 backend.json data.json ...
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import Figure, atomic_write_text, figures_from_json, fmt  # noqa: E402


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_rows(threads: int, load_start: str) -> list[tuple[str, str]]:
    """(what, value) rows describing the machine and software."""
    import numpy
    import torch

    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [("cores", str(os.cpu_count())), ("CPU", cpu_model()), ("threads used", str(threads)),
            ("load average (1, 5, 15 min) at start", load_start), ("load average at end", load_end),
            ("Python", platform.python_version()), ("torch", torch.__version__), ("numpy", numpy.__version__),
            ("OS", platform.platform())]


def cell(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{fmt(value)} {unit}".rstrip()


def figure_table(figures: list[Figure]) -> list[str]:
    lines = ["| Figure | Ours | Baseline (same run) | Ratio | Notes |", "|---|---|---|---|---|"]
    for f in figures:
        baseline = f"{cell(f.baseline, f.unit)} ({f.baseline_name})" if f.baseline is not None else "—"
        ratio = f"×{fmt(f.ratio)}" if f.ratio is not None else "—"
        lines.append(f"| {f.name} | {cell(f.value, f.unit)} | {baseline} | {ratio} | {f.note} |")
    return lines


def render(figures: list[Figure], machine: list[tuple[str, str]], command: str, seconds: float,
           repeats: int) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = ["# Benchmark results", "",
             f"Written by `{command}` on {stamp}; the run took {seconds / 60:.1f} min.", "",
             f"Each figure is the median of {repeats} repeat{'s' if repeats > 1 else ''} unless its notes say "
             "otherwise, and its baseline was measured in the same run. Ratio: how many times better ours "
             "is than the baseline (baseline / ours for times, RTFs and memory; ours / baseline for rates). "
             "Other jobs may share the machine (see the load average): that slows both sides of a ratio "
             "alike but adds noise.", "",
             "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in machine]
    groups: dict[str, list[Figure]] = {}
    for f in figures:
        groups.setdefault(f.group, []).append(f)
    for group, members in groups.items():
        lines += ["", f"## {group}", ""] + figure_table(members)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="markdown file to write (atomically)")
    parser.add_argument("--command", required=True, help="the command that produced the figures")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--load-start", required=True, help="load averages when the run started")
    parser.add_argument("--seconds", type=float, required=True, help="wall time of the whole run")
    parser.add_argument("json", nargs="+", help="figure files written with --json by the benchmark scripts")
    args = parser.parse_args()
    figures = [f for path in args.json for f in figures_from_json(path)]
    text = render(figures, machine_rows(args.threads, args.load_start), args.command, args.seconds, args.repeats)
    atomic_write_text(Path(args.out), text)
    print(f"wrote {args.out}: {len(figures)} figures")


if __name__ == "__main__":
    main()
