"""Speaker embedding extractors built from the ``model:`` section of a config.

An :class:`Extractor` maps raw log-mel ``feats [B, T, F]`` (plus optional valid
lengths) to the embedding mean ``mu [B, D]`` and, when the bottleneck sits on the
embedding (VIB), its log-variance ``logvar [B, D]`` (else ``None``):
per-utterance mean normalisation -> trunk (ResNet or ECAPA-TDNN) -> temporal
pooling -> linear ``mu`` head (+ linear ``logvar`` head).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vib.models.ecapa import ECAPATDNN
from vib.models.pooling import build_pooling, normalise_over_time
from vib.models.resnet import ResNet


LOGVAR_BOUND = 15.0


def bound_logvar(logvar: torch.Tensor, bound: float = LOGVAR_BOUND) -> torch.Tensor:
    """The log-variance clamped to ``[-bound, bound]`` in the forward pass (sigma^2 in
    [3e-7, 3.3e6]: exp and the KL stay finite even in bf16) with the gradient passed
    straight through, so that the KL can still pull an out-of-range value back. Inside the
    bounds the value and the gradient are exactly those of ``logvar``."""
    return logvar + (logvar.clamp(-bound, bound) - logvar).detach()


class Extractor(nn.Module):
    """Trunk + pooling + embedding layer; ``forward`` returns ``(mu, logvar or None)``."""

    def __init__(self, trunk: nn.Module, pooling: str, embed_dim: int, stochastic: bool):
        super().__init__()
        self.trunk = trunk
        self.pool = build_pooling(pooling, trunk.out_dim)
        self.mu = nn.Linear(self.pool.out_dim, embed_dim)
        self.logvar = nn.Linear(self.pool.out_dim, embed_dim) if stochastic else None
        self.embed_dim = embed_dim

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        frames, frame_lengths = self.trunk(normalise_over_time(feats, lengths), lengths)
        pooled = self.pool(frames, frame_lengths)
        return self.mu(pooled), (bound_logvar(self.logvar(pooled)) if self.logvar is not None else None)


def build_model(model_cfg: dict[str, Any], stochastic: bool) -> Extractor:
    """Builds the extractor from ``model:`` (type resnet|ecapa and sizes);
    ``stochastic`` adds the VIB log-variance head on the embedding."""
    cfg = dict(model_cfg)
    kind = cfg.pop("type", "resnet")
    feat_dim = cfg.pop("feat_dim", 80)
    embed_dim = cfg.pop("embed_dim", 256)
    if kind == "resnet":
        pooling = cfg.pop("pooling", "stats")
        trunk: nn.Module = ResNet(feat_dim, cfg.pop("channels", 32), tuple(cfg.pop("layers", (3, 4, 6, 3))),
                                  cfg.pop("stem_stride", 1))
    elif kind == "ecapa":
        pooling = cfg.pop("pooling", "attentive")
        trunk = ECAPATDNN(feat_dim, cfg.pop("channels", 512), cfg.pop("mfa_channels", 1536), cfg.pop("scale", 8))
    else:
        raise ValueError(f"unknown model type '{kind}': expected resnet or ecapa")
    if cfg:
        raise ValueError(f"unknown model option(s) for {kind}: {', '.join(sorted(cfg))}")
    return Extractor(trunk, pooling, embed_dim, stochastic)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
