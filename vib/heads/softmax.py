"""Classifier layers and the plain softmax cross-entropy head.

A classifier maps embeddings ``z [..., D]`` to logits ``[..., C]``: ``linear``
(``W z``, no normalisation, no bias) or ``cosine`` (``s * cos(z, w_c)``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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


class HeadOutput(dict):
    """What every head returns: ``loss`` (scalar to minimise), ``ce``, ``kl`` (nats,
    0 without a bottleneck), ``logits [B, C]`` (for accuracy: noise- and margin-free),
    ``sigma`` (mean predicted standard deviation, 0 without a bottleneck)."""


class SoftmaxHead(nn.Module):
    """Cross-entropy over a linear or cosine (scale ``s``) classifier."""

    def __init__(self, embed_dim: int, num_classes: int, classifier: str = "linear", scale: float = 32.0):
        super().__init__()
        self.classifier = build_classifier(classifier, embed_dim, num_classes)
        self.scale = scale if classifier == "cosine" else 1.0

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor,
                margin: float = 0.0, beta: float = 0.0) -> HeadOutput:
        logits = self.scale * self.classifier(mu)
        ce = F.cross_entropy(logits, labels)
        zero = ce.new_zeros(())
        return HeadOutput(loss=ce, ce=ce, kl=zero, logits=logits.detach(), sigma=zero)
