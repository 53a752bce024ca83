#!/usr/bin/env python3
"""Data pipeline speed: fbank extraction real-time factor and training-loader crops/s.

    . ./path.sh && python bench/data.py                      # 10 min of audio, 2 cores
    python bench/data.py --minutes 0.5 --crops 64 --batch-size 16   # smoke size

Generates audio (sine + noise, 16 kHz) and MUSAN/RIR-shaped augmentation sets in
a temporary dir, then prints, each beside a baseline measured in the same run:
  * fbank RTF (wall time / audio time) of steps/compute_fbank.sh --nj 2, against --nj 1,
    and of the extraction alone in one process (no start-up);
  * loader crops/s: stored features, and augmentation on (speed, reverb, noise,
    music, babble) with 0 and --workers DataLoader workers.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.data.audio_fixtures import make_augmentation_tree, write_wav  # noqa: E402
from vib.data.augment_sources import prepare_augmentation  # noqa: E402
from vib.data.features import compute_fbank_part  # noqa: E402
from vib.data.kaldi_dir import write_kaldi_data_dir  # noqa: E402
from vib.data.loader import build_spk2id, build_train_loader  # noqa: E402
from vib.data.manifests import import_kaldi_data_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def make_corpus(root: Path, minutes: float) -> float:
    """Utterances of 4-12 s over 20 speakers totalling ``minutes``; returns seconds of audio."""
    rng = np.random.default_rng(0)
    wav_scp, utt2spk, total, i = {}, {}, 0.0, 0
    while total < minutes * 60:
        seconds = float(rng.uniform(4, 12))
        utt = f"spk{i % 20:02d}-utt{i:05d}"
        wav_scp[utt] = str(write_wav(root / "wav" / f"{utt}.wav", seconds, i))
        utt2spk[utt] = utt.split("-")[0]
        total += seconds
        i += 1
    write_kaldi_data_dir(root / "data", wav_scp, utt2spk)
    import_kaldi_data_dir(root / "data")
    return total


def crops_per_second(cuts: str, spk2id: dict, args, augment, workers: int) -> tuple[float, float]:
    """(crops per wall second, crops per CPU second of this process and its workers)."""
    loader = build_train_loader(cuts, spk2id, batch_size=args.batch_size, augment=augment, epoch_size=args.crops,
                                num_workers=workers, seed=0)
    cpu = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    start = time.perf_counter()
    count = sum(len(y) for _, y in loader)
    wall = time.perf_counter() - start
    used = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime - r.ru_utime - r.ru_stime
               for who, r in zip((resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN), cpu))
    return count / wall, count / used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="audio for the fbank benchmark")
    parser.add_argument("--crops", type=int, default=1024, help="crops per loader measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (= cores used)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seconds = make_corpus(root, args.minutes)
        print(f"audio: {seconds / 60:.1f} min in {len(list((root / 'wav').iterdir()))} utterances")

        start = time.perf_counter()
        compute_fbank_part(root / "data" / "cuts.jsonl.gz", root / "base" / "feats", root / "base" / "cuts.jsonl.gz")
        in_process = time.perf_counter() - start
        wall = {}
        for nj in (1, 2):
            start = time.perf_counter()
            subprocess.run(["bash", "-c", f". {REPO}/path.sh && compute_fbank.sh --nj {nj} {root}/data {root}/fbank{nj}"],
                           check=True, capture_output=True)
            wall[nj] = time.perf_counter() - start
        print(f"fbank RTF, compute_fbank.sh --nj 2: {wall[2] / seconds:.4f} ({seconds / wall[2]:.0f}x real time)"
              f" | baseline --nj 1: {wall[1] / seconds:.4f} | speed-up {wall[1] / wall[2]:.2f}x"
              f" | extraction alone, 1 thread in-process: {in_process / seconds:.4f}"
              f" (the scripts' extra time is process start-up, fixed per run)")

        musan, rirs = make_augmentation_tree(root / "aug")
        prepare_augmentation(root / "aug" / "manifests", str(musan), str(rirs))
        m = root / "aug" / "manifests"
        augment = {"speed": {"prob": 0.3, "factors": [0.9, 1.1]}, "reverb": {"prob": 0.3, "rirs": str(m / "rir.jsonl.gz")},
                   "noise": {"prob": 0.2, "recordings": str(m / "noise.jsonl.gz"), "snr": [0, 15]},
                   "music": {"prob": 0.1, "recordings": str(m / "music.jsonl.gz"), "snr": [5, 15]},
                   "babble": {"prob": 0.1, "recordings": str(m / "speech.jsonl.gz"), "snr": [13, 20],
                              "speakers": [3, 7]}}
        cuts = str(root / "fbank2" / "cuts.jsonl.gz")
        spk2id = build_spk2id(cuts, speed_factors=(0.9, 1.1))
        stored = crops_per_second(cuts, spk2id, args, None, 0)
        aug_single = crops_per_second(cuts, spk2id, args, augment, 0)
        aug_workers = crops_per_second(cuts, spk2id, args, augment, args.workers)
        print(f"loader crops/s (200 frames, batch {args.batch_size}), wall [per CPU-second]:"
              f" stored features, 0 workers: {stored[0]:.0f} [{stored[1]:.0f}]"
              f" | augmented on the fly, 0 workers: {aug_single[0]:.0f} [{aug_single[1]:.0f}]"
              f" | augmented, {args.workers} workers: {aug_workers[0]:.0f} [{aug_workers[1]:.0f}]"
              f" ({aug_workers[0] / aug_single[0]:.2f}x wall)")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other jobs skew these figures)")


if __name__ == "__main__":
    main()
