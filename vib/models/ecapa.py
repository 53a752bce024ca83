"""ECAPA-TDNN trunk (Desplanques et al., 2020) with configurable width.

Padded frames (beyond ``lengths``) are zeroed before every convolution, so a
padded batch gives the same result per utterance as one-by-one.

Input ``feats [B, T, F]`` (already normalised); output frame-level features
``[B, mfa_channels, T]`` (no time downsampling) and unchanged lengths.
"""
from __future__ import annotations

import torch
from torch import nn

from vib.models.pooling import length_mask
from vib.models.registries import MODELS


class SEBlock(nn.Module):
    """Squeeze-excitation over time (masked mean), ``[B, C, T] -> [B, C, T]``."""

    def __init__(self, channels: int, bottleneck: int = 128):
        super().__init__()
        self.fc = nn.Sequential(nn.Conv1d(channels, bottleneck, 1), nn.ReLU(),
                                nn.Conv1d(bottleneck, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        count = mask.sum(dim=2, keepdim=True, dtype=torch.float32).clamp_min(1.0)  # exact, also for bf16 masks
        squeezed = (x * mask).sum(dim=2, keepdim=True) / count
        return x * self.fc(squeezed)


class SERes2Block(nn.Module):
    """1x1 conv, Res2Net dilated convolutions (``scale`` groups), 1x1 conv, SE, residual."""

    def __init__(self, channels: int, kernel: int, dilation: int, scale: int):
        super().__init__()
        if channels % scale:
            raise ValueError(f"ECAPA channels ({channels}) must be divisible by res2net scale ({scale})")
        width = channels // scale
        self.scale = scale
        self.pre = nn.Sequential(nn.Conv1d(channels, channels, 1), nn.ReLU(), nn.BatchNorm1d(channels))
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(width, width, kernel, dilation=dilation, padding=dilation * (kernel // 2)),
                          nn.ReLU(), nn.BatchNorm1d(width))
            for _ in range(scale - 1))
        self.post = nn.Sequential(nn.Conv1d(channels, channels, 1), nn.ReLU(), nn.BatchNorm1d(channels))
        self.se = SEBlock(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pieces = torch.chunk(self.pre(x) * mask, self.scale, dim=1)
        outs, previous = [], None
        for piece, conv in zip(pieces[:-1], self.convs):
            previous = conv(piece if previous is None else piece + previous) * mask
            outs.append(previous)
        outs.append(pieces[-1])
        return (x + self.se(self.post(torch.cat(outs, dim=1)), mask)) * mask


@MODELS.register("ecapa")
class ECAPATDNN(nn.Module):
    """ECAPA-TDNN: conv, three SE-Res2 blocks (dilations 2, 3, 4), multi-layer feature aggregation."""

    default_pooling = "attentive"

    def __init__(self, feat_dim: int = 80, channels: int = 512, mfa_channels: int = 1536, scale: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(feat_dim, channels, 5, padding=2), nn.ReLU(), nn.BatchNorm1d(channels))
        self.blocks = nn.ModuleList(SERes2Block(channels, 3, d, scale) for d in (2, 3, 4))
        self.mfa = nn.Sequential(nn.Conv1d(3 * channels, mfa_channels, 1), nn.ReLU())
        self.out_dim = mfa_channels

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``feats [B, T, F]`` -> ``([B, mfa_channels, T], lengths)``."""
        x = self.stem(feats.transpose(1, 2))
        # in the activations' dtype: an fp32 mask would promote every bf16 activation under AMP
        mask = length_mask(lengths, x.shape[2], x.shape[0], x.device).to(x.dtype)
        x = x * mask
        outs = []
        for block in self.blocks:
            x = block(x, mask)
            outs.append(x)
        return self.mfa(torch.cat(outs, dim=1)), lengths
