"""Speaker embedding extractors built from the ``model:`` section of a config.

An :class:`Extractor` maps raw log-mel ``feats [B, T, F]`` (plus optional valid
lengths) to the embedding mean ``mu [B, D]`` and, when the bottleneck sits on the
embedding (VIB), its log-variance ``logvar [B, D]`` (else ``None``):
per-utterance mean normalisation -> trunk (ResNet or ECAPA-TDNN, :data:`MODELS`) ->
temporal pooling (:data:`POOLINGS`) -> linear ``mu`` head (+ linear ``logvar`` head).
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from vib.errors import VibError
from vib.models import ecapa, resnet  # noqa: F401  (each registers its trunk)
from vib.models.pooling import build_pooling, normalise_over_time
from vib.models.registries import MODELS, POOLINGS


LOGVAR_BOUND = 15.0


def bound_logvar(logvar: torch.Tensor, bound: float = LOGVAR_BOUND) -> torch.Tensor:
    """The log-variance clamped to ``[-bound, bound]`` in the forward pass (sigma^2 in
    [3e-7, 3.3e6]: exp and the KL stay finite even in bf16) with the gradient passed
    straight through, so that the KL can still pull an out-of-range value back. Inside the
    bounds the value and the gradient are exactly those of ``logvar``."""
    return logvar + (logvar.clamp(-bound, bound) - logvar).detach()


class Extractor(nn.Module):
    """Trunk + pooling + embedding layer; ``forward`` returns ``(mu, logvar or None)``.
    ``pooling``: a name or mapping (:func:`build_pooling`), default the trunk's own."""

    def __init__(self, trunk: nn.Module, stochastic: bool, embed_dim: int = 256,
                 pooling: str | dict[str, Any] | None = None):
        super().__init__()
        self.trunk = trunk
        self.pool = build_pooling(trunk.default_pooling if pooling is None else pooling, trunk.out_dim)
        self.mu = nn.Linear(self.pool.out_dim, embed_dim)
        self.logvar = nn.Linear(self.pool.out_dim, embed_dim) if stochastic else None
        self.embed_dim = embed_dim

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        frames, frame_lengths = self.trunk(normalise_over_time(feats, lengths), lengths)
        pooled = self.pool(frames, frame_lengths)
        return self.mu(pooled), (bound_logvar(self.logvar(pooled)) if self.logvar is not None else None)


# Options of ``model:`` that the Extractor takes; the others are the trunk's (MODELS).
EXTRACTOR_OPTIONS = tuple(k for k in inspect.signature(Extractor.__init__).parameters
                          if k not in ("self", "trunk", "stochastic"))
DEFAULT_MODEL = "resnet"


def build_model(model_cfg: dict[str, Any], stochastic: bool) -> Extractor:
    """The extractor of ``model:``: ``type`` names the trunk (:data:`MODELS`: resnet, ecapa), whose
    options (``feat_dim``, sizes) go to it; ``embed_dim`` and ``pooling`` to the :class:`Extractor`.
    ``stochastic`` adds the VIB log-variance output on the embedding. An unknown key is an error."""
    trunk_cfg = {k: v for k, v in model_cfg.items() if k not in EXTRACTOR_OPTIONS}
    name = trunk_cfg.get("type", DEFAULT_MODEL)
    unknown = sorted(set(trunk_cfg) - {"type"} - set(MODELS.defaults(name)))
    if unknown:
        raise VibError(f"model '{name}' has no option(s) {', '.join(unknown)} (its options: "
                       f"{', '.join([*MODELS.defaults(name), *EXTRACTOR_OPTIONS])})")
    trunk = MODELS.build(trunk_cfg, DEFAULT_MODEL)
    return Extractor(trunk, stochastic, **{k: model_cfg[k] for k in EXTRACTOR_OPTIONS if k in model_cfg})


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["DEFAULT_MODEL", "EXTRACTOR_OPTIONS", "Extractor", "LOGVAR_BOUND", "MODELS", "POOLINGS", "bound_logvar",
           "build_model", "count_parameters"]
