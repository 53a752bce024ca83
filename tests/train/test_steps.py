"""steps/train.sh, steps/extract_embeddings.sh and the vib-train CLI, end to end
(the Python parts they wrap are tested in test_trainer.py and test_extract.py)."""
from __future__ import annotations

import kaldiio
import pytest

from tests.conftest import run_bash
from tests.train.test_extract import UTTS, fbank_dir, model_path  # noqa: F401  (fixtures)
from vib.config import load_config
from vib.errors import VibError
from vib.train import merge_config


def test_scripts_print_usage_on_wrong_arguments():
    for script in ("steps/train.sh", "steps/extract_embeddings.sh"):
        proc = run_bash(f"{script} only-one-arg")
        assert proc.returncode == 1 and "Usage:" in proc.stderr
        assert run_bash(f"{script} --no-such-option 1 2 3").returncode != 0


def test_vib_train_config_overrides_and_errors(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 5}\nhead: {type: aam, scale: 3e1}\n")
    loaded = load_config(str(config), ["train.epochs=2", "head.margin=0.3", "optim.lr=1e-2"])
    assert loaded["train"]["epochs"] == 2 and loaded["head"] == {"type": "aam", "scale": 30.0, "margin": 0.3}
    assert loaded["optim"]["lr"] == 0.01
    assert load_config(str(config), ["seed=3"])["seed"] == 3          # top-level keys too
    with pytest.raises(VibError, match="'train' is a config section"):
        load_config(str(config), ["train=2"])
    with pytest.raises(VibError, match="section.key=value"):
        load_config(str(config), ["=2"])
    with pytest.raises(VibError, match="unknown config section 'epochs'"):
        merge_config(load_config(str(config), ["epochs=2"]))
    proc = run_bash(f"vib-train {config} {tmp_path}/no-fbank {tmp_path}/exp")
    assert proc.returncode == 1 and proc.stderr.startswith("vib-train: ERROR: no cut manifest at")
    proc = run_bash(f"vib-train {config} {tmp_path} {tmp_path}/exp --set train.epoch=2")
    assert proc.returncode == 1 and "unknown option(s) in config section 'train': epoch" in proc.stderr


@pytest.mark.slow
def test_extract_embeddings_script_end_to_end(fbank_dir, model_path, tmp_path):  # noqa: F811
    out = tmp_path / "xvectors"
    run_bash(f"steps/extract_embeddings.sh --nj 2 --chunk-frames 100 {model_path} {fbank_dir} {out}", check=True)
    assert sorted(kaldiio.load_scp(str(out / "xvector.scp"))) == sorted(u for u, _, _ in UTTS)
    assert sorted(kaldiio.load_scp(str(out / "spk_xvector.scp"))) == ["spkA", "spkB", "spkC"]
    assert (out / "num_utts.ark").read_text().split() == ["spkA", "2", "spkB", "2", "spkC", "2"]
    again = run_bash(f"steps/extract_embeddings.sh {model_path} {fbank_dir} {out}", check=True)
    assert "up to date" in again.stderr


@pytest.mark.slow
def test_train_script_end_to_end(fbank_dir, tmp_path):  # noqa: F811
    exp = tmp_path / "exp"
    overrides = ("model.channels=4 model.layers=[1,1] model.embed_dim=16 train.epochs=2 train.batch_size=4 "
                 "train.crop_frames=50 train.epoch_size=16 train.average_last=2")
    run_bash(f"steps/train.sh --num-threads 1 --overrides '{overrides}' conf/cpu_vib.yaml {fbank_dir} {exp}",
             check=True)
    assert (exp / "final.pt").exists() and (exp / "train.jsonl").read_text().count("\n") == 2
    assert (exp / "spk2id").read_text().split() == ["spkA", "0", "spkB", "1", "spkC", "2"]
    rerun = run_bash(f"steps/train.sh --overrides '{overrides}' conf/cpu_vib.yaml {fbank_dir} {exp}", check=True)
    assert "epoch 1/2" not in rerun.stdout  # complete: nothing is trained again
