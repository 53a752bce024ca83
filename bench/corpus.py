#!/usr/bin/env python3
"""Mini-corpus generation speed: utterances per second of the generator against a baseline of
bare synthesis calls (espeak-ng phonemes -> mbrola -> sox, nothing else) in the same run.

    python bench/corpus.py [--size=tiny|default] [--nj=2]

Prints the wall time of the whole generator (voice check, synthesis, trials, augmentation
sources), its synthesis throughput, the baseline throughput and their ratio.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from local.mini_corpus.generate import DEFAULTS, TINY, prepare_mini
from local.mini_corpus.voices import mbrola_database


def bare_synthesis(text: str) -> None:
    """The cheapest possible utterance: phonemes, diphones, resampling; no checks, no writing."""
    pho = subprocess.run(["espeak-ng", "-v", "mb-de1", "-q", "--pho", text], capture_output=True).stdout
    wav = subprocess.run(["mbrola", "-e", mbrola_database("de1"), "-", "-.wav"], input=pho,
                         capture_output=True).stdout
    subprocess.run(["sox", "-V1", "--ignore-length", "-t", "wav", "-", "-t", "raw", "-e", "floating-point",
                    "-b", "32", "-", "speed", "1.03", "rate", "-h", "16000"], input=wav, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "default"), default="tiny")
    parser.add_argument("--nj", type=int, default=2)
    args = parser.parse_args()
    options = {**DEFAULTS, **(TINY if args.size == "tiny" else {})}
    num_utts = (options["num_train_donors"] * (1 + len(options["warps"])) + options["num_test_donors"]) \
        * options["utts_per_speaker"]
    out = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    try:
        start = time.perf_counter()
        prepare_mini(out / "corpus", num_jobs=args.nj, **options)
        total = time.perf_counter() - start
        num_base = min(num_utts, 400)
        text = "3 1 4 1 5 9 2 6 5 3 apple river green house"
        start = time.perf_counter()
        with ThreadPoolExecutor(args.nj) as pool:
            list(pool.map(bare_synthesis, [text] * num_base))
        base_rate = num_base / (time.perf_counter() - start)
    finally:
        shutil.rmtree(out)
    print(f"generator ({args.size}, {num_utts} utterances, nj={args.nj}): {total:.1f} s in all, "
          f"{num_utts / total:.1f} utt/s")
    print(f"baseline (bare espeak-ng -> mbrola -> sox, {num_base} calls): {base_rate:.1f} utt/s")
    print(f"ratio generator/baseline throughput: {num_utts / total / base_rate:.2f}")


if __name__ == "__main__":
    main()
