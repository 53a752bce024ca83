"""Optimizers built from the ``optim:`` section of a config through :data:`OPTIMIZERS`.

``optim:`` holds ``name`` (the optimizer), ``lr``, the learning-rate schedule's options (the
keyword arguments of :func:`vib.schedules.learning_rate`: ``final_lr``, ``warmup_epochs``,
``warmup_start_lr``), ``grad_clip`` (max gradient norm, ``null``: none) and the named
optimizer's own options (its constructor's keyword arguments here, e.g. SGD's ``momentum``).
Each default lives in one signature; :func:`complete_optim` fills them in.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable

import torch
from torch import nn

from vib.errors import VibError
from vib.registry import Registry
from vib.schedules import learning_rate

OPTIMIZERS = Registry("optimizer", key="name")
TRAINER_OPTIONS = {"name": "sgd", "lr": 0.1, "grad_clip": None}
SCHEDULE_OPTIONS = {k: p.default for k, p in inspect.signature(learning_rate).parameters.items()
                    if p.default is not inspect.Parameter.empty}
_FIXED = ("params", "lr")


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable[nn.Parameter], lr: float, momentum: float = 0.9, nesterov: bool = True,
        weight_decay: float = 1e-4) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


@OPTIMIZERS.register("adam")
def adam(params: Iterable[nn.Parameter], lr: float, betas: list[float] = (0.9, 0.999),
         weight_decay: float = 1e-4) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable[nn.Parameter], lr: float, betas: list[float] = (0.9, 0.999),
          weight_decay: float = 1e-4) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)


def complete_optim(optim_cfg: dict[str, Any]) -> dict[str, Any]:
    """``optim:`` with every default filled in; a key that neither the trainer, the schedule nor
    the named optimizer reads is an error naming it."""
    given = dict(optim_cfg)
    name = given.get("name", TRAINER_OPTIONS["name"])
    own = OPTIMIZERS.defaults(name, _FIXED)
    unknown = sorted(set(given) - set(TRAINER_OPTIONS) - set(SCHEDULE_OPTIONS) - set(own))
    if unknown:
        raise VibError(f"optim: optimizer '{name}' has no option(s) {', '.join(unknown)} (optim options: "
                       f"{', '.join([*TRAINER_OPTIONS, *SCHEDULE_OPTIONS, *own])})")
    complete = {**TRAINER_OPTIONS, **SCHEDULE_OPTIONS, **own, **given}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in complete.items()}


def build_optimizer(params: Iterable[nn.Parameter], optim_cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer of a (completed) ``optim:`` section over ``params``."""
    cfg = complete_optim(optim_cfg)
    own = {k: cfg[k] for k in OPTIMIZERS.defaults(cfg["name"], _FIXED)}
    return OPTIMIZERS.build({"name": cfg["name"], **own}, TRAINER_OPTIONS["name"], params=params, lr=cfg["lr"])


def schedule_options(optim_cfg: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`vib.schedules.learning_rate` in a completed ``optim:``."""
    return {k: optim_cfg[k] for k in SCHEDULE_OPTIONS}


__all__ = ["OPTIMIZERS", "build_optimizer", "complete_optim", "schedule_options"]
