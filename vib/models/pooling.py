"""Temporal pooling and length masks for frame-level speaker features.

All functions take frame-level features ``x [B, C, T]`` and optional valid
lengths ``lengths [B]`` (frames; ``None`` means every frame is valid), so that a
batch of padded utterances pools exactly the frames each utterance has.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vib.models.registries import POOLINGS


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 (AMP) -> float32; float32/float64 unchanged (pooling and
    losses run in full precision)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def length_mask(lengths: torch.Tensor | None, max_len: int, batch: int, device) -> torch.Tensor:
    """Float mask ``[B, 1, T]``: 1 on valid frames, 0 on padding."""
    if lengths is None:
        return torch.ones(batch, 1, max_len, device=device)
    steps = torch.arange(max_len, device=device)
    return (steps[None, :] < lengths[:, None]).unsqueeze(1).float()


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and standard deviation over time of ``x [B, C, T]`` with
    weights ``mask [B, 1 or C, T]`` (summing to the number of valid frames)."""
    weight = mask / mask.sum(dim=2, keepdim=True).clamp_min(1.0)
    mean = (x * weight).sum(dim=2)
    var = ((x - mean.unsqueeze(2)).pow(2) * weight).sum(dim=2)
    return mean, var.clamp_min(eps).sqrt()


def normalise_over_time(feats: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Per-utterance mean normalisation of ``feats [B, T, F]`` over valid frames;
    padded frames become 0."""
    mask = length_mask(lengths, feats.shape[1], feats.shape[0], feats.device).transpose(1, 2)  # [B, T, 1]
    mean = (feats * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True).clamp_min(1.0)
    return (feats - mean) * mask


@POOLINGS.register("stats")
class StatsPool(nn.Module):
    """Temporal statistics pooling: ``[B, C, T] -> [B, 2C]`` (mean, std)."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.out_dim = 2 * in_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        mask = length_mask(lengths, x.shape[2], x.shape[0], x.device)
        mean, std = masked_mean_std(full_precision(x), mask)
        return torch.cat([mean, std], dim=1)


@POOLINGS.register("attentive")
class AttentiveStatsPool(nn.Module):
    """Channel- and context-dependent attentive statistics pooling (ECAPA-TDNN):
    ``[B, C, T] -> [B, 2C]``; the attention sees the frame and the utterance's
    global mean and std."""

    def __init__(self, in_dim: int, attention_dim: int = 128):
        super().__init__()
        self.out_dim = 2 * in_dim
        self.attention = nn.Sequential(
            nn.Conv1d(3 * in_dim, attention_dim, 1), nn.ReLU(), nn.BatchNorm1d(attention_dim), nn.Tanh(),
            nn.Conv1d(attention_dim, in_dim, 1),
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = full_precision(x)
        mask = length_mask(lengths, x.shape[2], x.shape[0], x.device)
        mean, std = masked_mean_std(x, mask)
        context = torch.cat([x, mean.unsqueeze(2).expand_as(x), std.unsqueeze(2).expand_as(x)], dim=1)
        scores = self.attention(context).masked_fill(mask == 0, float("-inf"))
        weights = torch.softmax(scores, dim=2)
        mean, std = masked_mean_std(x, weights * mask.sum(dim=2, keepdim=True))
        return torch.cat([mean, std], dim=1)


def build_pooling(spec: str | dict[str, Any], in_dim: int) -> nn.Module:
    """A pooling from ``pooling:``: a name (``stats``: mean + std; ``attentive``: ECAPA's attentive
    statistics) or a mapping with ``type`` and the pooling's options (e.g. ``attention_dim``)."""
    return POOLINGS.build({"type": spec} if isinstance(spec, str) else spec, "stats", in_dim=in_dim)
