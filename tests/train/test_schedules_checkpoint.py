"""Schedules and checkpoint helpers."""
from __future__ import annotations

import os

import pytest
import torch

from vib import checkpoint as ckpt
from vib.schedules import learning_rate, ramp


def test_learning_rate_warmup_then_exponential_decay():
    assert learning_rate(0.0, 10, 0.1, 1e-3, warmup_epochs=2) == 0.0
    assert learning_rate(1.0, 10, 0.1, 1e-3, warmup_epochs=2) == pytest.approx(0.05)
    assert learning_rate(2.0, 10, 0.1, 1e-3, warmup_epochs=2) == pytest.approx(0.1)
    assert learning_rate(6.0, 10, 0.1, 1e-3, warmup_epochs=2) == pytest.approx(0.1 * 0.01 ** 0.5)
    assert learning_rate(10.0, 10, 0.1, 1e-3, warmup_epochs=2) == pytest.approx(1e-3)
    assert learning_rate(5.0, 10, 0.1, None) == 0.1


def test_ramp():
    assert ramp(0.5, 0.2, [1, 3]) == 0.0
    assert ramp(2.0, 0.2, [1, 3]) == pytest.approx(0.1)
    assert ramp(9.0, 0.2, [1, 3]) == 0.2
    assert ramp(0.0, 0.2, None) == 0.2


def test_average_state_dicts_and_average_last(tmp_path):
    states = [{"w": torch.full((2,), float(i)), "n": torch.tensor(i)} for i in range(4)]
    for i, state in enumerate(states):
        ckpt.save_atomic({"model": state, "config": {"i": i}, "num_classes": 3}, ckpt.checkpoint_path(tmp_path, i + 1))
    used = ckpt.average_last(tmp_path, 3, tmp_path / "final.pt")
    assert [p.name for p in used] == ["epoch_0002.pt", "epoch_0003.pt", "epoch_0004.pt"]
    final = ckpt.load(tmp_path / "final.pt")
    assert torch.equal(final["model"]["w"], torch.full((2,), 2.0))
    assert final["model"]["n"].item() == 3 and final["config"] == {"i": 3}
    ckpt.prune(tmp_path, 2)
    assert [e for e, _ in ckpt.list_checkpoints(tmp_path)] == [3, 4]
    assert not [n for n in os.listdir(tmp_path / "checkpoints") if ".tmp." in n]


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(Exception, match="no checkpoint at"):
        ckpt.load(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="cannot read checkpoint"):
        ckpt.load(tmp_path / "bad.pt")
