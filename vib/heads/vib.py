"""Variational information bottleneck heads (Alemi et al. 2017; Stafylakis et al. 2024).

Embedding bottleneck (default): the extractor predicts ``mu, logvar [B, D]``;
training samples ``z = mu + exp(logvar / 2) * eps`` (``samples`` draws per
example, ``eps ~ N(0, I)``) and minimises

    J = mean_n mean_k CE(y_n, logits(z_nk)) + beta * mean_n KL(N(mu_n, sigma_n^2) || N(0, I))

with a linear (unnormalised) or cosine classifier, optionally with an additive
angular margin on top (VIB + AAM). KL is in nats, **summed over the D dimensions**
(``kl_reduction: sum``, as Alemi) or **averaged** over them (``kl_reduction: mean``,
as BUT's diarisation VIB); it is always averaged over examples.

Logits bottleneck (ablation): the embedding is deterministic; the logits are
Gaussian with mean ``classifier(mu)`` and a log-variance predicted from ``mu``
by a linear layer; the KL is taken over the C logit dimensions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vib.heads.margin import margin_logits
from vib.heads.softmax import HeadOutput, build_classifier
from vib.models.pooling import full_precision


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, in nats: ``[B, D] -> [B]``,
    summed (``sum``) or averaged (``mean``) over dimensions."""
    mu, logvar = full_precision(mu), full_precision(logvar)
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    if reduction == "sum":
        return per_dim.sum(dim=-1)
    if reduction == "mean":
        return per_dim.mean(dim=-1)
    raise ValueError(f"unknown kl_reduction '{reduction}': expected sum or mean")


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, samples: int) -> torch.Tensor:
    """``samples`` draws ``mu + sigma * eps``: ``[B, D] -> [samples, B, D]``."""
    std = (0.5 * full_precision(logvar)).exp()
    eps = torch.randn((samples, *mu.shape), device=mu.device, dtype=std.dtype)
    return full_precision(mu).unsqueeze(0) + std.unsqueeze(0) * eps


def _sampled_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean CE over samples and examples for ``logits [K, B, C]``."""
    k = logits.shape[0]
    return F.cross_entropy(logits.flatten(0, 1), labels.repeat(k))


class VIBHead(nn.Module):
    """Stochastic embedding + KL; classifier ``linear`` or ``cosine`` (scale ``s``);
    ``margin_type: aam`` (cosine classifier only) gives VIB + AAM."""

    def __init__(self, embed_dim: int, num_classes: int, classifier: str = "linear", scale: float = 32.0,
                 samples: int = 1, kl_reduction: str = "sum", margin_type: str | None = None):
        super().__init__()
        if margin_type is not None and classifier != "cosine":
            raise ValueError("VIB + margin needs classifier: cosine")
        self.classifier = build_classifier(classifier, embed_dim, num_classes)
        self.scale = scale if classifier == "cosine" else 1.0
        self.samples, self.kl_reduction, self.margin_type = samples, kl_reduction, margin_type

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor,
                margin: float = 0.0, beta: float = 0.0) -> HeadOutput:
        if logvar is None:
            raise ValueError("the VIB head needs an extractor with a log-variance head (stochastic model)")
        z = reparameterise(mu, logvar, self.samples)
        raw = self.classifier(z)
        if self.margin_type is not None:
            logits = margin_logits(raw, labels.expand(self.samples, -1), self.margin_type, margin, self.scale)
        else:
            logits = self.scale * raw
        ce = _sampled_ce(logits, labels)
        kl = gaussian_kl(mu, logvar, self.kl_reduction).mean()
        sigma = (0.5 * full_precision(logvar.detach())).exp().mean()
        with torch.no_grad():  # noise-free logits, for the accuracy only
            clean = self.scale * self.classifier(mu)
        return HeadOutput(loss=ce + beta * kl, ce=ce, kl=kl, logits=clean, sigma=sigma)


class VIBLogitsHead(nn.Module):
    """Ablation: the bottleneck on the logits; deterministic embedding ``mu``."""

    def __init__(self, embed_dim: int, num_classes: int, classifier: str = "linear", scale: float = 32.0,
                 samples: int = 1, kl_reduction: str = "sum"):
        super().__init__()
        self.classifier = build_classifier(classifier, embed_dim, num_classes)
        self.logvar = nn.Linear(embed_dim, num_classes)
        self.scale = scale if classifier == "cosine" else 1.0
        self.samples, self.kl_reduction = samples, kl_reduction

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor,
                margin: float = 0.0, beta: float = 0.0) -> HeadOutput:
        mean_logits = self.scale * self.classifier(mu)
        logit_logvar = self.logvar(full_precision(mu))
        ce = _sampled_ce(reparameterise(mean_logits, logit_logvar, self.samples), labels)
        kl = gaussian_kl(mean_logits, logit_logvar, self.kl_reduction).mean()
        sigma = (0.5 * logit_logvar.detach()).exp().mean()
        return HeadOutput(loss=ce + beta * kl, ce=ce, kl=kl, logits=mean_logits.detach(), sigma=sigma)
