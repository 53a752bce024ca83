"""A deterministic in-memory training set for trainer tests, and a runnable
training script (``python tests/train/synthetic.py EXP [--epochs N] [--sleep S]``,
also under ``torchrun``; ``{rank}`` in EXP is replaced by the rank).

Each class has a fixed random spectral pattern ``[80]``, switched on and off over
time by a square wave (so it survives the models' mean normalisation); features are
that plus unit Gaussian noise, so accuracy rises well above chance within a few steps. Batches depend only on
(epoch, rank), never on the global RNG.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

NUM_CLASSES = 6


class SyntheticLoader:
    """``steps`` batches of ``(feats [B, T, 80], labels [B])`` for one epoch and rank."""

    def __init__(self, epoch: int, rank: int = 0, steps: int = 6, batch: int = 12, frames: int = 40,
                 sleep: float = 0.0, nan_at_epoch: int | None = None):
        self.epoch, self.rank, self.steps, self.batch, self.frames = epoch, rank, steps, batch, frames
        self.sleep, self.nan_at_epoch = sleep, nan_at_epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        centres = torch.randn(NUM_CLASSES, 80, generator=torch.Generator().manual_seed(1234))
        gen = torch.Generator().manual_seed(1000 * self.epoch + self.rank)
        wave = torch.sign(torch.sin(0.7 * torch.arange(self.frames, dtype=torch.float32)))
        for _ in range(self.steps):
            labels = torch.randint(0, NUM_CLASSES, (self.batch,), generator=gen)
            feats = torch.randn(self.batch, self.frames, 80, generator=gen)
            feats += 1.5 * centres[labels][:, None, :] * wave[None, :, None]
            if self.nan_at_epoch == self.epoch:
                feats[0, 0, 0] = float("nan")
            if self.sleep:
                time.sleep(self.sleep)
            yield feats, labels


def tiny_config(head: dict | None = None, epochs: int = 2, **train) -> dict:
    """A ~10 k-parameter ResNet config for tests."""
    return {
        "seed": 7,
        "model": {"type": "resnet", "channels": 4, "layers": [1, 1], "embed_dim": 16},
        "head": head or {"type": "vib", "beta": 1e-3, "beta_warmup": [0, 1]},
        "optim": {"name": "sgd", "lr": 0.05, "final_lr": 0.005, "warmup_epochs": 0.5, "grad_clip": 5.0},
        "train": {"epochs": epochs, "average_last": 2, "num_threads": 1, "progress": False, **train},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("exp")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from vib.train import train

    rank = int(os.environ.get("RANK", "0"))
    # "{rank}" in EXP gives every rank its own directory (emulates nodes without a shared filesystem)
    train(tiny_config(epochs=args.epochs), args.exp.format(rank=rank),
          lambda epoch: SyntheticLoader(epoch, rank, sleep=args.sleep), NUM_CLASSES)


if __name__ == "__main__":
    main()
