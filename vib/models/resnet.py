"""ResNet speaker-embedding trunk on log-mel fbank (the "thin" ResNet34 of
WeSpeaker/BUT by default: 32 base channels, blocks [3, 4, 6, 3]).

Input ``feats [B, T, F]`` raw log-mel; output frame-level features ``[B, C', T']``
with ``C' = 8 * channels * ceil(F / 8)`` and ``T' = ceil(T / 8)`` (times the stem
stride), plus the matching valid lengths.
"""
from __future__ import annotations

import torch
from torch import nn

from vib.models.registries import MODELS


def _downsampled(lengths: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """Valid length after a kernel-3, padding-1 convolution with this stride."""
    if lengths is None or stride == 1:
        return lengths
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask [B, 1, 1, T_out]`` zeroes padded frames so that they act like the
        convolution's own zero padding (batched = one-by-one results)."""
        out = torch.relu(self.bn1(self.conv1(x)))
        if mask is not None:
            out = out * mask
        out = torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))
        return out if mask is None else out * mask


@MODELS.register("resnet")
class ResNet(nn.Module):
    """2-D ResNet over (frequency, time); stages double the width and halve both
    axes (except the first stage)."""

    default_pooling = "stats"

    def __init__(self, feat_dim: int = 80, channels: int = 32, layers: tuple[int, ...] = (3, 4, 6, 3),
                 stem_stride: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, stem_stride, 1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.stem_stride = stem_stride
        blocks: list[nn.Module] = []
        self.strides: list[int] = []
        in_ch, freq = channels, -(-feat_dim // stem_stride)
        for stage, depth in enumerate(layers):
            out_ch = channels * 2 ** stage
            for i in range(depth):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(BasicBlock(in_ch, out_ch, stride))
                self.strides.append(stride)
                in_ch = out_ch
                freq = -(-freq // stride)
        self.blocks = nn.ModuleList(blocks)
        self.out_dim = in_ch * freq

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``feats [B, T, F]`` (already normalised) -> ``([B, out_dim, T'], lengths')``."""
        x = self.stem(feats.transpose(1, 2).unsqueeze(1))
        lengths = _downsampled(lengths, self.stem_stride)
        x = x if lengths is None else x * _mask(lengths, x.shape[3], x.dtype)
        for block, stride in zip(self.blocks, self.strides):
            lengths = _downsampled(lengths, stride)
            x = block(x, None if lengths is None else _mask(lengths, -(-x.shape[3] // stride), x.dtype))
        return x.flatten(1, 2), lengths


def _mask(lengths: torch.Tensor, max_len: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[B, 1, 1, T]`` mask of valid frames in ``dtype`` (the activations', so that AMP's
    bf16 activations are not promoted to fp32)."""
    steps = torch.arange(max_len, device=lengths.device)
    return (steps[None, :] < lengths[:, None]).to(dtype)[:, None, None, :]
