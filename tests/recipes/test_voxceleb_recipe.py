"""egs/voxceleb/v1/run.sh, every stage, on a miniature VoxCeleb tree built from generated audio.

The tree has the real layout (``wav/idXXXXX/<video>/NNNNN.wav``; VoxCeleb2 partly m4a),
official-style cleaned O/E/H lists, MUSAN and RIRS_NOISES look-alikes. The recipe runs
in a work dir that links to the committed run.sh, cmd.sh, path.sh, utils, steps and conf, with
the committed tiny configs (conf/tiny: 2 epochs of a 4-channel ResNet on the CPU).
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.data.audio_fixtures import make_augmentation_tree, make_voxceleb_tree, write_wav
from vib.bin.results_table import metrics_path
from vib.io.tables import read_table_dict

pytestmark = pytest.mark.slow

RECIPE = REPO / "egs" / "voxceleb" / "v1"
SYSTEMS = ("softmax", "aam", "vib", "aam_lm")  # aam_lm: --lm-systems aam
BACKENDS = ("cosine", "cosine+asnorm", "plda")
LISTS = {"vox1_o_cleaned": "veri_test2.txt", "vox1_e_cleaned": "list_test_all2.txt",
         "vox1_h_cleaned": "list_test_hard2.txt"}
# With the fixture's id00012 (2 utterances): 3 training speakers and 20 utterances, as Kaldi's LDA
# needs more training vectors than dimensions (8) and a full-rank within-speaker scatter.
EXTRA_VOX2 = ("id00015", "id00017")
EXTRA_DEV = ("id00019", "id00021")  # also VoxCeleb2 dev: --dev-speakers 2 holds these two out (seed 0)
EXTRA_VIDEOS = ("Zq3cbvRzP1A", "b7Gq9BnR3uM", "kP0x7vHyT2s")


def _utterances(audio_dir: Path) -> list[str]:
    """``idXXXXX/<video>/NNNNN.wav`` of every file under a VoxCeleb audio dir, sorted."""
    return sorted(str(p.relative_to(audio_dir)) for p in audio_dir.glob("*/*/*.wav"))


def _official_list(pairs: list[tuple[str, str]]) -> str:
    """Label-first VoxCeleb trial lines: ``1|0 <enroll> <test>`` (1: same speaker)."""
    return "".join(f"{int(a.split('/')[0] == b.split('/')[0])} {a} {b}\n" for a, b in pairs)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """VoxCeleb1 dev/test (2 + 2 speakers, wav), VoxCeleb2 dev (3 speakers: m4a and wav),
    the cleaned O/E/H lists, MUSAN and RIRS_NOISES trees."""
    root = tmp_path_factory.mktemp("corpora")
    paths = make_voxceleb_tree(root)
    for k, (spk, video, n) in enumerate(itertools.product(EXTRA_VOX2 + EXTRA_DEV, EXTRA_VIDEOS, (1, 2, 3))):
        write_wav(paths["vox2_dev"] / spk / video / f"{n:05d}.wav", 1.0, 300 + k)
    test = _utterances(paths["vox1_test"])
    both = sorted(test + _utterances(paths["vox1_dev"]))
    pairs = {"vox1_o_cleaned": list(itertools.combinations(test, 2)),
             "vox1_e_cleaned": list(itertools.combinations(both, 2))[::2],
             "vox1_h_cleaned": [(a, b) for a, b in itertools.combinations(both, 2)
                                if a.split("/")[1] != b.split("/")[1]]}  # across videos
    for name, file in LISTS.items():
        (paths["lists"] / file).write_text(_official_list(pairs[name]))
    paths["musan"], paths["rirs"] = make_augmentation_tree(root)
    return paths


def _work_dir(path: Path) -> Path:
    """A recipe work dir elsewhere: links to the committed run.sh, cmd.sh, path.sh, utils, steps, conf."""
    path.mkdir()
    for name in ("run.sh", "cmd.sh", "path.sh", "utils", "steps", "conf"):
        (path / name).symlink_to(RECIPE / name)
    return path


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(work / "run.sh"), *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=900)


def _data_args(corpora: dict[str, Path], skip: str = "") -> list[str]:
    options = {"--vox1-dev": corpora["vox1_dev"], "--vox1-test": corpora["vox1_test"],
               "--vox2-dev": corpora["vox2_dev"], "--trials-dir": corpora["lists"],
               "--musan": corpora["musan"], "--rirs": corpora["rirs"]}
    return [str(x) for opt, path in options.items() if opt != skip for x in (opt, path)]


def _mtimes(work: Path) -> dict[str, int]:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns
            for top in ("data", "fbank", "shards", "exp") for p in (work / top).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def recipe(corpora, tmp_path_factory):
    """The recipe run twice with the same command: (work dir, first run, second run, file
    modification times after the first run and after the second)."""
    work = _work_dir(tmp_path_factory.mktemp("run") / "v1")
    args = ["--nj", "1", "--device", "cpu", "--conf-dir", "conf/tiny", "--lm-systems", "aam", "--dev-speakers", "2",
            *_data_args(corpora)]
    first = _run(work, *args)
    assert first.returncode == 0, f"run.sh failed:\n{first.stdout[-4000:]}\n{first.stderr[-4000:]}"
    before = _mtimes(work)
    second = _run(work, *args)
    assert second.returncode == 0, f"re-run failed:\n{second.stdout[-4000:]}\n{second.stderr[-4000:]}"
    return work, first, second, before, _mtimes(work)


def _table(results_md: str) -> dict[tuple[str, str, str], list[float]]:
    rows = [line.strip("|").split("|") for line in results_md.split("\n### ")[0].splitlines()
            if line.startswith("| vox1_")]
    return {tuple(c.strip() for c in row[:3]): [float(c) for c in row[3:]] for row in rows}


def test_results_have_every_system_backend_and_list(recipe):
    work = recipe[0]
    table = _table((work / "RESULTS.md").read_text())
    assert set(table) == set(itertools.product(LISTS, BACKENDS, SYSTEMS))
    for eer, dcf2, dcf3 in table.values():
        assert 0 <= eer <= 100 and 0 <= dcf2 <= 1.0 + 1e-9 and 0 <= dcf3 <= 1.0 + 1e-9
    assert (work / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for sys, backend, name in itertools.product(SYSTEMS, BACKENDS, LISTS):
        assert "eer" in Path(metrics_path(str(work / "exp"), sys, backend, name)).read_text()
    assert not list(work.glob("exp/*/scores_asnorm_*"))  # one naming scheme: cosine+asnorm


def test_trials_and_embeddings_cover_the_lists(recipe, corpora, monkeypatch):
    work, first = recipe[0], recipe[1]
    monkeypatch.chdir(work)  # xvector.scp names the arks relative to the recipe dir, as in Kaldi
    o_list = (work / "data/voxceleb1_test/trials_vox1_o_cleaned").read_text().splitlines()
    assert len(o_list) == 28 and o_list[0] == "id10270-8jE-Ag6S_gY-00001 id10270-8jE-Ag6S_gY-00002 target"
    assert len((work / "data/voxceleb1/trials_vox1_h_cleaned").read_text().splitlines()) == 64
    vox1 = {p.replace("/", "-")[:-4] for p in _utterances(corpora["vox1_dev"]) + _utterances(corpora["vox1_test"])}
    for sys in SYSTEMS:
        xvectors = read_table_dict(f"scp:{work}/exp/{sys}/xvectors_voxceleb1/xvector.scp")
        assert set(xvectors) == vox1
        assert all(v.shape == (8,) and np.isfinite(v).all() for v in xvectors.values())
        train = read_table_dict(f"scp:{work}/exp/{sys}/xvectors_voxceleb2_dev_fit/xvector.scp")
        assert len(train) == 20
        cohort = read_table_dict(f"scp:{work}/exp/{sys}/xvectors_voxceleb2_dev_fit/spk_xvector.scp")
        assert sorted(cohort) == ["id00012", *EXTRA_VOX2]
        # Trained once per system, in the training xvector dir (as Kaldi), and used for every list.
        model = work / f"exp/{sys}/xvectors_voxceleb2_dev_fit"
        assert all((model / name).stat().st_size > 0 for name in ("mean.vec", "transform.mat", "plda"))
        assert not list(work.glob(f"exp/{sys}/scores_*/plda")) and not list(work.glob(f"exp/{sys}/scores_*/mean.vec"))
    assert first.stderr.count("score_plda.sh: PLDA, ") == len(SYSTEMS)
    assert first.stderr.count("score_cosine.sh: training mean") == len(SYSTEMS)


def test_training_used_voxceleb2_with_augmentation(recipe):
    """From shards (the recipe's default) holding features and audio: the augmented crops read it."""
    work = recipe[0]
    shards = work / "shards" / "voxceleb2_dev_fit"
    assert (shards / "recording.000000.tar").is_file() and len((shards / "utt2spk").read_text().splitlines()) == 20
    wav_scp = (work / "data/voxceleb2_dev/wav.scp").read_text()
    assert "id00012-21Uxsk56VDQ-00001 ffmpeg " in wav_scp  # m4a decoded through a pipe
    for sys in SYSTEMS:
        assert [line.split()[0] for line in (work / f"exp/{sys}/spk2id").read_text().splitlines()] == [
            "id00012", *EXTRA_VOX2]
        config = (work / f"exp/{sys}/config.yaml").read_text()
        assert "data/aug/rir.jsonl.gz" in config and "data/aug/speech.jsonl.gz" in config
        assert len((work / f"exp/{sys}/train.jsonl").read_text().splitlines()) == (1 if sys == "aam_lm" else 2)


def test_large_margin_fine_tune_starts_from_the_aam_system(recipe):
    """--lm-systems aam: exp/aam_lm starts from exp/aam/final.pt (trunk and head), with longer crops
    and margin 0.5 from its first step."""
    import yaml

    work, first = recipe[0], recipe[1]
    log = (work / "exp/aam_lm/train.log").read_text()
    assert "extractor and head initialised from exp/aam/final.pt" in log
    config = yaml.safe_load((work / "exp/aam_lm/config.yaml").read_text())
    assert config["head"]["margin"] == 0.5 and config["head"]["margin_warmup"] is None
    assert config["train"]["crop_frames"] == 80 and config["train"]["init_head"] is True
    row = json.loads((work / "exp/aam_lm/train.jsonl").read_text().splitlines()[0])
    assert row["margin"] == 0.5
    assert "large-margin fine-tuning of aam into aam_lm" in first.stderr


def test_held_out_dev_speakers_calibrate_every_system(recipe):
    """--dev-speakers 2: two VoxCeleb2 speakers held out of training (data/voxceleb2_dev_cal with a
    trial list), scored as list 'dev'; calibration trained on it is applied to every test list."""
    work = recipe[0]
    cal = {line.split()[1] for line in (work / "data/voxceleb2_dev_cal/utt2spk").read_text().splitlines()}
    fit = {line.split()[1] for line in (work / "data/voxceleb2_dev_fit/utt2spk").read_text().splitlines()}
    assert cal == set(EXTRA_DEV) and fit == {"id00012", *EXTRA_VOX2}
    labels = [line.split()[2] for line in (work / "data/voxceleb2_dev_cal/trials").read_text().splitlines()]
    assert "target" in labels and "nontarget" in labels
    for sys in SYSTEMS:
        assert (work / f"exp/{sys}/scores_plda_dev/metrics.json").is_file()
        for name in LISTS:
            assert "act_dcf_0.01" in (work / f"exp/{sys}/scores_plda_{name}/metrics_llr_qmf.json").read_text()
        assert (work / f"exp/{sys}/backend/calibration_plda.json").is_file()
    text = (work / "RESULTS.md").read_text()
    assert "### Calibration (trained on dev, applied to test)" in text and "| dev | plda | vib |" in text


def test_asnorm_is_normalised_cosine(recipe):
    work = recipe[0]
    for sys in SYSTEMS:
        cosine = (work / f"exp/{sys}/scores_cosine_vox1_o_cleaned/scores").read_text().split()
        asnorm = (work / f"exp/{sys}/scores_cosine_vox1_o_cleaned/scores_asnorm").read_text().split()
        assert cosine[0::3] == asnorm[0::3] and cosine[1::3] == asnorm[1::3]
        assert not np.allclose(np.array(cosine[2::3], float), np.array(asnorm[2::3], float))


def test_rerun_redoes_no_finished_stage(recipe):
    work, first, second, before, after = recipe
    assert before == after
    for done in ("stage 0: data dirs and trial lists are ready", "stage 1: augmentation manifests are ready",
                 "stage 3: vib is trained", "stage 3: aam_lm is fine-tuned",
                 "stage 4: exp/vib/xvectors_voxceleb2_dev_fit is up to date",
                 "stage 0: dev split voxceleb2_dev_cal / voxceleb2_dev_fit is ready"):
        assert done in second.stderr
    assert _table((work / "RESULTS.md").read_text()) == _table(first.stdout[first.stdout.index("# egs/voxceleb"):])


@pytest.mark.parametrize("skip,message", [
    ("--vox2-dev", "--vox2-dev is required: VoxCeleb2 dev audio"),
    ("--trials-dir", "--trials-dir is required"),
    ("--musan", "--musan is required: the MUSAN root"),  # stage 1's option: checked before stage 0 runs
])
def test_missing_data_path_is_a_clear_error(corpora, tmp_path, skip, message):
    work = _work_dir(tmp_path / "v1")
    proc = _run(work, "--conf-dir", "conf/tiny", *_data_args(corpora, skip=skip))
    assert proc.returncode != 0 and message in proc.stderr
    assert not (work / "data").exists()


def test_wrong_data_path_names_option_and_path(corpora, tmp_path):
    work = _work_dir(tmp_path / "v1")
    proc = _run(work, *_data_args(corpora, skip="--musan"), "--musan", str(tmp_path / "no_musan"))
    assert proc.returncode != 0 and f"--musan '{tmp_path / 'no_musan'}' is not a directory" in proc.stderr
