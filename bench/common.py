"""Shared pieces of the benchmark scripts: thread pinning, repeated timing, figures, JSON output.

A benchmark script builds :class:`Figure` records (the median of several repeats, the
baseline measured in the same run, the ratio), prints them as it goes and, with
``--json PATH``, writes them for ``bench/report.py``, which assembles bench/RESULTS.md.
Only the standard library is imported here, so :func:`pin_threads` can run before numpy.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(threads: int) -> None:
    """Sets the BLAS / OpenMP thread count; BLAS reads it when numpy is first imported."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def threads_from_argv(default: int) -> int:
    """The value of ``--threads`` in sys.argv (before argparse runs, so numpy is not yet imported)."""
    for i, arg in enumerate(sys.argv):
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
        if arg == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
    return default


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median_of(measure: Callable[[], float], repeats: int) -> float:
    """Median of ``repeats`` calls of a function returning one measurement."""
    return statistics.median(measure() for _ in range(max(1, repeats)))


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(median wall seconds over ``repeats`` calls, result of the last call)."""
    out: list[Any] = [None]

    def once() -> float:
        seconds, out[0] = timed(fn)
        return seconds

    return median_of(once, repeats), out[0]


@dataclass
class Figure:
    """One benchmark figure beside its baseline.

    ``better`` is "lower" (times, RTF, memory), "higher" (rates) or "" (no ratio, e.g. a
    correlation); ``ratio`` is then how many times better the figure is than the baseline
    (> 1: ours is better), and is None without a baseline.
    """

    group: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    better: str = "lower"
    repeats: int = 1
    note: str = ""
    ratio: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.baseline is not None and self.better == "lower" and self.value > 0:
            self.ratio = self.baseline / self.value
        elif self.baseline is not None and self.better == "higher" and self.baseline > 0:
            self.ratio = self.value / self.baseline

    def line(self) -> str:
        """One readable line for the console."""
        text = f"{self.name}: {fmt(self.value)} {self.unit}".rstrip()
        if self.baseline is not None:
            text += f" | {self.baseline_name}: {fmt(self.baseline)} {self.unit}".rstrip()
        if self.ratio is not None:
            text += f" | ratio x{fmt(self.ratio)}"
        if self.repeats > 1:
            text += f" (median of {self.repeats})"
        return text + (f" [{self.note}]" if self.note else "")


def fmt(x: float) -> str:
    """Four significant figures below 100, whole numbers with thousands separators above."""
    if x == 0 or not (abs(x) < 1e15):
        return f"{x:g}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.4g}"


class FigureLog:
    """Collects figures, printing each as it is added; ``write`` saves them as JSON (atomically)."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def write(self, path: str | None, script: str) -> None:
        if not path:
            return
        atomic_write_text(Path(path), json.dumps({"script": script, "figures": [asdict(f) for f in self.figures]},
                                                 indent=1))


def atomic_write_text(path: Path, text: str) -> None:
    """Writes ``text`` to a temporary name beside ``path``, then renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def pip_install_target(packages: list[str], target: Path, marker: Path) -> Path:
    """``target``, with ``packages`` installed there (``pip install --no-deps --target``) unless
    ``target / marker`` exists already; written under ``<target>.partial`` and renamed."""
    import shutil
    import subprocess

    if (target / marker).exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"installing {' '.join(packages)} (--no-deps) into {target}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--target", str(partial), *packages], check=True)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def add_common_options(parser: argparse.ArgumentParser, threads: int = 2, repeats: int = 3) -> None:
    """--threads, --repeats, --tiny and --json, shared by every benchmark script."""
    parser.add_argument("--threads", type=int, default=threads, help=f"threads (default {threads})")
    parser.add_argument("--repeats", type=int, default=repeats,
                        help=f"repeats per figure, the median is kept (default {repeats})")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds; figures meaningless)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")


def figures_from_json(path: str | Path) -> list[Figure]:
    """Figures written by :meth:`FigureLog.write` (ratio recomputed)."""
    figures = []
    for row in json.loads(Path(path).read_text())["figures"]:
        row.pop("ratio", None)
        figures.append(Figure(**row))
    return figures
