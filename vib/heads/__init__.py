"""Training heads built from the ``head:`` section of a config.

``type``: ``softmax`` (linear or cosine classifier), ``am`` (AM-softmax),
``aam`` (AAM / ArcFace), ``vib`` (stochastic embedding + KL; ``bottleneck:
embedding|logits``, optional ``margin_type: aam`` for VIB + AAM). Every head is
called as ``head(mu, logvar, labels, margin=, beta=) -> HeadOutput``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from vib.heads.margin import MarginHead
from vib.heads.softmax import HeadOutput, SoftmaxHead
from vib.heads.vib import VIBHead, VIBLogitsHead

# Schedule keys read by the trainer, not by the head constructors.
SCHEDULE_KEYS = ("margin", "margin_warmup", "beta", "beta_warmup")


def head_is_stochastic_embedding(head_cfg: dict[str, Any]) -> bool:
    """True when the extractor needs a log-variance head (VIB on the embedding)."""
    return head_cfg.get("type") == "vib" and head_cfg.get("bottleneck", "embedding") == "embedding"


def ignored_head_options(head_cfg: dict[str, Any]) -> list[str]:
    """Options of ``head:`` that the chosen head would silently ignore: ``margin*`` without
    a margin (softmax, VIB without ``margin_type``), ``beta*`` without a bottleneck, and
    ``scale`` on a linear classifier."""
    kind = head_cfg.get("type", "softmax")
    has_margin = kind in ("am", "aam") or (kind == "vib" and head_cfg.get("margin_type") is not None)
    cosine = kind in ("am", "aam") or head_cfg.get("classifier", "linear") == "cosine"
    ignored = [k for k in ("margin", "margin_warmup") if k in head_cfg and not has_margin]
    ignored += [k for k in ("beta", "beta_warmup") if k in head_cfg and kind != "vib"]
    if "scale" in head_cfg and not cosine:
        ignored.append("scale")
    return ignored


def build_head(head_cfg: dict[str, Any], embed_dim: int, num_classes: int) -> nn.Module:
    """Builds the head from ``head:``; unknown options, and options the head would ignore
    (:func:`ignored_head_options`), are errors."""
    if num_classes < 2:
        raise ValueError(f"a speaker classifier needs at least 2 classes, the training data has {num_classes}")
    ignored = ignored_head_options(head_cfg)
    if ignored:
        raise ValueError(f"head option(s) {', '.join(ignored)} would be ignored by this head "
                         f"({', '.join(f'{k}: {v}' for k, v in head_cfg.items() if k in ('type', 'classifier', 'margin_type'))})"
                         f"; remove them or choose a head that uses them")
    cfg = {k: v for k, v in head_cfg.items() if k not in SCHEDULE_KEYS}
    kind = cfg.pop("type", "softmax")
    if kind == "softmax":
        head: nn.Module = SoftmaxHead(embed_dim, num_classes, cfg.pop("classifier", "linear"), cfg.pop("scale", 32.0))
    elif kind in ("am", "aam"):
        head = MarginHead(embed_dim, num_classes, kind, cfg.pop("scale", 32.0))
    elif kind == "vib":
        bottleneck = cfg.pop("bottleneck", "embedding")
        common = dict(classifier=cfg.pop("classifier", "linear"), scale=cfg.pop("scale", 32.0),
                      samples=cfg.pop("samples", 1), kl_reduction=cfg.pop("kl_reduction", "sum"))
        if bottleneck == "embedding":
            head = VIBHead(embed_dim, num_classes, margin_type=cfg.pop("margin_type", None), **common)
        elif bottleneck == "logits":
            head = VIBLogitsHead(embed_dim, num_classes, **common)
        else:
            raise ValueError(f"unknown bottleneck '{bottleneck}': expected embedding or logits")
    else:
        raise ValueError(f"unknown head type '{kind}': expected softmax, am, aam or vib")
    if cfg:
        raise ValueError(f"unknown head option(s) for {kind}: {', '.join(sorted(cfg))}")
    return head


__all__ = ["HeadOutput", "build_head", "head_is_stochastic_embedding", "ignored_head_options", "SCHEDULE_KEYS"]
