"""Sub-center AAM (Deng et al., ECCV 2020; WeSpeaker's ``ArcMarginProduct_subcenter``): K weight
vectors per class, the class cosine is the largest of its K sub-center cosines, then AAM.

A noisy utterance can sit near a non-dominant sub-center without pulling the dominant one,
which makes the loss more robust to label noise (VoxCeleb2's). ``subcenters: 1`` is plain AAM.
"""
from __future__ import annotations

import torch
from torch import nn

from vib.heads.base import HEADS
from vib.heads.margin import MarginHead
from vib.heads.softmax import CosineClassifier


@HEADS.register("sc_aam")
class SubcenterAAMHead(MarginHead):
    """AAM on ``max_k cos(z, w_ck)`` over ``subcenters`` weight vectors per class."""

    kind = "aam"

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 32.0, margin: float = 0.2,
                 margin_warmup: list[float] | None = None, subcenters: int = 3):
        if subcenters < 1:
            raise ValueError(f"subcenters must be at least 1, got {subcenters}")
        self.subcenters = subcenters  # read by make_classifier, during the base class's __init__
        super().__init__(embed_dim, num_classes, scale, margin, margin_warmup)

    def make_classifier(self, embed_dim: int, num_classes: int) -> nn.Module:
        return CosineClassifier(embed_dim, num_classes * self.subcenters)

    def cosines(self, mu: torch.Tensor) -> torch.Tensor:
        per_center = self.classifier(mu)  # [B, C * K], class-major
        return per_center.view(*per_center.shape[:-1], -1, self.subcenters).amax(dim=-1)
