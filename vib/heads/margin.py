"""Margin-based heads: AM-softmax (additive cosine margin) and AAM / ArcFace
(additive angular margin), on a cosine classifier with scale ``s``.

Target logit, with ``c = cos(theta)`` between embedding and the class weight:
  AM-softmax:  ``s * (c - m)``
  AAM:         ``s * cos(theta + m)`` while ``theta + m <= pi``, else
               ``s * (c - m sin m)`` (ArcFace's monotonic continuation).
Non-target logits are ``s * c``. The margin ``m`` is passed per step (scheduled).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vib.heads.softmax import CosineClassifier, HeadOutput


def margin_logits(cosine: torch.Tensor, labels: torch.Tensor, kind: str, margin: float, scale: float) -> torch.Tensor:
    """Scaled logits ``[..., C]`` with the margin applied to the target class
    (``labels`` broadcast over the leading dims of ``cosine``)."""
    if margin == 0.0:
        return scale * cosine
    target = cosine.gather(-1, labels.unsqueeze(-1))
    if kind == "am":
        new_target = target - margin
    elif kind == "aam":
        sine = (1.0 - target.pow(2)).clamp_min(1e-12).sqrt()
        shifted = target * math.cos(margin) - sine * math.sin(margin)
        new_target = torch.where(target > math.cos(math.pi - margin), shifted, target - margin * math.sin(margin))
    else:
        raise ValueError(f"unknown margin type '{kind}': expected am or aam")
    return scale * cosine.scatter(-1, labels.unsqueeze(-1), new_target)


class MarginHead(nn.Module):
    """AM-softmax (``kind='am'``) or AAM / ArcFace (``kind='aam'``) cross-entropy."""

    def __init__(self, embed_dim: int, num_classes: int, kind: str = "aam", scale: float = 32.0):
        super().__init__()
        if kind not in ("am", "aam"):
            raise ValueError(f"unknown margin type '{kind}': expected am or aam")
        self.classifier = CosineClassifier(embed_dim, num_classes)
        self.kind, self.scale = kind, scale

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor,
                margin: float = 0.0, beta: float = 0.0) -> HeadOutput:
        cosine = self.classifier(mu)
        ce = F.cross_entropy(margin_logits(cosine, labels, self.kind, margin, self.scale), labels)
        zero = ce.new_zeros(())
        return HeadOutput(loss=ce, ce=ce, kl=zero, logits=(self.scale * cosine).detach(), sigma=zero)
