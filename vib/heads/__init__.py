"""Training heads, built from the ``head:`` section of a config through :data:`HEADS`.

``type``: ``softmax`` (linear or cosine classifier), ``am`` (AM-softmax), ``aam`` (AAM /
ArcFace), ``sc_aam`` (sub-center AAM), ``vib`` (stochastic embedding + KL, ``bottleneck:
embedding|logits``, optional ``margin_type: aam`` for VIB + AAM). A head's options are its
constructor's arguments after ``embed_dim, num_classes``; every head is a
:class:`~vib.heads.base.Head`: ``set_progress(epoch)`` then ``head(mu, logvar, labels)``.
"""
from __future__ import annotations

from typing import Any

from vib.errors import VibError
from vib.heads import margin, softmax, subcenter, vib  # noqa: F401  (each registers its heads)
from vib.heads.base import HEADS, Head, HeadOutput

_FIXED = ("embed_dim", "num_classes")
DEFAULT_HEAD = "softmax"


def head_options(head_cfg: dict[str, Any]) -> tuple[type[Head], dict[str, Any]]:
    """The head class of ``head:`` and all its options (defaults filled in from its signature);
    an unknown option, or one that this head would ignore, is an error naming it."""
    name, cls, given = HEADS.resolve(head_cfg, DEFAULT_HEAD, _FIXED)
    options = {**HEADS.defaults(name, _FIXED), **given}
    unused = cls.unused_options(options, set(given))
    if unused:
        shown = ", ".join(f"{k}: {v}" for k, v in head_cfg.items() if k in ("type", "classifier", "margin_type"))
        raise VibError(f"head option(s) {', '.join(unused)} would be ignored by this head ({shown}); "
                       f"remove them or choose a head that uses them")
    return cls, options


def head_needs_logvar(head_cfg: dict[str, Any]) -> bool:
    """True when the extractor needs a log-variance output for this head (VIB on the embedding)."""
    cls, options = head_options(head_cfg)
    return cls.needs_logvar(options)


def build_head(head_cfg: dict[str, Any], embed_dim: int, num_classes: int) -> Head:
    """The head of ``head:`` for ``embed_dim``-dimensional embeddings and ``num_classes`` classes."""
    if num_classes < 2:
        raise VibError(f"a speaker classifier needs at least 2 classes, the training data has {num_classes}")
    head_options(head_cfg)
    return HEADS.build(head_cfg, DEFAULT_HEAD, embed_dim=embed_dim, num_classes=num_classes)


__all__ = ["HEADS", "Head", "HeadOutput", "build_head", "head_needs_logvar", "head_options"]
