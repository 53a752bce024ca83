"""Training checkpoints: atomic save, finding the latest, averaging the last N.

A checkpoint ``<exp>/checkpoints/epoch_NNNN.pt`` holds ``model`` and ``head``
state dicts, ``optimizer``, ``scaler`` (AMP), ``step`` (global step, the
scheduler's state), ``epoch`` (epochs completed), ``rng`` (python, numpy,
torch, cuda states), ``history`` (one dict per epoch), ``config`` and
``num_classes``. ``final.pt`` holds the averaged ``model`` plus ``config``.

Checkpoints are data: they are read with ``torch.load(weights_only=True)`` only
(tensors, numbers, strings, lists, dicts), so a planted file cannot run code.
RNG states are stored as plain lists and tensors; the NumPy arrays of older
checkpoints' RNG states are read through an allow-list of NumPy's array
constructor alone. Tensors are always loaded to the CPU (``set_rng_state`` needs
CPU tensors; ``load_state_dict`` places the rest).
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vib.errors import VibError

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


def _numpy_array_globals() -> list[Any]:
    """What unpickling a plain NumPy array needs (older checkpoints' NumPy RNG state)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load(path: str | Path, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """Loads a checkpoint to the CPU with ``weights_only=True``; a clear error if it is
    missing, unreadable, not a dict, holds anything but data, or lacks a key in ``require``."""
    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise VibError(f"no checkpoint at '{path}'") from None
    except Exception as err:
        text = str(err)
        found = re.search(r"GLOBAL (\S+) was not an allowed global", text)
        if found:
            raise VibError(f"refusing checkpoint '{path}': it refers to the Python object '{found[1]}', which "
                           f"could run code when loaded (vib-spk checkpoints hold only tensors and plain data)") from None
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        first = reason[1].strip() if reason else (text.strip().splitlines() or [type(err).__name__])[0]
        raise VibError(f"cannot read checkpoint '{path}': {first}") from None
    if not isinstance(state, dict):
        raise VibError(f"'{path}' is not a vib-spk checkpoint (it holds a {type(state).__name__}, not a dict)")
    missing = [key for key in require if key not in state]
    if missing:
        raise VibError(f"'{path}' is not a complete vib-spk checkpoint: no {', '.join(missing)}")
    return state


def rng_state() -> dict[str, Any]:
    """Every random generator's state, as tensors and plain lists (``weights_only``-loadable)."""
    version, internal, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": [version, list(internal), gauss],
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores what :func:`rng_state` saved (also the tuple form of older checkpoints);
    states are moved to the CPU first, wherever they were saved or loaded."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        keys = numpy_state["keys"].cpu().numpy().astype(np.uint32)
        numpy_state = ("MT19937", keys, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"])
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


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
    """Writes ``out`` with the model (and the training head, for fine-tuning with
    ``train.init_head``) averaged over the newest ``count`` checkpoints, and their config;
    returns the checkpoints used."""
    chosen = [p for _, p in list_checkpoints(exp_dir)[-count:]]
    if not chosen:
        raise VibError(f"no checkpoints to average in '{Path(exp_dir) / 'checkpoints'}'")
    loaded = [load(p, require=("model", "config", "num_classes")) for p in chosen]
    final = {"model": average_state_dicts([c["model"] for c in loaded]), "config": loaded[-1]["config"],
             "num_classes": loaded[-1]["num_classes"], "averaged": [p.name for p in chosen]}
    if all("head" in c for c in loaded):
        final["head"] = average_state_dicts([c["head"] for c in loaded])
    save_atomic(final, out)
    return chosen
