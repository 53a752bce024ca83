"""Checkpoints and configs from elsewhere: nothing runs from a checkpoint, incomplete ones and
bad configs fail in one line, and options that would do nothing are refused."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tests.conftest import run_bash
from tests.train.synthetic import NUM_CLASSES, SyntheticLoader, tiny_config
from tests.train.test_extract import fbank_dir, model_path  # noqa: F401  (fixtures)
from vib import checkpoint as ckpt
from vib.config import load_config
from tests.planted import Planted
from vib.data.features import read_fbank_config
from vib.errors import VibError
from vib.heads import build_head
from vib.train import train


def test_planted_final_pt_is_refused_by_vib_extract(tmp_path, fbank_dir):  # noqa: F811
    marker, final = tmp_path / "marker", tmp_path / "final.pt"
    torch.save({"model": Planted(marker), "config": {}}, final)
    proc = run_bash(f"vib-extract {final} {fbank_dir} {tmp_path}/out")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "refusing checkpoint" in proc.stderr and "tests.planted.touch" in proc.stderr
    assert not marker.exists()


def test_planted_resume_checkpoint_is_refused(tmp_path):
    marker, exp = tmp_path / "marker", tmp_path / "exp"
    path = ckpt.checkpoint_path(exp, 1)
    path.parent.mkdir(parents=True)
    torch.save({"model": {}, "rng": Planted(marker)}, path)
    with pytest.raises(VibError, match="refusing checkpoint"):
        train(tiny_config(epochs=2), exp, lambda e: SyntheticLoader(e), NUM_CLASSES)
    assert not marker.exists()


def test_checkpoint_without_its_keys_is_one_line(tmp_path, fbank_dir):  # noqa: F811
    final = tmp_path / "final.pt"
    torch.save({"model": {}}, final)
    proc = run_bash(f"vib-extract {final} {fbank_dir} {tmp_path}/out")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "not a complete vib-spk checkpoint: no config" in proc.stderr
    torch.save({"model": {"x": torch.ones(1)}, "config": {"model": {}, "head": {}}}, final)
    proc = run_bash(f"vib-extract {final} {fbank_dir} {tmp_path}/out")
    assert proc.returncode == 1 and "weights do not fit its config" in proc.stderr


def test_older_checkpoints_with_numpy_rng_state_still_resume(tmp_path):
    """Checkpoints written before the RNG state became plain data hold a NumPy array: they
    load through the array-only allow-list and resume to the same weights."""
    config, loader = tiny_config(epochs=2), (lambda e: SyntheticLoader(e))
    train(config, tmp_path / "full", loader, NUM_CLASSES)
    train(config, tmp_path / "part", loader, NUM_CLASSES)
    ckpt.checkpoint_path(tmp_path / "part", 2).unlink()  # as if killed after epoch 1
    path = ckpt.checkpoint_path(tmp_path / "part", 1)
    state = ckpt.load(path)
    new = state["rng"][0]
    np_state = ("MT19937", new["numpy"]["keys"].numpy().astype(np.uint32), new["numpy"]["pos"],
                new["numpy"]["has_gauss"], new["numpy"]["gauss"])
    state["rng"] = [{"python": (new["python"][0], tuple(new["python"][1]), new["python"][2]),
                     "numpy": np_state, "torch": new["torch"]}]
    torch.save(state, path)
    (tmp_path / "part" / "final.pt").unlink()
    train(config, tmp_path / "part", loader, NUM_CLASSES)
    a = torch.load(tmp_path / "full" / "final.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "part" / "final.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_rng_state_is_weights_only_data_and_restores_on_cpu(tmp_path):
    torch.save(ckpt.rng_state(), tmp_path / "rng.pt")
    state = torch.load(tmp_path / "rng.pt", weights_only=True)  # no allow-list needed
    random.random(), np.random.rand(), torch.rand(1)
    expected = (random.random(), np.random.rand(), torch.rand(1))
    ckpt.set_rng_state(state)
    random.random(), np.random.rand(), torch.rand(1)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def test_one_speaker_is_an_error(tmp_path):
    with pytest.raises(VibError, match="at least 2 classes"):
        train(tiny_config(epochs=1), tmp_path / "exp", lambda e: SyntheticLoader(e), 1)
    assert not (tmp_path / "exp" / "final.pt").exists()


@pytest.mark.parametrize("head,unknown", [
    ({"type": "aam", "beta": 1e-3}, "head 'aam' has no option\\(s\\) beta"),
    ({"type": "softmax", "margin": 0.2}, "head 'softmax' has no option\\(s\\) margin"),
])
def test_options_the_head_does_not_have_are_errors(head, unknown):
    with pytest.raises(VibError, match=unknown):
        build_head(head, 8, 4)


@pytest.mark.parametrize("head,ignored", [
    ({"type": "softmax", "scale": 30.0}, "scale"),
    ({"type": "vib", "beta": 1e-3, "margin": 0.2, "margin_warmup": [0, 1]}, "margin, margin_warmup"),
    ({"type": "vib", "classifier": "linear", "scale": 20.0}, "scale"),
])
def test_options_the_head_would_ignore_are_errors(head, ignored):
    with pytest.raises(VibError, match=f"head option\\(s\\) {ignored} would be ignored"):
        build_head(head, 8, 4)


@pytest.mark.parametrize("head", [
    {"type": "softmax", "classifier": "cosine", "scale": 30.0},
    {"type": "aam", "scale": 32.0, "margin": 0.2, "margin_warmup": [0, 1]},
    {"type": "vib", "classifier": "cosine", "margin_type": "aam", "margin": 0.2, "beta": 1e-3, "scale": 30.0},
])
def test_options_the_head_uses_are_accepted(head):
    build_head(head, 8, 4)


def test_yaml_errors_are_one_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 2}\n")
    with pytest.raises(VibError, match=r"--set 'head.margin=\[1': the value is not valid YAML") as err:
        load_config(str(config), ["head.margin=[1"])
    assert "\n" not in str(err.value)
    config.write_text("train: {epochs: [2\n")
    with pytest.raises(VibError, match="not valid YAML") as err:
        load_config(str(config), [])
    assert "\n" not in str(err.value)
    (tmp_path / "fbank.yaml").write_text("num_filters: [80\n")
    with pytest.raises(VibError, match="fbank.yaml: not valid YAML") as err:
        read_fbank_config(tmp_path)
    assert "\n" not in str(err.value)
    (tmp_path / "fbank.yaml").write_text("num_filter: 80\n")
    with pytest.raises(VibError, match="unknown fbank option\\(s\\) num_filter"):
        read_fbank_config(tmp_path)


def test_options_no_optimizer_reads_are_errors():
    from vib.train import merge_config

    with pytest.raises(VibError, match="optim: optimizer 'sgd' has no option\\(s\\) betas \\(optim options: "
                                       "name, lr, grad_clip, final_lr, warmup_epochs, warmup_start_lr, momentum"):
        merge_config({"optim": {"name": "sgd", "betas": [0.8, 0.99]}})
    with pytest.raises(VibError, match="optimizer 'adamw' has no option\\(s\\) momentum, nesterov"):
        merge_config({"optim": {"name": "adamw", "momentum": 0.5, "nesterov": False}})
    merged = merge_config({"optim": {"name": "adamw", "lr": 1e-3, "betas": [0.8, 0.99]}})
    assert merge_config(merged)["optim"]["betas"] == [0.8, 0.99]
