"""Margin-based heads: AM-softmax (additive cosine margin) and AAM / ArcFace
(additive angular margin), on a cosine classifier with scale ``s``.

Target logit, with ``c = cos(theta)`` between embedding and the class weight:
  AM-softmax:  ``s * (c - m)``
  AAM:         ``s * cos(theta + m)`` while ``theta + m <= pi``, else
               ``s * (c - m sin m)`` (ArcFace's monotonic continuation).
Non-target logits are ``s * c``. The margin ``m`` is the head's own schedule (``set_progress``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vib.heads.base import HEADS, Head, HeadOutput
from vib.heads.softmax import CosineClassifier
from vib.schedules import ramp


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


class MarginHead(Head):
    """Cross-entropy with a margin on the target cosine (``kind``: am or aam); the margin is
    ramped from 0 at epoch ``margin_warmup[0]`` to ``margin`` at ``margin_warmup[1]``
    (``null``: constant), as WeSpeaker's MarginScheduler."""

    kind = "aam"

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 32.0, margin: float = 0.2,
                 margin_warmup: list[float] | None = None):
        super().__init__()
        self.classifier = self.make_classifier(embed_dim, num_classes)
        self.scale, self.final_margin, self.margin_warmup = scale, float(margin), margin_warmup
        self.margin = self.final_margin

    def set_progress(self, epoch: float) -> dict[str, float]:
        self.margin = ramp(epoch, self.final_margin, self.margin_warmup)
        return {"margin": self.margin}

    def make_classifier(self, embed_dim: int, num_classes: int) -> nn.Module:
        return CosineClassifier(embed_dim, num_classes)

    def cosines(self, mu: torch.Tensor) -> torch.Tensor:
        """``cos(theta)`` between ``mu`` and each class ``[B, C]``."""
        return self.classifier(mu)

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor) -> HeadOutput:
        cosine = self.cosines(mu)
        ce = F.cross_entropy(margin_logits(cosine, labels, self.kind, self.margin, self.scale), labels)
        return HeadOutput(loss=ce, ce=ce, logits=(self.scale * cosine).detach())


@HEADS.register("aam")
class AAMHead(MarginHead):
    """AAM / ArcFace: target logit ``s * cos(theta + m)``."""

    kind = "aam"


@HEADS.register("am")
class AMHead(MarginHead):
    """AM-softmax: target logit ``s * (cos(theta) - m)``."""

    kind = "am"
