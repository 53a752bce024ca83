"""The training loop on a deterministic in-memory data set: learning, outputs,
NaN stop, config errors, kill-and-resume equality, 2-process DDP."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import REPO
from tests.train.synthetic import NUM_CLASSES, SyntheticLoader, tiny_config
from vib import checkpoint as ckpt
from vib.errors import VibError
from vib.train import TrainingDiverged, train

SCRIPT = str(REPO / "tests" / "train" / "synthetic.py")


def _quiet(_: str) -> None:
    pass


def test_training_learns_and_writes_outputs(tmp_path):
    final = train(tiny_config(epochs=3), tmp_path, lambda e: SyntheticLoader(e), NUM_CLASSES, log=_quiet)
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["acc"] > 0.8 > rows[0]["acc"] - 0.5  # rises well above chance (1/6)
    assert rows[0]["beta"] < rows[-1]["beta"] == pytest.approx(1e-3)  # beta warm-up
    assert rows[-1]["lr"] < rows[0]["lr"] and rows[-1]["kl"] > 0 and rows[-1]["sigma"] > 0
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    state = ckpt.load(final)
    assert state["averaged"] == ["epoch_0002.pt", "epoch_0003.pt"]
    assert "logvar.weight" in state["model"]
    assert [e for e, _ in ckpt.list_checkpoints(tmp_path)] == [2, 3]  # pruned to average_last


@pytest.mark.parametrize("head", [
    {"type": "softmax"},
    {"type": "softmax", "classifier": "cosine", "scale": 16},
    {"type": "am", "scale": 16, "margin": 0.2},
    {"type": "aam", "scale": 16, "margin": 0.2, "margin_warmup": [0, 1]},
    {"type": "vib", "classifier": "cosine", "scale": 16, "margin_type": "aam", "margin": 0.1, "beta": 1e-3},
    {"type": "vib", "bottleneck": "logits", "beta": 1e-3, "kl_reduction": "mean", "samples": 2},
])
def test_every_head_trains_one_epoch(tmp_path, head):
    config = tiny_config(head, epochs=1)
    config["optim"].update({"name": "adam", "lr": 3e-3, "final_lr": None})
    train(config, tmp_path, lambda e: SyntheticLoader(e, steps=3), NUM_CLASSES, log=_quiet)
    row = json.loads((tmp_path / "train.jsonl").read_text())
    assert row["loss"] == row["loss"] and row["acc"] > 0  # finite, something learnt
    if head.get("margin_warmup"):
        assert row["margin"] == pytest.approx(0.2 * 2 / 3)  # value at the epoch's last step


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    factory = lambda e: SyntheticLoader(e, steps=3, nan_at_epoch=1)  # noqa: E731
    with pytest.raises(TrainingDiverged, match=r"epoch 2, batch 1: the loss or gradient norm is NaN.*epoch_0001\.pt"):
        train(tiny_config(epochs=3), tmp_path, factory, NUM_CLASSES, log=_quiet)
    assert [e for e, _ in ckpt.list_checkpoints(tmp_path)] == [1]
    assert not (tmp_path / "final.pt").exists()


def test_resume_refuses_a_different_model(tmp_path):
    train(tiny_config(epochs=1), tmp_path, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet)
    config = tiny_config(epochs=2)
    config["model"]["channels"] = 8
    with pytest.raises(VibError, match="'model' config differs"):
        train(config, tmp_path, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet)


def test_unknown_config_keys_are_errors(tmp_path):
    with pytest.raises(VibError, match="unknown option"):
        train({"train": {"epoch": 3}}, tmp_path, lambda e: [], NUM_CLASSES, log=_quiet)


def _state(path):
    state = ckpt.load(path)
    return {**{f"model.{k}": v for k, v in state["model"].items()}, **{f"head.{k}": v for k, v in state["head"].items()}}


@pytest.mark.slow
def test_killed_and_resumed_run_equals_uninterrupted(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    uninterrupted = subprocess.Popen([sys.executable, SCRIPT, str(straight), "--epochs", "3"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen([sys.executable, SCRIPT, str(killed), "--epochs", "3", "--sleep", "0.15"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not ckpt.list_checkpoints(killed) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [e for e, _ in ckpt.list_checkpoints(killed)] == [1], "kill should land in epoch 2"
    resumed = subprocess.run([sys.executable, SCRIPT, str(killed), "--epochs", "3"], check=True, env=env,
                             capture_output=True, text=True)
    assert "resuming from" in resumed.stdout
    assert uninterrupted.wait() == 0
    a, b = _state(straight / "checkpoints" / "epoch_0003.pt"), _state(killed / "checkpoints" / "epoch_0003.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (straight / "train.jsonl").read_text().count("\n") == (killed / "train.jsonl").read_text().count("\n") == 3


@pytest.mark.slow
def test_two_process_ddp_on_cpu_trains_and_writes_one_checkpoint(tmp_path):
    exp = tmp_path / "ddp"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", SCRIPT, str(exp),
         "--epochs", "1"], env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [e for e, _ in ckpt.list_checkpoints(exp)] == [1]
    assert "2 process(es)" in proc.stdout and proc.stdout.count("epoch 1/1:") == 1  # only rank 0 logs
    row = json.loads((exp / "train.jsonl").read_text())
    assert row["crops_per_s"] > 0 and row["acc"] > 0
    assert len(ckpt.load(ckpt.checkpoint_path(exp, 1))["rng"]) == 2


def test_fine_tuning_starts_from_another_runs_extractor_with_a_new_head(tmp_path):
    """train.init_from: the extractor's weights (VIB's log-variance layer dropped for an AAM
    head), a new head; with lr 0 the trunk stays the source's. A resumed fine-tune resumes."""
    source = train(tiny_config(epochs=1), tmp_path / "vib", lambda e: SyntheticLoader(e), NUM_CLASSES)
    config = tiny_config({"type": "aam", "margin": 0.3}, epochs=1, init_from=str(source))
    config["optim"].update(lr=0.0, final_lr=None, warmup_epochs=0)
    tuned = train(config, tmp_path / "aam", lambda e: SyntheticLoader(e), NUM_CLASSES)
    want = ckpt.load(source)["model"]
    got = ckpt.load(tuned)["model"]
    assert "logvar.weight" in want and "logvar.weight" not in got
    for name, value in got.items():
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(value, want[name]), name
    config["train"]["epochs"] = 2
    log = []
    train(config, tmp_path / "aam", lambda e: SyntheticLoader(e), NUM_CLASSES, log=log.append, force=True)
    assert log[0].startswith("resuming from") and "initialised" not in " ".join(log)
    other = tiny_config(init_from=str(source))
    other["model"]["embed_dim"] = 8
    with pytest.raises(VibError, match="train.init_from .*its model config"):
        train(other, tmp_path / "x", lambda e: SyntheticLoader(e), NUM_CLASSES)


def test_large_margin_fine_tune_keeps_the_head_and_freezing_keeps_the_trunk(tmp_path):
    """train.init_head: the source's (averaged) head weights too, with this config's margin;
    train.freeze: the named extractor parameters do not move while the others train."""
    aam = {"type": "aam", "margin": 0.2}
    source = train(tiny_config(aam, epochs=1), tmp_path / "aam", lambda e: SyntheticLoader(e), NUM_CLASSES)
    assert "head" in ckpt.load(source)                      # final.pt keeps the averaged training head
    config = tiny_config({"type": "aam", "margin": 0.5}, epochs=1, init_from=str(source), init_head=True,
                         freeze=["trunk"])
    config["optim"].update(lr=0.0, final_lr=None, warmup_epochs=0)
    log = []
    train(config, tmp_path / "lm", lambda e: SyntheticLoader(e), NUM_CLASSES, log=log.append)
    assert "extractor and head initialised from" in log[0] and "parameter tensors frozen (trunk)" in log[0]
    head = ckpt.load(ckpt.checkpoint_path(tmp_path / "lm", 1))["head"]
    assert all(torch.equal(v, ckpt.load(source)["head"][k]) for k, v in head.items())   # lr 0: the source's head
    config = tiny_config(aam, epochs=1, init_from=str(source), freeze=["trunk"])
    train(config, tmp_path / "frozen", lambda e: SyntheticLoader(e), NUM_CLASSES)
    want, got = ckpt.load(source)["model"], ckpt.load(tmp_path / "frozen" / "final.pt")["model"]
    trunk = [k for k in got if k.startswith("trunk.") and k.endswith("weight")]
    assert trunk and all(torch.equal(got[k], want[k]) for k in trunk)
    assert not torch.equal(got["mu.weight"], want["mu.weight"])
    with pytest.raises(VibError, match="train.freeze: no extractor parameter under 'trunc'"):
        train(tiny_config(aam, freeze=["trunc"]), tmp_path / "x", lambda e: SyntheticLoader(e), NUM_CLASSES)
    with pytest.raises(VibError, match="train.init_head: the head of .* does not fit"):
        train(tiny_config({"type": "softmax"}, init_from=str(source), init_head=True), tmp_path / "y",
              lambda e: SyntheticLoader(e), NUM_CLASSES + 1)
