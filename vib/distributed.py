"""Process and device set-up for one process or torchrun/DDP, in the order NCCL needs.

``setup(device_name)`` reads torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``,
chooses the device (``auto``: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU),
**sets the CUDA device before** initialising the process group, and initialises it
with NCCL and ``device_id`` for CUDA devices, gloo for CPU ones. Under torchrun every
rank trains on its own GPU: ``cuda`` or ``cuda:N`` both mean ``cuda:LOCAL_RANK``
there (N is not honoured, since N for all ranks would put every rank on one GPU).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from vib.errors import VibError


@dataclass(frozen=True)
class Context:
    """This process: ``rank`` of ``world`` processes, ``local_rank`` on its node, its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def choose_device(name: str, local_rank: int, world: int = 1) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``; ``cuda`` ->
    ``cuda:LOCAL_RANK``; ``cuda:N`` -> itself in one process, ``cuda:LOCAL_RANK`` under torchrun.
    A CUDA device is made current (``torch.cuda.set_device``)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise VibError(f"train.device is {name} but CUDA is not available")
    if world > 1 or device.index is None:
        if world > 1 and device.index not in (None, local_rank):
            print(f"vib: WARNING: device {name} under torchrun: rank uses cuda:{local_rank} (its LOCAL_RANK)",
                  file=sys.stderr)
        device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def setup(device_name: str) -> Context:
    """This process's context; initialises the process group once when ``WORLD_SIZE > 1``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = choose_device(device_name, local_rank, world)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    return Context(rank, world, local_rank, device)


def barrier(ctx: Context) -> None:
    """All ranks wait here (NCCL told which GPU, so that it does not guess)."""
    if ctx.world > 1:
        if ctx.device.type == "cuda":
            dist.barrier(device_ids=[ctx.device.index])
        else:
            dist.barrier()


def broadcast(ctx: Context, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object made by our own code)."""
    if ctx.world == 1:
        return value
    box = [value if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0, device=ctx.device if ctx.device.type == "cuda" else None)
    return box[0]


def gather(ctx: Context, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if ctx.world == 1:
        return [value]
    out: list[Any] = [None] * ctx.world
    dist.all_gather_object(out, value)
    return out
