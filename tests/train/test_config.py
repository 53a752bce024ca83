"""Config files: ``base:`` inheritance, overrides, and the committed configs that use it."""
from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO
from vib.config import load_config
from vib.errors import VibError
from vib.train import merge_config


def test_base_chain_is_laid_over_key_by_key_relative_to_each_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "root.yaml").write_text("seed: 1\ntrain: {epochs: 5, batch_size: 8}\nhead: {type: aam}\n")
    (tmp_path / "mid.yaml").write_text("base: a/root.yaml\ntrain: {epochs: 7}\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "top.yaml").write_text("base: ../mid.yaml\nhead: {type: softmax}\nseed: 3\n")
    (tmp_path / "link").symlink_to(tmp_path / "b")  # resolved through the link, as recipe work dirs link conf/
    config = load_config(str(tmp_path / "link" / "top.yaml"), ["train.batch_size=4"])
    assert config == {"seed": 3, "train": {"epochs": 7, "batch_size": 4}, "head": {"type": "softmax"}}


def test_base_cycles_and_bad_bases_are_errors(tmp_path):
    (tmp_path / "x.yaml").write_text("base: y.yaml\n")
    (tmp_path / "y.yaml").write_text("base: x.yaml\n")
    with pytest.raises(VibError, match="'base:' makes a cycle"):
        load_config(str(tmp_path / "x.yaml"))
    (tmp_path / "z.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(VibError, match="cannot read config '.*nowhere.yaml'"):
        load_config(str(tmp_path / "z.yaml"))
    (tmp_path / "w.yaml").write_text("base: [1]\n")
    with pytest.raises(VibError, match="'base:' must be a path"):
        load_config(str(tmp_path / "w.yaml"))


@pytest.mark.parametrize("system", ["softmax", "aam", "vib"])
def test_voxceleb_configs_are_the_paper_configs_plus_augmentation(system):
    recipe = load_config(str(REPO / "egs/voxceleb/v1/conf" / f"{system}.yaml"))
    paper = yaml.safe_load((REPO / "conf" / f"resnet34_{system}.yaml").read_text())
    assert {k: v for k, v in recipe.items() if k != "data"} == {k: v for k, v in paper.items() if k != "data"}
    assert set(recipe["data"]["augment"]) == {"reverb", "noise", "music", "babble"}
    merge_config(recipe)
