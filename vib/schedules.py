"""Per-step schedules, as functions of the fractional epoch ``e = epoch + step / steps_per_epoch``.

* learning rate: linear warm-up from ``warmup_start_lr`` to ``lr`` over
  ``warmup_epochs``, then exponential decay from ``lr`` to ``final_lr`` at the
  end of the last epoch (``lr * (final_lr / lr) ** progress``);
* margin (AAM / AM-softmax) and beta (VIB): 0 until ``warmup[0]``, a linear ramp to
  the final value at ``warmup[1]``, then constant (``warmup: null`` = constant).
"""
from __future__ import annotations

from typing import Sequence


def ramp(epoch: float, final: float, warmup: Sequence[float] | None) -> float:
    """0 before ``warmup[0]``, linear to ``final`` at ``warmup[1]``, then ``final``."""
    if not warmup:
        return final
    start, end = float(warmup[0]), float(warmup[1])
    if epoch <= start:
        return 0.0
    if epoch >= end or end <= start:
        return final
    return final * (epoch - start) / (end - start)


def learning_rate(epoch: float, epochs: int, lr: float, final_lr: float | None = None,
                  warmup_epochs: float = 0.0, warmup_start_lr: float = 0.0) -> float:
    """Learning rate at fractional epoch ``epoch`` of a run of ``epochs`` epochs."""
    if warmup_epochs > 0 and epoch < warmup_epochs:
        return warmup_start_lr + (lr - warmup_start_lr) * epoch / warmup_epochs
    if final_lr is None or epochs <= warmup_epochs:
        return lr
    progress = min(1.0, (epoch - warmup_epochs) / (epochs - warmup_epochs))
    return lr * (final_lr / lr) ** progress
