#!/usr/bin/env python3
"""Extraction speed of an exported extractor: ONNX Runtime and TorchScript against PyTorch.

One thread each (``--threads`` is ignored: the comparison is WeSpeaker's, whose ONNX ResNet34
runs at RTF 0.061 on one thread), batch 1, the paper-scale ResNet34 (6.6 M parameters, random
weights: speed does not depend on them) on 3-s utterances of fbank (300 frames), the network
only (the fbank front-end is outside every graph). The model dir is written to a temporary
folder and exported with ``vib.export``; onnx and onnxruntime (the optional ``export`` extra)
are installed with ``pip --no-deps --target bench/work/onnx`` on first use.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import REPO, Figure, FigureLog, add_common_options, median_time, pin_threads, pip_install_target  # noqa: E402

if __name__ == "__main__":  # BLAS reads its thread count when numpy is first imported
    pin_threads(1)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.train import RESNET34  # noqa: E402

GROUP = "Export: extraction RTF on one thread"
ONNX_DIR = REPO / "bench" / "work" / "onnx"
ONNX_PACKAGES = ["onnx==1.23.2", "onnxruntime==1.32.0", "protobuf", "ml_dtypes"]


def write_model_dir(path: Path, model_cfg: dict) -> Path:
    """A model dir (final.pt with a random ResNet34, fbank.yaml) as vib-train writes one."""
    from vib import checkpoint as ckpt
    from vib.data.features import FBANK_DEFAULTS, write_fbank_config
    from vib.models import build_model
    from vib.train import merge_config

    config = merge_config({"model": model_cfg, "head": {"type": "aam"}})
    torch.manual_seed(0)
    ckpt.save_atomic({"model": build_model(config["model"], False).state_dict(), "config": config,
                      "num_classes": 100}, path / "final.pt")
    write_fbank_config(path, FBANK_DEFAULTS)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utts", type=int, default=20, help="utterances per measurement")
    parser.add_argument("--frames", type=int, default=300)
    add_common_options(parser, threads=1)
    args = parser.parse_args()
    model_cfg = dict(RESNET34)
    if args.tiny:
        args.utts, args.frames, model_cfg = 2, 50, {"type": "resnet", "channels": 4, "layers": [1, 1], "embed_dim": 8}
    torch.set_num_threads(1)
    sys.path.insert(0, str(pip_install_target(ONNX_PACKAGES, ONNX_DIR, Path("onnxruntime"))))
    import onnxruntime as ort

    from vib.export import export, load_torchscript
    from vib.speaker import load_extractor

    log = FigureLog()
    feats = [np.random.default_rng(i).standard_normal((1, args.frames, 80)).astype(np.float32)
             for i in range(args.utts)]
    audio_s = args.utts * args.frames / 100.0
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = write_model_dir(Path(tmp), model_cfg)
        net = load_extractor(model_dir).network.eval()
        script, _ = load_torchscript(export(model_dir, Path(tmp) / "x.pt", "torchscript"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(export(model_dir, Path(tmp) / "x.onnx", "onnx")), options,
                                       providers=["CPUExecutionProvider"])

        def run_torch(module) -> None:
            with torch.no_grad():
                for f in feats:
                    module(torch.from_numpy(f))

        def run_onnx() -> None:
            for f in feats:
                session.run(None, {"feats": f})

        for fn in (lambda: run_torch(net), lambda: run_torch(script), run_onnx):  # warm-up
            fn()
        eager, _ = median_time(lambda: run_torch(net), args.repeats)
        traced, _ = median_time(lambda: run_torch(script), args.repeats)
        onnx_s, _ = median_time(run_onnx, args.repeats)
        diff = max(float(np.abs(session.run(None, {"feats": f})[0] - net(torch.from_numpy(f))[0].detach().numpy()
                                ).max()) for f in feats[:2])
    size = f"{'ResNet34' if not args.tiny else 'tiny ResNet'}, batch 1, {args.utts} utts of {args.frames / 100:g} s"
    note = "compute s / audio s of the network (fbank outside); WeSpeaker's ONNX ResNet34: 0.061"
    log.add(Figure(GROUP, f"ONNX Runtime {ort.__version__} RTF ({size})", onnx_s / audio_s, "", "PyTorch eager",
                   eager / audio_s, repeats=args.repeats, note=f"{note}; max |ONNX - PyTorch| {diff:.1e}"))
    log.add(Figure(GROUP, f"TorchScript RTF ({size})", traced / audio_s, "", "PyTorch eager", eager / audio_s,
                   repeats=args.repeats, note=note))
    log.write(args.json, "bench/export.py")


if __name__ == "__main__":
    main()
