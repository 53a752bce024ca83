"""What every training head is: the registry it is built from, its interface, its output.

A head maps the extractor's ``mu [B, D]`` (and ``logvar [B, D]`` when it sets
``needs_logvar``) plus ``labels [B]`` to a :class:`HeadOutput`. It owns its schedules
(margin, beta, ...): before each step the trainer calls ``set_progress(epoch)`` with the
fractional epoch, and the head returns the scheduled values to log. Add a head by writing
one module with a class registered in :data:`HEADS` and importing it in ``vib/heads/__init__.py``;
its constructor's signature (after ``embed_dim, num_classes``) is its config options.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vib.registry import Registry

HEADS = Registry("head")


class HeadOutput(dict):
    """``loss`` (scalar to minimise), ``logits [B, C]`` (noise- and margin-free, for the
    accuracy), and any further scalars the head reports (``ce``, ``kl`` in nats, ``sigma``, ...),
    each a mean over the batch, which the trainer averages over the epoch and logs."""


class Head(nn.Module):
    """Base class: no schedule, no log-variance."""

    @classmethod
    def needs_logvar(cls, options: dict[str, Any]) -> bool:
        """Whether the extractor must predict a log-variance for a head with these options
        (all of them, defaults included)."""
        return False

    @classmethod
    def unused_options(cls, options: dict[str, Any], given: set[str]) -> list[str]:
        """Options in ``given`` that a head with ``options`` (defaults included) would ignore."""
        return []

    def set_progress(self, epoch: float) -> dict[str, float]:
        """Updates the head's schedules to fractional epoch ``epoch``; returns their values."""
        return {}

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor | None, labels: torch.Tensor) -> HeadOutput:
        raise NotImplementedError


__all__ = ["HEADS", "Head", "HeadOutput"]
