"""Trainer and extraction benchmarks (CPU by default).

1. Trainer overhead: crops/s of ``vib.train.train`` beside a bare
   forward/backward/step loop over the same model, head, optimizer and
   in-memory batches, measured in one run (target: overhead < 10 %).
2. Extraction real-time factor (compute seconds / audio seconds, 100 frames = 1 s)
   for the CPU preset and ResNet34, batch 1 and batched.
3. Peak RSS of ``vib-extract`` on one 10-minute recording (chunked, default
   --chunk-frames 6000), beside the RSS of a process that only loads the model.

Each figure is printed beside its baseline (and, with --json PATH, written for
bench/report.py); trainer and RTF figures are medians over --repeats.

    python bench/train.py                       # full run (a few minutes on 2 cores)
    python bench/train.py --tiny                # smoke test (seconds)
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import Figure, FigureLog, add_common_options  # noqa: E402

from vib import checkpoint as ckpt  # noqa: E402
from vib.config import load_config  # noqa: E402
from vib.extract import batch_pieces, embed_batch  # noqa: E402
from vib.models import build_model, count_parameters  # noqa: E402
from vib.optim import build_optimizer  # noqa: E402
from vib.train import build_net, merge_config, train  # noqa: E402

GROUP = "Training and extraction"
RESNET34 = {"type": "resnet", "channels": 32, "layers": [3, 4, 6, 3], "embed_dim": 256}


def make_batches(count: int, batch: int, frames: int, classes: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(batch, frames, 80, generator=gen), torch.randint(0, classes, (batch,), generator=gen))
            for _ in range(count)]


class BareLoop:
    """A plain loop over the same batches: forward, loss, zero_grad, backward, step; on CUDA
    with bf16 autocast, channels_last and cudnn.benchmark, as the trainer runs there."""

    def __init__(self, config: dict, classes: int, device: str = "cpu"):
        torch.manual_seed(0)
        self.device = torch.device(device)
        self.net = build_net(config, classes).to(self.device).train()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            self.net.extractor.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.net.parameters(), config["optim"])
        self.net.head.set_progress(float(config["train"]["epochs"]))  # schedules at their final values

    def crops_per_s(self, batches: list) -> float:
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for feats, labels in batches:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cuda):
                loss = self.net(feats.to(self.device), labels.to(self.device))["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        return sum(len(b[1]) for b in batches) / (time.perf_counter() - start)


def interleaved(config: dict, batches: list, classes: int, repeats: int) -> list[tuple[float, float]]:
    """(bare, trainer) crops/s per repeat. The trainer runs ``repeats + 1`` epochs; before
    each epoch its loader factory runs one bare pass, so every pair is measured back to
    back (the machine's load changes less within a pair); the first pair is a warm-up."""
    bare = BareLoop(config, classes)
    bare_rates: list[float] = []

    def factory(epoch: int) -> list:
        bare_rates.append(bare.crops_per_s(batches))
        return batches

    config = merge_config({**config, "train": {**config["train"], "epochs": repeats + 1, "average_last": 1,
                                                "keep_last": repeats + 1}})
    with tempfile.TemporaryDirectory() as exp:
        train(config, exp, factory, classes, log=lambda _: None)
        history = ckpt.load(ckpt.checkpoint_path(exp, repeats + 1))["history"]
    return list(zip(bare_rates, [row["crops_per_s"] for row in history]))[1:]


def extraction_rtf(model_cfg: dict, lengths: list[int], batch_size: int) -> tuple[float, float]:
    """(RTF batch 1, RTF batched) for random features of the given frame lengths."""
    model = build_model(model_cfg, stochastic=False).eval()
    rng = np.random.default_rng(0)
    pieces = [("u", 1, rng.standard_normal((n, 80)).astype(np.float32)) for n in sorted(lengths, reverse=True)]
    audio_s = sum(lengths) / 100.0
    cpu = torch.device("cpu")
    embed_batch(model, [pieces[0][2]], cpu)  # warm-up
    start = time.perf_counter()
    for batch in batch_pieces(iter(pieces), 1, 1.2):
        embed_batch(model, [p[2] for p in batch], cpu)
    single = time.perf_counter() - start
    start = time.perf_counter()
    for batch in batch_pieces(iter(pieces), batch_size, 1.2):  # as vib-extract batches them
        embed_batch(model, [p[2] for p in batch], cpu)
    return single / audio_s, (time.perf_counter() - start) / audio_s


def long_recording_rss(model_cfg: dict, minutes: float, threads: int) -> tuple[float, float, float]:
    """(peak RSS MiB of vib-extract on one recording, of a model-loading-only process, seconds)."""
    import soundfile as sf
    from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter, Recording, RecordingSet

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sr = 16000
        audio = 0.1 * np.random.default_rng(0).standard_normal(int(minutes * 60 * sr)).astype(np.float32)
        sf.write(tmp / "long.wav", audio, sr, subtype="PCM_16")
        cuts = CutSet.from_manifests(RecordingSet.from_recordings([Recording.from_file(tmp / "long.wav")]))
        cuts = cuts.compute_and_store_features(Fbank(FbankConfig(num_mel_bins=80)), tmp / "feats",
                                               storage_type=LilcomChunkyWriter, num_jobs=1)
        cuts.to_file(tmp / "cuts.jsonl.gz")
        config = merge_config({"model": model_cfg})
        ckpt.save_atomic({"model": build_model(model_cfg, False).state_dict(), "config": config,
                          "num_classes": 1}, tmp / "final.pt")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        load_only = [sys.executable, "-c", f"import torch; torch.set_num_threads({threads}); "
                     f"from vib.extract import load_network, load_cuts; load_network('{tmp}/final.pt'); "
                     f"load_cuts('{tmp}/cuts.jsonl.gz')[0].load_features()"]
        rss_load = _child_peak_rss(load_only, env)
        start = time.perf_counter()
        rss_extract = _child_peak_rss([sys.executable, "-m", "vib.bin.extract", f"--num-threads={threads}",
                                       "--progress=false", f"{tmp}/final.pt", str(tmp), f"{tmp}/out"], env)
        return rss_extract, rss_load, time.perf_counter() - start


def _child_peak_rss(cmd: list[str], env: dict) -> float:
    """Peak RSS (MiB) of one child process, measured with a fresh wrapper process."""
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
               "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "conf" / "cpu_vib.yaml"))
    parser.add_argument("--batches", type=int, default=6, help="batches per trainer / bare-loop pass")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--utts", type=int, default=12, help="utterances for the RTF measurement")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long recording")
    parser.add_argument("--skip-resnet34", action="store_true")
    add_common_options(parser)  # --repeats: measured bare/trainer pairs, RTF repeats
    args = parser.parse_args()
    if args.tiny:
        args.batches, args.batch_size, args.frames, args.utts, args.minutes = 3, 8, 50, 3, 0.2
    torch.set_num_threads(args.threads)
    config = merge_config(load_config(args.config, []))
    config["train"].update(progress=False, num_threads=args.threads)
    batches = make_batches(args.batches, args.batch_size, args.frames, args.classes)
    params = count_parameters(build_net(config, args.classes).extractor)
    preset = Path(args.config).stem
    print(f"config {args.config}: extractor {params / 1e6:.2f} M parameters; {args.threads} threads; "
          f"{args.batches} batches of {args.batch_size} x {args.frames} frames; {args.repeats} repeats", flush=True)
    log = FigureLog()
    pairs = interleaved(config, batches, args.classes, args.repeats)
    ratios = [t / b for b, t in pairs]
    log.add(Figure(GROUP, f"trainer crops/s, {preset} ({params / 1e6:.2f} M parameters, batches of "
                   f"{args.batch_size} x {args.frames} frames)", statistics.median(t for _, t in pairs), "crops/s",
                   "bare forward/backward/step loop", statistics.median(b for b, _ in pairs), "higher", len(pairs),
                   note=f"median of back-to-back pair ratios {statistics.median(ratios):.3f}; best-of ratio "
                        f"{max(t for _, t in pairs) / max(b for b, _ in pairs):.3f}; pairs (bare, trainer): "
                        + ", ".join(f"({b:.1f}, {t:.1f})" for b, t in pairs)))
    rng = np.random.default_rng(1)
    # 3-3.6 s: within vib-extract's 1.2 length ratio, as neighbours in a length-sorted corpus are
    lengths = [int(n) for n in rng.integers(300, 360, args.utts)] if not args.tiny else [40, 36, 34]
    models = [("CPU preset", config["model"])] + ([] if args.skip_resnet34 else [("ResNet34", RESNET34)])
    batch = min(16, len(lengths))
    for name, model_cfg in models:
        runs = [extraction_rtf(model_cfg, lengths, batch) for _ in range(args.repeats)]
        log.add(Figure(GROUP, f"extraction RTF, {name}, batch {batch} ({len(lengths)} utts of "
                       f"{min(lengths) / 100:g}-{max(lengths) / 100:g} s)", statistics.median(r[1] for r in runs), "",
                       "batch 1", statistics.median(r[0] for r in runs), repeats=args.repeats,
                       note="compute seconds / audio seconds, batched as vib-extract batches"))
    rss, rss_load, seconds = long_recording_rss(config["model"], args.minutes, args.threads)
    log.add(Figure(GROUP, f"peak RSS, extracting one {args.minutes:g}-minute recording ({preset}, "
                   "vib-extract --chunk-frames 6000)", rss, "MiB", "process loading model + features only", rss_load,
                   better="", note=f"one run; +{rss - rss_load:.0f} MiB for extraction; {seconds:.1f} s wall "
                                   f"(RTF {seconds / (args.minutes * 60):.3f} with start-up)"))
    log.write(args.json, "bench/train.py")


if __name__ == "__main__":
    main()
