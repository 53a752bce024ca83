"""The registries of extractor parts: trunks (``model: {type: ...}``) and poolings (``pooling:``).

A trunk class maps normalised ``feats [B, T, F]`` (+ lengths) to frame-level features
``[B, out_dim, T']`` (+ lengths) and names its ``default_pooling``; a pooling class takes
``in_dim`` and maps ``[B, C, T]`` to ``[B, out_dim]``. Register with ``@MODELS.register(name)``
/ ``@POOLINGS.register(name)`` beside the class; its signature is its config options.
"""
from __future__ import annotations

from vib.registry import Registry

MODELS = Registry("model")
POOLINGS = Registry("pooling")

__all__ = ["MODELS", "POOLINGS"]
