#!/usr/bin/env python3
"""Data pipeline speed: fbank extraction real-time factor and training-loader crops/s.

    . ./path.sh && python bench/data.py                # 10 min of audio, 2 cores
    python bench/data.py --tiny                        # smoke size

Generates audio (sine + noise, 16 kHz) and MUSAN/RIR-shaped augmentation sets in
a temporary dir, then prints, each the median of --repeats runs beside a baseline
measured in the same run:
  * fbank RTF (wall time / audio time) of steps/compute_fbank.sh --nj THREADS, against
    --nj 1, and of the extraction alone in one process (no start-up);
  * loader crops/s with augmentation on (speed, reverb, noise, music, babble) with
    THREADS DataLoader workers against 0 workers, and from stored features;
  * memory the training stream holds per cut: the compact cut index against a list of
    Lhotse MonoCuts (what every process and forked worker held before), over --index-cuts
    copies of the corpus's cuts, measured with tracemalloc (deterministic);
  * the loader's memory with --loader-workers workers over --loader-cuts cuts, index against
    MonoCut list: the summed PSS of the main process and its workers, each worker having run
    a full garbage collection (as a long epoch does), per million cuts.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import REPO, Figure, FigureLog, add_common_options, median_of, timed  # noqa: E402
from tests.data.audio_fixtures import make_augmentation_tree, write_wav  # noqa: E402
from vib.data.augment_sources import prepare_augmentation  # noqa: E402
from vib.data.features import compute_fbank_part  # noqa: E402
from vib.data.kaldi_dir import write_kaldi_data_dir  # noqa: E402
from vib.data.loader import build_spk2id, build_train_loader  # noqa: E402
from vib.data.manifests import import_kaldi_data_dir  # noqa: E402

GROUP = "Data"


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


def crops_per_second(cuts: str, spk2id: dict, args, augment, workers: int,
                     fbank_on_device: bool = False) -> tuple[float, float]:
    """(crops per wall second, crops per CPU second of this process and its workers);
    ``fbank_on_device``: the loader's side only (the augmented crops' fbank is left to the device)."""
    loader = build_train_loader(cuts, spk2id, batch_size=args.batch_size, augment=augment, epoch_size=args.crops,
                                num_workers=workers, seed=0, fbank_on_device=fbank_on_device)
    def cpu_seconds(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    own, children = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    count = sum(len(y) for _, y in loader)
    wall = time.perf_counter() - start
    own = cpu_seconds(resource.RUSAGE_SELF) - own
    del loader  # stops and reaps the (persistent) workers, so that RUSAGE_CHILDREN holds their CPU time
    gc.collect()
    return count / wall, count / (own + cpu_seconds(resource.RUSAGE_CHILDREN) - children)


def fbank_figures(root: Path, seconds: float, threads: int, repeats: int) -> list[Figure]:
    """RTF of compute_fbank.sh --nj ``threads`` against --nj 1, and of the extraction alone in-process."""
    def script_rtf(nj: int) -> float:
        out = root / f"fbank{nj}"
        shutil.rmtree(out, ignore_errors=True)
        wall, _ = timed(lambda: subprocess.run(
            ["bash", "-c", f". {REPO}/path.sh && compute_fbank.sh --nj {nj} {root}/data {out}"],
            check=True, capture_output=True))
        return wall / seconds

    def in_process_rtf() -> float:
        shutil.rmtree(root / "base", ignore_errors=True)
        wall, _ = timed(lambda: compute_fbank_part(root / "data" / "cuts.jsonl.gz", root / "base" / "feats",
                                                   root / "base" / "cuts.jsonl.gz"))
        return wall / seconds

    minutes = f"{seconds / 60:.1f} min of audio"
    return [Figure(GROUP, f"fbank RTF, compute_fbank.sh --nj {threads}, {minutes}",
                   median_of(lambda: script_rtf(threads), repeats), "", "--nj 1",
                   median_of(lambda: script_rtf(1), repeats), repeats=repeats,
                   note="wall / audio time, process start-up included"),
            Figure(GROUP, f"fbank RTF, extraction alone in one process (1 thread), {minutes}",
                   median_of(in_process_rtf, repeats), "", repeats=repeats, note="no start-up")]


def augmentation_config(root: Path) -> dict:
    """Speed, reverb, noise, music and babble on generated MUSAN/RIR-shaped sets under ``root``."""
    musan, rirs = make_augmentation_tree(root / "aug")
    m = root / "aug" / "manifests"
    prepare_augmentation(m, str(musan), str(rirs))
    return {"speed": {"prob": 0.3, "factors": [0.9, 1.1]}, "reverb": {"prob": 0.3, "rirs": str(m / "rir.jsonl.gz")},
            "noise": {"prob": 0.2, "recordings": str(m / "noise.jsonl.gz"), "snr": [0, 15]},
            "music": {"prob": 0.1, "recordings": str(m / "music.jsonl.gz"), "snr": [5, 15]},
            "babble": {"prob": 0.1, "recordings": str(m / "speech.jsonl.gz"), "snr": [13, 20], "speakers": [3, 7]}}


def loader_figures(root: Path, args) -> list[Figure]:
    """Augmented crops/s with --threads workers against 0 workers; stored features for reference."""
    augment = augmentation_config(root)
    cuts = str(root / f"fbank{args.threads}" / "cuts.jsonl.gz")
    spk2id = build_spk2id(cuts, speed_factors=(0.9, 1.1))
    rates = {}
    for name, aug, workers, on_device in (("stored", None, 0, False), ("aug0", augment, 0, False),
                                          ("augN", augment, args.threads, False), ("dev0", augment, 0, True)):
        runs = [crops_per_second(cuts, spk2id, args, aug, workers, on_device) for _ in range(args.repeats)]
        rates[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    crops = f"{args.crops:,} crops of 200 frames, batch {args.batch_size}"
    return [Figure(GROUP, f"loader crops/s, augmented on the fly, {args.threads} workers ({crops})",
                   rates["augN"][0], "crops/s", "0 workers (in the main process)", rates["aug0"][0], "higher",
                   args.repeats, note=f"per CPU-second: {rates['augN'][1]:.0f} vs {rates['aug0'][1]:.0f}; "
                                      "speed, reverb, noise, music, babble"),
            Figure(GROUP, f"loader crops/s, stored features, 0 workers ({crops})", rates["stored"][0], "crops/s",
                   better="higher", repeats=args.repeats, note=f"per CPU-second: {rates['stored'][1]:.0f}"),
            Figure(GROUP, f"loader crops per CPU-second, augmented, fbank left to the GPU ({crops})",
                   rates["dev0"][1], "crops/CPU-s", "fbank in the loader", rates["aug0"][1], "higher", args.repeats,
                   note="data.fbank_on_device: what one CPU core feeds when the GPU computes the fbank")]


def index_memory_figure(root: Path, count: int) -> Figure:
    """Python heap per cut: CutIndex over ``count`` cuts against the same cuts as a MonoCut list."""
    import json
    import tracemalloc

    from lhotse import CutSet
    from lhotse.cut import MonoCut

    from vib.data.cut_index import CutIndex

    base = _base_cuts(root)

    def heap_of(build) -> float:
        gc.collect()
        tracemalloc.start()
        held = build()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del held
        return size / count

    lines = [json.dumps(cut.to_dict()) for cut in base]

    def cut_list() -> list:  # distinct objects per cut, as reading a manifest makes them
        return [MonoCut.from_dict({**json.loads(lines[i % len(lines)]), "id": f"{base[i % len(base)].id}-{i}"})
                for i in range(count)]

    listed = heap_of(cut_list)
    cuts = cut_list()
    indexed = heap_of(lambda: CutIndex(cuts))
    return Figure(GROUP, f"training-stream memory per cut, {count:,} cuts", indexed, "bytes/cut",
                  "list of Lhotse MonoCuts", listed, "lower", 1,
                  note="tracemalloc; every process and DataLoader worker holds one (x workers + 1)")


def _pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _collect_in_worker(_: int) -> None:

    torch.set_num_threads(1)
    gc.collect()  # what the generation-2 collections of a long epoch do: touch every tracked object


class _CutList:
    """The training stream's cuts as a list of Lhotse cuts (how the loader held them before the index)."""

    def __init__(self, cuts: list):
        self.cuts = cuts

    def cut(self, i: int):
        return self.cuts[i]


def loader_memory_figure(root: Path, count: int, workers: int, batch_size: int) -> Figure:
    """Summed PSS (MiB) of the main process + ``workers`` DataLoader workers over a manifest of
    ``count`` cuts, each measured in a fresh process: the loader's compact index (read lazily)
    against the manifest read as a list of Lhotse MonoCuts (how the loader held it before)."""
    import gzip
    import json
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    base = [cut.to_dict() for cut in _base_cuts(root)]

    def manifest(n: int) -> Path:
        path = root / f"memory{n}" / "cuts.jsonl.gz"
        path.parent.mkdir(exist_ok=True)
        shutil.copyfile(root / "fbank1" / "fbank.yaml", path.parent / "fbank.yaml")
        with gzip.open(path, "wt", compresslevel=1) as f:
            for i in range(n):
                f.write(json.dumps({**base[i % len(base)], "id": f"cut-{i}"}) + "\n")
        return path

    def fresh(path: Path, holder: str) -> float:  # (executor workers, unlike Pool's, may start the loader's)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(_loader_pss, path, workers, batch_size, holder).result()

    floor = fresh(manifest(len(base)), "index")
    path = manifest(count)
    totals = {holder: fresh(path, holder) for holder in ("index", "list")}
    per_million = 1e6 / count / 1024  # MiB over count cuts -> GiB per million cuts
    return Figure(GROUP, f"loader memory, main + {workers} workers, {count:,} cuts", totals["index"], "MiB",
                  "the manifest as a list of Lhotse MonoCuts", totals["list"], "lower", 1,
                  note=f"summed PSS after a full gc in each worker, each in a fresh process; the same loader over "
                       f"{len(base)} cuts: {floor:.0f} MiB, so per million cuts "
                       f"{(totals['index'] - floor) * per_million:.2f} vs {(totals['list'] - floor) * per_million:.1f} GiB")


def _base_cuts(root: Path) -> list:
    from lhotse import CutSet

    return list(CutSet.from_file(root / "fbank1" / "cuts.jsonl.gz"))


def _loader_pss(path: Path, workers: int, batch_size: int, holder: str) -> float:
    """In a fresh process: the manifest at ``path`` held as the loader's CutIndex or as a list of
    cuts, a loader with ``workers`` workers run over a few batches; its summed PSS in MiB."""

    from lhotse import CutSet
    from torch.utils.data import DataLoader

    from vib.data.features import read_fbank_config
    from vib.data.loader import CropDataset, CropLengths, CropMaker, CropSampler, _cut_index

    if holder == "index":
        held = _cut_index(str(path))
        frames = held.cut_frames
    else:
        held = _CutList(list(CutSet.from_file(path)))
        frames = np.array([cut.num_frames for cut in held.cuts], dtype=np.int64)
    gc.collect()
    count = len(frames)
    sampler = CropSampler(frames, np.zeros(count, dtype=np.int64), np.zeros((0, count), dtype=np.int64), batch_size,
                          CropLengths(200, 200), None, {}, batch_size * workers * 2, 0, 0, 0, 1)
    maker = CropMaker(200, read_fbank_config(path.parent), None)
    loader = DataLoader(CropDataset(held, np.arange(count), maker), sampler=sampler, batch_size=None,
                        num_workers=workers, worker_init_fn=_collect_in_worker, persistent_workers=True)
    for _ in loader:
        pass
    return (_pss_kib(os.getpid()) + sum(_pss_kib(p) for p in _children(os.getpid()))) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="audio for the fbank benchmark")
    parser.add_argument("--crops", type=int, default=1024, help="crops per loader measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--index-cuts", type=int, default=100_000, help="cuts for the memory figure")
    parser.add_argument("--loader-cuts", type=int, default=200_000, help="cuts for the loader-memory figure")
    parser.add_argument("--loader-workers", type=int, default=8, help="workers for the loader-memory figure")
    add_common_options(parser)
    args = parser.parse_args()
    if args.tiny:
        args.minutes, args.crops, args.batch_size, args.index_cuts = 0.3, 32, 16, 2_000
        args.loader_cuts, args.loader_workers = 2_000, 2
    torch.set_num_threads(1)
    log = FigureLog()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seconds = make_corpus(root, args.minutes)
        print(f"audio: {seconds / 60:.1f} min in {len(list((root / 'wav').iterdir()))} utterances; "
              f"{args.repeats} repeats", flush=True)
        for figure in fbank_figures(root, seconds, args.threads, args.repeats) + loader_figures(root, args):
            log.add(figure)
        log.add(index_memory_figure(root, args.index_cuts))
        log.add(loader_memory_figure(root, args.loader_cuts, args.loader_workers, args.batch_size))
    log.write(args.json, "bench/data.py")


if __name__ == "__main__":
    main()
