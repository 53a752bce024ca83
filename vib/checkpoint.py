"""Training checkpoints: atomic save, finding the latest, averaging the last N.

A checkpoint ``<exp>/checkpoints/epoch_NNNN.pt`` holds ``model`` and ``head``
state dicts, ``optimizer``, ``scaler`` (AMP), ``step`` (global step, the
scheduler's state), ``epoch`` (epochs completed), ``rng`` (python, numpy,
torch, cuda states), ``history`` (one dict per epoch), ``config`` and
``num_classes``. ``final.pt`` holds the averaged ``model`` plus ``config``.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vib.cli import VibError

_NAME = re.compile(r"^epoch_(\d{4,})\.pt$")


def checkpoint_path(exp_dir: str | Path, epoch: int) -> Path:
    """``<exp>/checkpoints/epoch_NNNN.pt`` for epochs completed = ``epoch``."""
    return Path(exp_dir) / "checkpoints" / f"epoch_{epoch:04d}.pt"


def list_checkpoints(exp_dir: str | Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every complete checkpoint, oldest first."""
    folder = Path(exp_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), folder / name) for name in os.listdir(folder) if (m := _NAME.match(name))]
    return sorted(found)


def save_atomic(obj: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` to ``path.tmp.PID``, fsync, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads a checkpoint written by this module; a clear error if unreadable."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise VibError(f"no checkpoint at '{path}'") from None
    except Exception as err:
        raise VibError(f"cannot read checkpoint '{path}': {err}") from err


def rng_state() -> dict[str, Any]:
    """Every random generator's state, to resume bit-exactly."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores what :func:`rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def prune(exp_dir: str | Path, keep: int) -> None:
    """Deletes all but the newest ``keep`` checkpoints."""
    for _, path in list_checkpoints(exp_dir)[:-keep] if keep > 0 else []:
        path.unlink()


def average_state_dicts(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors; integer buffers (BatchNorm's
    ``num_batches_tracked``) are taken from the newest state."""
    averaged = {}
    for key, newest in states[-1].items():
        if newest.is_floating_point():
            averaged[key] = sum(s[key].double() for s in states).div(len(states)).to(newest.dtype)
        else:
            averaged[key] = newest.clone()
    return averaged


def average_last(exp_dir: str | Path, count: int, out: str | Path) -> list[Path]:
    """Writes ``out`` with the model averaged over the newest ``count`` checkpoints
    (and their config); returns the checkpoints used."""
    chosen = [p for _, p in list_checkpoints(exp_dir)[-count:]]
    if not chosen:
        raise VibError(f"no checkpoints to average in '{Path(exp_dir) / 'checkpoints'}'")
    loaded = [load(p) for p in chosen]
    final = {"model": average_state_dicts([c["model"] for c in loaded]), "config": loaded[-1]["config"],
             "num_classes": loaded[-1]["num_classes"], "averaged": [p.name for p in chosen]}
    save_atomic(final, out)
    return chosen
