#!/usr/bin/env python3
"""The checks of bench/gpu_check.sh (stage run), each a row of GPU_RESULTS.md.

1. environment: torch, CUDA, the GPUs;
2. tests marked ``gpu`` (pytest -m gpu; skipped with --device cpu);
3. softmax / AAM / VIB / VIB+AAM: 2 epochs each on the tiny mini corpus with bf16 AMP (on
   CUDA), killed (SIGTERM) once the first epoch's checkpoint is written, then resumed;
4. torchrun with 1 process per GPU (2 when 2 GPUs exist; NCCL on CUDA, gloo on CPU);
5. extraction on --device against the CPU: max relative difference of the embeddings;
6. training crops/s: the whole pipeline (stored-feature loader with workers, the trainer)
   against the bare model step on synthetic tensors on the same device, as a ratio
   (ResNet34 with --size full; goal >= 0.9).

Every row says what ran and what came out, pass or FAIL; the script exits non-zero if a
check failed, after writing the table.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEADS = {
    "softmax": {"type": "softmax"},
    "aam": {"type": "aam", "scale": 32.0, "margin": 0.2, "margin_warmup": [0, 1]},
    "vib": {"type": "vib", "beta": 1.0e-3, "beta_warmup": [0, 1]},
    "vib_aam": {"type": "vib", "classifier": "cosine", "margin_type": "aam", "scale": 32.0, "margin": 0.2,
                "margin_warmup": [0, 1], "beta": 1.0e-3},
}
TINY_MODEL = {"type": "resnet", "channels": 8, "layers": [1, 1, 1, 1], "stem_stride": 2, "embed_dim": 64}
RESNET34 = {"type": "resnet", "channels": 32, "layers": [3, 4, 6, 3], "embed_dim": 256}


class Report:
    """Rows of (check, result, seconds, detail); ``failed`` when any row failed."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, str]] = []
        self.failed = False

    def add(self, check: str, ok: bool | None, seconds: float, detail: str) -> None:
        result = "skipped" if ok is None else ("pass" if ok else "FAIL")
        self.failed |= ok is False
        self.rows.append((check, result, seconds, detail.replace("|", "/").replace("\n", " ")))
        print(f"gpu_check: {check}: {result} ({seconds:.1f} s) {detail}", flush=True)


def relocate(work: Path) -> Path:
    """Copies of the prepared fbank manifests with the prepare-time repository root
    replaced by this one (manifests hold absolute paths); returns their folder."""
    old = (work / "prepared_root").read_text().strip()
    new = str(REPO.resolve())
    out = work / "here"
    for split in ("train", "test"):
        (out / split).mkdir(parents=True, exist_ok=True)
        with gzip.open(work / "fbank" / split / "cuts.jsonl.gz", "rt") as f:
            text = f.read().replace(old, new)
        with gzip.open(out / split / "cuts.jsonl.gz", "wt") as f:
            f.write(text)
        for name in ("fbank.yaml",):
            (out / split / name).write_text((work / "fbank" / split / name).read_text())
    return out


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def train_config(head: dict, model: dict, device: str, epochs: int, epoch_size: int, batch: int,
                 workers: int = 2) -> dict:
    return {"seed": 0, "model": model, "head": head,
            "optim": {"name": "sgd", "lr": 0.1, "final_lr": 0.01, "warmup_epochs": 0.5, "grad_clip": 5.0},
            "train": {"epochs": epochs, "batch_size": batch, "crop_frames": 150, "epoch_size": epoch_size,
                      "num_workers": workers, "device": device, "amp": True, "amp_dtype": "bfloat16",
                      "average_last": 1, "progress": False, "num_threads": 2}}


def run_logged(cmd: list[str], log: Path, timeout: float) -> subprocess.CompletedProcess:
    with open(log, "a") as f:
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, env=_env())


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def check_kill_and_resume(report: Report, name: str, config_path: Path, fbank: Path, exp: Path) -> None:
    """Trains, kills with SIGTERM once epoch 1's checkpoint exists, resumes to the end."""
    start = time.perf_counter()
    log = exp.with_suffix(".log")
    cmd = python_module("vib.bin.train", config_path, fbank, exp)
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=_env())
    first = exp / "checkpoints" / "epoch_0001.pt"
    while proc.poll() is None and not first.exists():
        time.sleep(0.2)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    resumed = run_logged(cmd, log, timeout=900)
    text = log.read_text()
    rows = [json.loads(line) for line in (exp / "train.jsonl").read_text().splitlines()] if (
        exp / "train.jsonl").exists() else []
    ok = resumed.returncode == 0 and (exp / "final.pt").exists() and len(rows) == 2 and (
        not killed or "resuming from" in text)
    detail = (f"{'killed after epoch 1, resumed' if killed else 'finished before the kill'}; "
              + (f"epoch 2: loss {rows[-1]['loss']:.3f}, acc {100 * rows[-1]['acc']:.1f} %, "
                 + "".join(f"{k} {rows[-1][k]:.3g}, " for k in ("margin", "beta") if k in rows[-1])
                 + f"{rows[-1]['crops_per_s']:.0f} crops/s" if rows else
                 f"exit {resumed.returncode}: {text.strip().splitlines()[-1] if text.strip() else ''}"))
    report.add(f"train {name}, 2 epochs, bf16 AMP, kill + resume", ok, time.perf_counter() - start, detail)


def check_torchrun(report: Report, config_path: Path, fbank: Path, exp: Path, device: str) -> None:
    start = time.perf_counter()
    procs = min(2, torch.cuda.device_count()) if device == "cuda" else 1
    log = exp.with_suffix(".log")
    result = run_logged(python_module("torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
                                      "-m", "vib.bin.train", config_path, fbank, exp), log, timeout=900)
    ok = result.returncode == 0 and (exp / "final.pt").exists()
    backend = "NCCL" if device == "cuda" else "gloo"
    tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
    report.add(f"torchrun --nproc-per-node {procs} ({backend})", ok, time.perf_counter() - start,
               f"1 epoch; {procs} process(es)" + ("" if ok else f"; {tail[0] if tail else ''}"))


def check_extraction(report: Report, model: Path, fbank: Path, out: Path, device: str) -> None:
    from vib.io.tables import read_table_dict

    start = time.perf_counter()
    results = {}
    for dev in dict.fromkeys([device, "cpu"]):
        target = out / dev
        proc = run_logged(python_module("vib.bin.extract", f"--device={dev}", "--progress=false", model, fbank,
                                        target), out.with_suffix(".log"), timeout=600)
        if proc.returncode != 0:
            report.add(f"extraction on {device} vs cpu", False, time.perf_counter() - start,
                       f"vib-extract --device {dev} failed")
            return
        results[dev] = read_table_dict(f"scp:{target}/xvector.scp")
    a, b = results[device], results["cpu"]
    worst = max(float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-12)) for k in b)
    report.add(f"extraction on {device} vs cpu (fp32)", worst <= 1e-3, time.perf_counter() - start,
               f"{len(b)} utterances; max relative difference {worst:.2e} (goal <= 1e-3)")


def check_throughput(report: Report, fbank: Path, device: str, size: str) -> None:
    """The pipeline's crops/s (loader with workers + trainer) over the bare step's on synthetic tensors."""
    from bench.train import BareLoop
    from vib.data.loader import build_spk2id, build_train_loader, set_loader_epoch
    from vib.train import merge_config, train

    start = time.perf_counter()
    model, batch, steps = (RESNET34, 128, 40) if size == "full" else (TINY_MODEL, 16, 6)
    cuts = str(fbank / "train" / "cuts.jsonl.gz")
    spk2id = build_spk2id(cuts)
    config = merge_config(train_config(HEADS["aam"], model, device, 2, batch * steps, batch))
    bare = BareLoop(config, len(spk2id), device)
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(batch, 150, 80, generator=gen).to(device),
                torch.randint(0, len(spk2id), (batch,), generator=gen).to(device))] * steps
    bare.crops_per_s(batches[:3])  # warm-up (cudnn autotuning)
    bare_rate = bare.crops_per_s(batches)
    exp = fbank.parent / "throughput"
    shutil.rmtree(exp, ignore_errors=True)
    loader = build_train_loader(cuts, spk2id, batch_size=batch, crop_frames=150, epoch_size=batch * steps,
                                num_workers=2, seed=0, pin_memory=device == "cuda")

    def factory(epoch: int):
        set_loader_epoch(loader, epoch)
        return loader

    train(config, exp, factory, len(spk2id), log=lambda _: None)
    rows = [json.loads(line) for line in (exp / "train.jsonl").read_text().splitlines()]
    pipeline = rows[-1]["crops_per_s"]  # epoch 2: workers and cudnn warm
    ratio = pipeline / bare_rate
    ok = None if size == "tiny" else ratio >= 0.9
    report.add(f"training crops/s, {'ResNet34' if size == 'full' else 'tiny ResNet'}, pipeline vs bare step",
               ok, time.perf_counter() - start,
               f"{pipeline:.0f} vs {bare_rate:.0f} crops/s = x{ratio:.2f} (goal >= 0.9; stored features, "
               f"2 workers, batch {batch}; no on-the-fly augmentation or GPU fbank in this figure)")


def check_gpu_tests(report: Report, device: str) -> None:
    start = time.perf_counter()
    if device != "cuda":
        report.add("tests marked gpu (pytest -m gpu)", None, 0.0, "--device cpu")
        return
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                           str(REPO / "tests" / "train" / "test_cuda.py")], capture_output=True, text=True,
                          cwd=REPO, env=_env(), timeout=600)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    report.add("tests marked gpu (pytest -m gpu)", proc.returncode == 0, time.perf_counter() - start, last)


def write(report: Report, out: Path, command: str, device: str, total: float) -> None:
    cuda = torch.cuda.is_available()
    gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else "none"
    lines = ["# GPU check", "",
             f"Command: `{command}` ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{total / 60:.1f} min in all)", "",
             f"Machine: {platform.node() or '?'}; Python {platform.python_version()}; torch {torch.__version__} "
             f"(CUDA {torch.version.cuda or '-'}); GPUs: {gpus}; --device {device}; {os.cpu_count()} CPU cores", "",
             "| check | result | seconds | detail |", "|---|---|---:|---|"]
    lines += [f"| {c} | {r} | {s:.1f} | {d} |" for c, r, s, d in report.rows]
    tmp = out.with_name(f"{out.name}.tmp.{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--size", default="full", choices=["full", "tiny"])
    parser.add_argument("--work", default=str(REPO / "bench" / "work" / "gpu"))
    parser.add_argument("--out", default=str(REPO / "bench" / "GPU_RESULTS.md"))
    parser.add_argument("--command", default="bench/gpu_check.sh")
    args = parser.parse_args()
    start = time.perf_counter()
    report = Report()
    work = Path(args.work).resolve()
    ok = args.device != "cuda" or torch.cuda.is_available()
    report.add("environment", ok, 0.0, f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}, "
               f"{torch.cuda.device_count()} GPU(s)")
    if ok:
        fbank = relocate(work)
        runs = work / "runs"
        runs.mkdir(exist_ok=True)
        check_gpu_tests(report, args.device)
        model = TINY_MODEL
        epoch_size, batch, workers = (2048, 64, 2) if args.size == "full" else (32, 16, 0)
        for name, head in HEADS.items():
            config = runs / f"{name}.yaml"
            config.write_text(yaml.safe_dump(train_config(head, model, args.device, 2, epoch_size, batch, workers)))
            exp = runs / name
            shutil.rmtree(exp, ignore_errors=True)
            check_kill_and_resume(report, name, config, fbank / "train", exp)
        one_epoch = runs / "ddp.yaml"
        one_epoch.write_text(yaml.safe_dump(train_config(HEADS["vib_aam"], model, args.device, 1, epoch_size, batch,
                                                         workers)))
        shutil.rmtree(runs / "ddp", ignore_errors=True)
        check_torchrun(report, one_epoch, fbank / "train", runs / "ddp", args.device)
        check_extraction(report, runs / "vib" / "final.pt", fbank / "test", runs / "xvectors", args.device)
        check_throughput(report, fbank, args.device, args.size)
    write(report, Path(args.out), args.command, args.device, time.perf_counter() - start)
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
