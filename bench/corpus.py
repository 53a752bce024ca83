#!/usr/bin/env python3
"""Mini-corpus generation speed: utterances per second of the generator against a baseline of
bare synthesis calls (espeak-ng phonemes -> mbrola -> sox, nothing else) in the same run.

    python bench/corpus.py [--size=tiny|default] [--threads=2] [--repeats=3] [--json=PATH]

Prints the median over --repeats of the generator's throughput (wall time of the whole
generator: voice check, synthesis, trials, augmentation sources), the baseline throughput
and their ratio; --threads is the number of parallel jobs of both.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import Figure, FigureLog, add_common_options  # noqa: E402
from local.mini_corpus.generate import DEFAULTS, TINY, prepare_mini
from local.mini_corpus.voices import mbrola_database  # noqa: E402


def bare_synthesis(text: str) -> None:
    """The cheapest possible utterance: phonemes, diphones, resampling; no checks, no writing."""
    pho = subprocess.run(["espeak-ng", "-v", "mb-de1", "-q", "--pho", text], capture_output=True).stdout
    wav = subprocess.run(["mbrola", "-e", mbrola_database("de1"), "-", "-.wav"], input=pho,
                         capture_output=True).stdout
    subprocess.run(["sox", "-V1", "--ignore-length", "-t", "wav", "-", "-t", "raw", "-e", "floating-point",
                    "-b", "32", "-", "speed", "1.03", "rate", "-h", "16000"], input=wav, capture_output=True)


def throughputs(options: dict, num_utts: int, nj: int) -> tuple[float, float, float]:
    """(generator utt/s, generator wall seconds, bare-synthesis utt/s) of one run."""
    out = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    try:
        start = time.perf_counter()
        prepare_mini(out / "corpus", num_jobs=nj, **options)
        total = time.perf_counter() - start
        num_base = min(num_utts, 400)
        text = "3 1 4 1 5 9 2 6 5 3 apple river green house"
        start = time.perf_counter()
        with ThreadPoolExecutor(nj) as pool:
            list(pool.map(bare_synthesis, [text] * num_base))
        base_rate = num_base / (time.perf_counter() - start)
    finally:
        shutil.rmtree(out)
    return num_utts / total, total, base_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "default"), default="tiny")
    add_common_options(parser)
    args = parser.parse_args()
    if args.tiny:
        args.size, args.repeats = "tiny", 1
    options = {**DEFAULTS, **(TINY if args.size == "tiny" else {})}
    num_utts = (options["num_train_donors"] * (1 + len(options["warps"])) + options["num_test_donors"]) \
        * options["utts_per_speaker"]
    runs = [throughputs(options, num_utts, args.threads) for _ in range(args.repeats)]
    log = FigureLog()
    log.add(Figure("Corpus", f"mini-corpus generator ({args.size}, {num_utts} utterances, nj={args.threads})",
                   statistics.median(r[0] for r in runs), "utt/s", "bare espeak-ng -> mbrola -> sox calls",
                   statistics.median(r[2] for r in runs), "higher", args.repeats,
                   note=f"{statistics.median(r[1] for r in runs):.1f} s in all: voice check, synthesis, trials, "
                        "augmentation sources"))
    log.write(args.json, "bench/corpus.py")


if __name__ == "__main__":
    main()
