"""egs/mini/v1/run.sh end to end on the tiny corpus: every stage, RESULTS.md,
re-runs that redo nothing, a run killed during training that resumes, and the trained
model dir deciding as the recipe scores."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from vib.io.tables import read_table_dict

RECIPE = REPO / "egs/mini/v1"
SYSTEMS = ("softmax", "aam", "vib")
LISTS = ("test_trials", "test_trials_hard", "test_1s_trials", "dev_trials", "dev_trials_hard")
TEST_LISTS = [x for x in LISTS if x.startswith("test_")]
# The recipe's own configs, shrunk to seconds of training.
TINY_TRAIN = {"epochs": 3, "epoch_size": 96, "batch_size": 16, "crop_frames": 100, "average_last": 2}


def _make_recipe_copy(dest: Path) -> Path:
    """A copy of the recipe (run.sh, cmd.sh, conf/) in ``dest`` with links to the repository."""
    dest.mkdir(parents=True)
    shutil.copy(RECIPE / "run.sh", dest / "run.sh")
    shutil.copy(RECIPE / "cmd.sh", dest / "cmd.sh")
    (dest / "path.sh").write_text(f". {REPO}/path.sh\n")
    for name in ("utils", "steps"):
        (dest / name).symlink_to(REPO / name)
    tiny = dest / "conf_tiny"
    tiny.mkdir()
    for system in SYSTEMS:
        config = yaml.safe_load((RECIPE / "conf" / f"{system}.yaml").read_text())
        config["train"].update(TINY_TRAIN)
        config["model"]["embed_dim"] = 32  # below the tiny corpus' 48 training vectors, for LDA
        (tiny / f"{system}.yaml").write_text(yaml.safe_dump(config))
    return dest


def _run(recipe: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    real = [] if "--real-speech" in args else ["--real-speech", "false"]  # never fetched by the tests
    return subprocess.run(["bash", str(recipe / "run.sh"), "--corpus-size", "tiny", "--conf-dir", "conf_tiny",
                           "--short-durations", "1.0", *real, *args], cwd=recipe, capture_output=True, text=True,
                          timeout=900, **kwargs)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    """The tiny recipe run once, killed during training of the first system, then re-run to the end."""
    recipe = _make_recipe_copy(tmp_path_factory.mktemp("mini") / "v1")
    # the real-speech set's packages cannot be fetched (a stub apt-get): --real-speech auto skips it
    stub = recipe.parent / "no_apt"
    stub.mkdir()
    (stub / "apt-get").write_text('#!/bin/sh\necho "E: Unable to locate package $2" >&2\nexit 100\n')
    (stub / "apt-get").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}"}
    out = _run(recipe, "--stop-stage", "2", "--real-speech", "auto", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ("stage 2: skipping the real-speech set (--real-speech auto): local.real_speech.prepare: ERROR: package "
            "'uqm-voice' is not available") in out.stderr
    assert not (recipe / "data/real").exists() and not (recipe / "fbank/real").exists()

    # Start training, SIGKILL the whole run once the first checkpoint exists, then re-run.
    proc = subprocess.Popen(["bash", str(recipe / "run.sh"), "--stage", "3", "--corpus-size", "tiny",
                             "--conf-dir", "conf_tiny", "--short-durations", "1.0", "--real-speech", "false"], cwd=recipe, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    first = recipe / "exp/softmax_s0/checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (first.is_dir() and any(first.glob("*.pt"))):
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (recipe / "exp/softmax_s0/final.pt").exists(), "training finished before the kill; enlarge it"

    out = _run(recipe, "--stage", "3")
    assert out.returncode == 0, out.stdout + out.stderr
    recipe.joinpath("rerun.log").write_text(out.stdout + out.stderr)
    return recipe


@pytest.mark.slow
def test_every_stage_produced_its_files(recipe, monkeypatch):
    monkeypatch.chdir(recipe)  # xvector.scp names the arks relative to the recipe dir, as in Kaldi
    for split in ("train", "dev", "test"):
        for name in ("wav.scp", "utt2spk", "spk2utt", "cuts.jsonl.gz"):
            assert (recipe / "data" / split / name).is_file()
        assert (recipe / "fbank" / split / "cuts.jsonl.gz").is_file()
    for split in ("dev", "test"):
        for trials in ("trials", "trials_hard"):
            assert (recipe / "data" / split / trials).stat().st_size > 0
    utts = {split: {line.split()[0] for line in (recipe / "data" / split / "utt2spk").read_text().splitlines()}
            for split in ("dev", "test")}
    # the 1-s condition: the test cuts cut short, trials whose test side points at them, utt2spk of both
    utts["test_1s"] = {f"{u}_1s" for u in utts["test"]}
    assert (recipe / "fbank/test_1s/cuts.jsonl.gz").is_file()
    short = [line.split() for line in (recipe / "data/test_1s/trials").read_text().splitlines()]
    assert short == [[e, f"{t}_1s", y] for e, t, y in
                     (line.split() for line in (recipe / "data/test/trials").read_text().splitlines())]
    assert {line.split()[0] for line in (recipe / "data/test_1s/utt2spk").read_text().splitlines()} == \
        {e for e, _, _ in short} | {t for _, t, _ in short}
    for system in SYSTEMS:
        exp = recipe / "exp" / f"{system}_s0"
        assert (exp / "final.pt").is_file() and (exp / "curve.png").is_file()
        for split in ("dev", "test", "test_1s"):
            assert set(read_table_dict(f"scp:{exp}/xvectors_{split}/xvector.scp")) == utts[split]
            quality = read_table_dict(f"scp:{exp}/xvectors_{split}/quality.scp")
            assert set(quality) == utts[split]       # log duration (+ mean log-variance for VIB)
            assert {len(q) for q in quality.values()} == {2 if system == "vib" else 1}
            # the VIB variances, which plda+up propagates (not of the training set)
            assert (exp / f"xvectors_{split}" / "xvector_var.scp").is_file() == (system == "vib")
        assert not (exp / "xvectors_train" / "xvector_var.scp").exists()
        for trials in LISTS:
            assert (exp / f"scores_plda_{trials}" / "metrics.json").is_file()
            assert (exp / f"scores_plda_{trials}" / "metrics_up.json").is_file() == (system == "vib")
            for name in ("metrics.json", "metrics_asnorm.json"):
                assert (exp / f"scores_cosine_{trials}" / name).is_file()
        for trials in ("test_trials", "test_trials_hard"):      # calibrated on dev_trials
            for name in ("metrics_llr.json", "metrics_llr_qmf.json", "metrics_asnorm_llr_qmf.json"):
                assert "cllr" in json.loads((exp / f"scores_cosine_{trials}" / name).read_text())
        for backend in ("cosine", "cosine+asnorm", "plda"):
            shipped = json.loads((exp / "backend" / f"calibration_{backend}.json").read_text())
            assert shipped["quality"]["measures"][:1] == ["log_duration"]
        # PLDA back-end trained once per system, in the training xvector dir, and used for both lists.
        assert all((exp / "xvectors_train" / name).stat().st_size > 0 for name in ("mean.vec", "transform.mat", "plda"))
        assert not list(exp.glob("scores_*/plda"))
    log = (recipe / "rerun.log").read_text()
    assert log.count("score_plda.sh: PLDA, ") == len(SYSTEMS) and log.count("training mean") == len(SYSTEMS)


@pytest.mark.slow
def test_results_table_and_det_plot(recipe):
    text = (recipe / "RESULTS.md").read_text()
    main, calibration = text.split("\n### ")[0], text.split("### Calib")[1]
    systems = text.split("### Paired comparisons of systems")[1].split("###")[0]
    backends = text.split("### Paired comparisons of back-ends")[1].split("###")[0]
    rows = [line for line in main.splitlines() if line.startswith(("| test_", "| dev_"))]
    assert len(rows) == len(LISTS) * (3 * 3 + 1), text  # plda+up: vib only
    for system in SYSTEMS:
        for backend in ("cosine", "cosine+asnorm", "plda"):
            assert any(f"| {backend} | {system} |" in row for row in rows)
    assert sum("| plda+up | vib |" in row for row in rows) == len(LISTS)
    assert all(row.count("[") == (1 if row.startswith("| test_") else 0) for row in rows)  # intervals on test
    assert len([r for r in systems.splitlines() if r.startswith("| test_")]) == len(TEST_LISTS) * 3 * 3
    assert [r.split("|")[1:4] for r in backends.splitlines() if r.startswith("| test_")] == [
        [f" {x} ", " vib ", " plda+up vs plda "] for x in TEST_LISTS]
    assert len([r for r in calibration.splitlines() if r.startswith("| test_")]) == 2 * 3 * 3
    uncertainty = text.split("### The VIB variance against duration")[1]
    assert [r.split("|")[1] for r in uncertainty.splitlines() if r.startswith("| vib_")] == [
        " vib_s0/test ", " vib_s0/test_1s "]
    assert (recipe / "uncertainty.png").read_bytes()[:4] == b"\x89PNG"
    assert "Produced by: `" in text and "run.sh --corpus-size tiny" in text
    assert "Software: Python" in text and "Corpus audio: sha256" in text
    assert (recipe / "det.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_killed_training_resumed_each_epoch_once(recipe):
    lines = (recipe / "exp/softmax_s0/train.jsonl").read_text().splitlines()
    epochs = [yaml.safe_load(line)["epoch"] for line in lines]
    assert epochs == sorted(set(epochs)) and len(epochs) == TINY_TRAIN["epochs"]


@pytest.mark.slow
def test_rerun_redoes_nothing(recipe):
    watched = [recipe / "fbank/train/cuts.jsonl.gz", recipe / "exp/vib_s0/final.pt",
               recipe / "exp/vib_s0/xvectors_test/xvector.ark", recipe / "exp/aam_s0/scores_plda_test_trials/scores",
               recipe / "exp/aam_s0/scores_plda_test_trials/scores_llr_qmf", recipe / "RESULTS.md"]
    before = [p.stat().st_mtime_ns for p in watched]
    out = _run(recipe)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [p.stat().st_mtime_ns for p in watched] == before


@pytest.mark.slow
def test_bad_option_is_a_clear_error(recipe):
    out = _run(recipe, "--corpus-size", "huge")
    assert out.returncode != 0 and "--corpus-size must be default or tiny" in out.stderr
    out = _run(recipe, "--real-speech", "maybe")
    assert out.returncode != 0 and "--real-speech must be auto, true or false, got 'maybe'" in out.stderr
    # asked for explicitly, a real-speech set whose packages cannot be fetched stops the run, naming the package
    env = {**os.environ, "PATH": f"{recipe.parent / 'no_apt'}{os.pathsep}{os.environ['PATH']}"}
    out = _run(recipe, "--stage", "2", "--stop-stage", "2", "--real-speech", "true", env=env)
    assert out.returncode != 0 and "ERROR: the real-speech set: local.real_speech.prepare: ERROR: package 'uqm-voice'" \
        in out.stderr


@pytest.mark.slow
def test_trained_model_dir_verifies_as_the_recipe_scores(recipe):
    """exp/vib_s0 is a model dir (final.pt, fbank.yaml, backend/ from the scoring and calibration
    stages): vib-verify over the test wav.scp gives the recipe's PLDA scores (fbank recomputed from
    audio rather than read from lilcom: correlation above 0.99), LLRs from the shipped quality-aware
    calibration as the recipe's, and decides on them at the prior."""
    import numpy as np

    trials = (recipe / "data/test/trials").read_text().splitlines()[:40]
    (recipe / "some_trials").write_text("\n".join(trials) + "\n")
    out = subprocess.run(["bash", "-c", f". {REPO}/path.sh && vib-verify --p-target 0.5 --trials some_trials "
                          f"--wav-scp data/test/wav.scp exp/vib_s0 verified"], cwd=recipe, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ours = {tuple(r.split()[:2]): r.split()[2:] for r in (recipe / "verified").read_text().splitlines()}
    recipe_scores = {tuple(r.split()[:2]): float(r.split()[2])
                     for r in (recipe / "exp/vib_s0/scores_plda_test_trials/scores").read_text().splitlines()}
    recipe_llrs = {tuple(r.split()[:2]): float(r.split()[2])
                   for r in (recipe / "exp/vib_s0/scores_plda_test_trials/scores_llr_qmf").read_text().splitlines()}
    keys = [tuple(t.split()[:2]) for t in trials]
    mine = np.array([float(ours[k][0]) for k in keys])
    theirs = np.array([recipe_scores[k] for k in keys])
    assert np.corrcoef(mine, theirs)[0, 1] > 0.99
    assert np.corrcoef([float(ours[k][1]) for k in keys], [recipe_llrs[k] for k in keys])[0, 1] > 0.99
    assert all((ours[k][2] == "accept") == (float(ours[k][1]) > 0) for k in keys)


@pytest.mark.slow
def test_trained_model_accepts_a_same_speaker_pair_and_rejects_another_speaker(recipe):
    """vib-verify MODEL a.wav b.wav with the tiny recipe's VIB model (prior 0.5: the tiny dev list
    calibrates too coarsely for 0.01): the same-speaker test pair the recipe's calibrated PLDA
    ranks highest is accepted, the different-speaker pair it ranks lowest is rejected, with the
    recipe's LLRs (audio read again instead of the lilcom-stored fbank: within 1, or 1 % where the
    tiny dev list's calibration scales them to hundreds)."""
    wav = dict(line.split(maxsplit=1) for line in (recipe / "data/test/wav.scp").read_text().splitlines())
    labels = {tuple(t.split()[:2]): t.split()[2] for t in (recipe / "data/test/trials").read_text().splitlines()}
    llrs = [(float(r.split()[2]), tuple(r.split()[:2]))
            for r in (recipe / "exp/vib_s0/scores_plda_test_trials/scores_llr_qmf").read_text().splitlines()]
    same = max(x for x in llrs if labels[x[1]] == "target")
    other = min(x for x in llrs if labels[x[1]] == "nontarget")
    assert same[0] > 1 and other[0] < -1, (same, other)
    for (llr, (a, b)), decision in ((same, "accept"), (other, "reject")):
        out = subprocess.run(["bash", "-c", f". {REPO}/path.sh && vib-verify --p-target 0.5 exp/vib_s0 {wav[a]} {wav[b]}"],
                             cwd=recipe, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[-1] == decision, out.stdout
        assert abs(float(out.stdout.split()[-2]) - llr) < max(1.0, 0.01 * abs(llr)), out.stdout
