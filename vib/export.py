"""Exported extractors: the network as TorchScript (or ONNX), fbank front-end outside the graph.

The exported graph maps log-mel fbank ``feats [B, T, F]`` (float32, any T: the time axis is
dynamic; the utterances of a batch of equal length, no padding) to the embedding ``mu [B, D]``
(float32), exactly as the PyTorch model in eval mode. The front-end is stated, not traced: the
archive carries ``fbank.yaml`` (Lhotse's ``Fbank`` options the model was trained with; TorchScript:
an extra file of the archive, ONNX: the model's metadata ``fbank_yaml``), so that a user computes
the same features (``vib.data.features.fbank_extractor``) before calling it.
"""
from __future__ import annotations

from pathlib import Path

import torch
import yaml
from torch import nn

from vib.errors import VibError

FORMATS = ("torchscript", "onnx")
_EXAMPLE_FRAMES = 300


class EmbeddingOnly(nn.Module):
    """``feats [B, T, F] -> mu [B, D]`` of an extractor (its log-variance output dropped)."""

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.extractor(feats)[0]


def export(model_dir: str | Path, out: str | Path, fmt: str = "torchscript") -> Path:
    """Writes the model dir's extractor to ``out`` in ``fmt`` (see the module doc); returns ``out``."""
    from vib.io.tables import atomic_output
    from vib.speaker import load_extractor

    if fmt not in FORMATS:
        raise VibError(f"unknown export format '{fmt}': expected {', '.join(FORMATS)}")
    model = load_extractor(model_dir)
    net = EmbeddingOnly(model.network.cpu()).eval()
    example = torch.zeros(1, _EXAMPLE_FRAMES, int(model.fbank_config["num_filters"]))
    config = yaml.safe_dump(model.fbank_config, sort_keys=True)
    out = Path(out)
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(net, example)
        with atomic_output(str(out), binary=True) as f:
            torch.jit.save(traced, f, _extra_files={"fbank.yaml": config})
        return out
    try:
        import onnx
    except ImportError:
        raise VibError("--format onnx needs the onnx package (pip install onnx onnxruntime; not needed by "
                       "the recipes)") from None
    with atomic_output(str(out), binary=True) as f:
        torch.onnx.export(net, (example,), f, input_names=["feats"], output_names=["embedding"],
                          dynamic_axes={"feats": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
                          dynamo=False)
    proto = onnx.load(str(out))
    proto.metadata_props.add(key="fbank_yaml", value=config)
    with atomic_output(str(out), binary=True) as f:
        f.write(proto.SerializeToString())
    return out


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict]:
    """An exported TorchScript extractor and its fbank options."""
    files = {"fbank.yaml": ""}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    return module, yaml.safe_load(files["fbank.yaml"])


__all__ = ["EmbeddingOnly", "FORMATS", "export", "load_torchscript"]
