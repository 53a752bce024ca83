"""Trainer and extraction benchmarks (CPU by default).

1. Trainer overhead: crops/s of ``vib.train.train`` beside a bare
   forward/backward/step loop over the same model, head, optimizer and
   in-memory batches, measured in one run (target: overhead < 10 %).
2. Extraction real-time factor (compute seconds / audio seconds, 100 frames = 1 s)
   for the CPU preset and ResNet34, batch 1 and batched.
3. Peak RSS of ``vib-extract`` on one 10-minute recording (chunked, default
   --chunk-frames 6000), beside the RSS of a process that only loads the model.

    python bench/train.py                       # full run (a few minutes on 2 cores)
    python bench/train.py --tiny                # smoke test (seconds)
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vib import checkpoint as ckpt  # noqa: E402
from vib.bin.train import load_config  # noqa: E402
from vib.extract import embed_batch  # noqa: E402
from vib.models import build_model, count_parameters  # noqa: E402
from vib.train import build_net, build_optimizer, merge_config, train  # noqa: E402

RESNET34 = {"type": "resnet", "channels": 32, "layers": [3, 4, 6, 3], "embed_dim": 256}


def make_batches(count: int, batch: int, frames: int, classes: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(batch, frames, 80, generator=gen), torch.randint(0, classes, (batch,), generator=gen))
            for _ in range(count)]


def bare_loop(config: dict, batches: list, classes: int) -> float:
    """crops/s of a plain loop: forward, loss, zero_grad, backward, step."""
    torch.manual_seed(0)
    net = build_net(config, classes)
    optimizer = build_optimizer(net.parameters(), config["optim"])
    net.train()
    for feats, labels in batches[:1]:  # warm-up
        net(feats, labels, 0.0, 0.0)["loss"].backward()
    start = time.perf_counter()
    for feats, labels in batches:
        loss = net(feats, labels, 0.1, 1e-3)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return sum(len(b[1]) for b in batches) / (time.perf_counter() - start)


def trainer_run(config: dict, batches: list, classes: int) -> float:
    """crops/s the trainer logs for its second epoch (the first one warms up)."""
    config = merge_config({**config, "train": {**config["train"], "epochs": 2, "average_last": 1}})
    with tempfile.TemporaryDirectory() as exp:
        train(config, exp, lambda epoch: batches, classes, log=lambda _: None)
        return ckpt.load(ckpt.checkpoint_path(exp, 2))["history"][-1]["crops_per_s"]


def extraction_rtf(model_cfg: dict, lengths: list[int], batch_size: int) -> tuple[float, float]:
    """(RTF batch 1, RTF batched) for random features of the given frame lengths."""
    model = build_model(model_cfg, stochastic=False).eval()
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((n, 80)).astype(np.float32) for n in sorted(lengths, reverse=True)]
    audio_s = sum(lengths) / 100.0
    embed_batch(model, feats[:1], torch.device("cpu"))  # warm-up
    start = time.perf_counter()
    for f in feats:
        embed_batch(model, [f], torch.device("cpu"))
    single = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(feats), batch_size):
        embed_batch(model, feats[i:i + batch_size], torch.device("cpu"))
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
                     f"from vib.extract import load_extractor, load_cuts; load_extractor('{tmp}/final.pt'); "
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--utts", type=int, default=16, help="utterances for the RTF measurement")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long recording")
    parser.add_argument("--skip-resnet34", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="smoke test: tiny sizes")
    args = parser.parse_args()
    if args.tiny:
        args.batches, args.batch_size, args.frames, args.utts, args.minutes = 3, 8, 50, 3, 0.2
        args.skip_resnet34 = True
    torch.set_num_threads(args.threads)
    config = merge_config(load_config(args.config, []))
    config["train"].update(progress=False, num_threads=args.threads)
    batches = make_batches(args.batches, args.batch_size, args.frames, args.classes)
    params = count_parameters(build_net(config, args.classes).extractor)
    print(f"config {args.config}: extractor {params / 1e6:.2f} M parameters; {args.threads} threads; "
          f"{args.batches} batches of {args.batch_size} x {args.frames} frames")
    bare1 = bare_loop(config, batches, args.classes)
    trainer = trainer_run(config, batches, args.classes)
    bare2 = bare_loop(config, batches, args.classes)
    bare = (bare1 + bare2) / 2
    print(f"training: bare loop {bare:.1f} crops/s (runs: {bare1:.1f}, {bare2:.1f}); trainer {trainer:.1f} crops/s; "
          f"trainer/bare = {trainer / bare:.3f} (overhead {100 * (1 - trainer / bare):.1f} %)")
    rng = np.random.default_rng(1)
    lengths = [int(n) for n in rng.integers(300, 800, args.utts)] if not args.tiny else [120, 90, 60]
    models = [("CPU preset", config["model"])] + ([] if args.skip_resnet34 else [("ResNet34", RESNET34)])
    for name, model_cfg in models:
        single, batched = extraction_rtf(model_cfg, lengths, 16)
        print(f"extraction RTF ({name}, {len(lengths)} utts of 3-8 s, compute only): batch 1 {single:.4f}; "
              f"batch 16 {batched:.4f}; speed-up {single / batched:.2f}x")
    rss, rss_load, seconds = long_recording_rss(config["model"], args.minutes, args.threads)
    print(f"extracting one {args.minutes:g}-minute recording (CPU preset, --chunk-frames 6000): peak RSS "
          f"{rss:.0f} MiB vs {rss_load:.0f} MiB to load model + features only (+{rss - rss_load:.0f} MiB); "
          f"{seconds:.1f} s wall")


if __name__ == "__main__":
    main()
