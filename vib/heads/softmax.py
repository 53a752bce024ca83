"""Classifier layers and the plain softmax cross-entropy head.

A classifier maps embeddings ``z [..., D]`` to logits ``[..., C]``: ``linear``
(``W z``, no normalisation, no bias) or ``cosine`` (``s * cos(z, w_c)``).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vib.heads.base import HEADS, Head, HeadOutput
from vib.models.pooling import full_precision


class LinearClassifier(nn.Module):
    """Unnormalised logits ``z W^T`` (no bias)."""

    def __init__(self, embed_dim: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.normal_(self.weight, std=embed_dim ** -0.5)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return full_precision(z) @ full_precision(self.weight).t()


class CosineClassifier(LinearClassifier):
    """``cosine(z, w_c)`` for every class c; ``scale`` is applied by the head."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(full_precision(z), dim=-1) @ F.normalize(full_precision(self.weight), dim=-1).t()


def build_classifier(kind: str, embed_dim: int, num_classes: int) -> nn.Module:
    """``linear`` or ``cosine``."""
    if kind == "linear":
        return LinearClassifier(embed_dim, num_classes)
    if kind == "cosine":
        return CosineClassifier(embed_dim, num_classes)
    raise ValueError(f"unknown classifier '{kind}': expected linear or cosine")


@HEADS.register("softmax")
class SoftmaxHead(Head):
    """Cross-entropy over a linear or cosine (scale ``s``) classifier."""

    def __init__(self, embed_dim: int, num_classes: int, classifier: str = "linear", scale: float = 32.0):
        super().__init__()
        self.classifier = build_classifier(classifier, embed_dim, num_classes)
        self.scale = scale if classifier == "cosine" else 1.0

    @classmethod
    def unused_options(cls, options: dict[str, Any], given: set[str]) -> list[str]:
        return unused_scale(options, given)

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor) -> HeadOutput:
        logits = self.scale * self.classifier(mu)
        ce = F.cross_entropy(logits, labels)
        return HeadOutput(loss=ce, ce=ce, logits=logits.detach())


def unused_scale(options: dict[str, Any], given: set[str]) -> list[str]:
    """``scale`` with a linear classifier (it scales cosines only)."""
    return ["scale"] if "scale" in given and options["classifier"] != "cosine" else []
