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

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vib.heads.base import HEADS, Head, HeadOutput
from vib.heads.margin import margin_logits
from vib.heads.softmax import build_classifier, unused_scale
from vib.models.pooling import full_precision
from vib.schedules import ramp


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


@HEADS.register("vib")
class VIBHead(Head):
    """VIB on the embedding (``bottleneck: embedding``: stochastic ``z``, KL over its D
    dimensions) or, as an ablation, on the logits (``bottleneck: logits``: deterministic
    embedding, Gaussian logits whose log-variance a linear layer predicts from ``mu``, KL over
    the C logits). Classifier ``linear`` or ``cosine`` (scale ``s``); ``margin_type: aam``
    (embedding bottleneck, cosine classifier) gives VIB + AAM. Its schedules: ``beta``
    ramped over ``beta_warmup``, the margin over ``margin_warmup`` (see :func:`vib.schedules.ramp`)."""

    def __init__(self, embed_dim: int, num_classes: int, bottleneck: str = "embedding", classifier: str = "linear",
                 scale: float = 32.0, samples: int = 1, kl_reduction: str = "sum", beta: float = 1e-3,
                 beta_warmup: list[float] | None = None, margin_type: str | None = None, margin: float = 0.2,
                 margin_warmup: list[float] | None = None):
        super().__init__()
        if bottleneck not in ("embedding", "logits"):
            raise ValueError(f"unknown bottleneck '{bottleneck}': expected embedding or logits")
        if margin_type is not None and (classifier != "cosine" or bottleneck != "embedding"):
            raise ValueError("VIB + margin needs classifier: cosine and bottleneck: embedding")
        self.classifier = build_classifier(classifier, embed_dim, num_classes)
        self.logvar = nn.Linear(embed_dim, num_classes) if bottleneck == "logits" else None
        self.scale = scale if classifier == "cosine" else 1.0
        self.samples, self.kl_reduction, self.margin_type = samples, kl_reduction, margin_type
        self.final_beta, self.beta_warmup, self.beta = float(beta), beta_warmup, float(beta)
        self.final_margin, self.margin_warmup, self.margin = float(margin), margin_warmup, float(margin)

    @classmethod
    def needs_logvar(cls, options: dict[str, Any]) -> bool:
        return options["bottleneck"] == "embedding"

    @classmethod
    def unused_options(cls, options: dict[str, Any], given: set[str]) -> list[str]:
        unused = unused_scale(options, given)
        if options["margin_type"] is None:
            unused += [k for k in ("margin", "margin_warmup") if k in given]
        return unused

    def set_progress(self, epoch: float) -> dict[str, float]:
        self.beta = ramp(epoch, self.final_beta, self.beta_warmup)
        if self.margin_type is None:
            return {"beta": self.beta}
        self.margin = ramp(epoch, self.final_margin, self.margin_warmup)
        return {"beta": self.beta, "margin": self.margin}

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor) -> HeadOutput:
        if self.logvar is not None:
            return self._logits_bottleneck(mu, labels)
        if logvar is None:
            raise ValueError("the VIB head needs an extractor with a log-variance head (stochastic model)")
        z = reparameterise(mu, logvar, self.samples)
        raw = self.classifier(z)
        if self.margin_type is not None:
            logits = margin_logits(raw, labels.expand(self.samples, -1), self.margin_type, self.margin, self.scale)
        else:
            logits = self.scale * raw
        ce = _sampled_ce(logits, labels)
        kl = gaussian_kl(mu, logvar, self.kl_reduction).mean()
        sigma = (0.5 * full_precision(logvar.detach())).exp().mean()
        with torch.no_grad():  # noise-free logits, for the accuracy only
            clean = self.scale * self.classifier(mu)
        return HeadOutput(loss=ce + self.beta * kl, ce=ce, kl=kl, sigma=sigma, logits=clean)

    def _logits_bottleneck(self, mu: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        mean_logits = self.scale * self.classifier(mu)
        logit_logvar = self.logvar(full_precision(mu))
        ce = _sampled_ce(reparameterise(mean_logits, logit_logvar, self.samples), labels)
        kl = gaussian_kl(mean_logits, logit_logvar, self.kl_reduction).mean()
        sigma = (0.5 * logit_logvar.detach()).exp().mean()
        return HeadOutput(loss=ce + self.beta * kl, ce=ce, kl=kl, sigma=sigma, logits=mean_logits.detach())
