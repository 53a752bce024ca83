"""steps/score_systems.sh and steps/make_results.sh (the recipes' stages 5 and 6) on small random
x-vectors laid out as a recipe's exp/<system>/xvectors_{train,test}/."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.backend.conftest import speaker_data
from tests.backend.e2e_data import write_xvector_dir
from tests.conftest import run_bash
from vib.backend.trials import read_scores

pytestmark = pytest.mark.slow

SYSTEMS = ("a", "b")
BACKENDS = ("cosine", "cosine+asnorm", "plda")


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """exp/{a,b}/xvectors_{train,test} (b: other vectors of the same utterances), trial lists 'all' and
    'half', scored once by score_systems.sh (auto-detected systems) and then again."""
    root = tmp_path_factory.mktemp("scoring")
    vectors, labels = speaker_data(dim=8, num_spk=30, seed=5, min_utts=2, max_utts=5)
    train = labels < 20
    rng = np.random.default_rng(0)
    for sys in SYSTEMS:
        vectors = (vectors + rng.standard_normal(vectors.shape)).astype(np.float32)
        write_xvector_dir(root / f"exp/{sys}/xvectors_train", vectors[train], labels[train], "tr")
        utt2spk = write_xvector_dir(root / f"exp/{sys}/xvectors_test", vectors[~train], labels[~train] - 20, "te")
    utts = sorted(utt2spk)
    lines = [f"{a} {b} {'target' if utt2spk[a] == utt2spk[b] else 'nontarget'}\n"
             for i, a in enumerate(utts) for b in utts[i + 1:]]
    (root / "all").write_text("".join(lines))
    (root / "half").write_text("".join(lines[::2]))
    cmd = "steps/score_systems.sh --top-n 5 --lda-dim 6 exp train test all=all half=half"
    first = run_bash(f"cd {root} && $VIB_ROOT/{cmd}", check=True)
    mtimes = {p: p.stat().st_mtime_ns for p in (root / "exp").rglob("*") if p.is_file()}
    second = run_bash(f"cd {root} && $VIB_ROOT/{cmd}", check=True)
    return root, first, second, mtimes


def test_every_system_list_and_backend_scored(scored):
    root, first, _, _ = scored
    for sys in SYSTEMS:
        exp = root / "exp" / sys
        for name in ("all", "half"):
            for d, files in ((f"scores_cosine_{name}", ("scores", "scores_asnorm", "metrics.json", "metrics_asnorm.json")),
                             (f"scores_plda_{name}", ("scores", "metrics.json"))):
                assert all((exp / d / f).stat().st_size > 0 for f in files), (d, files)
            num_trials = len((root / name).read_text().splitlines())
            assert len(read_scores(f"{exp}/scores_plda_{name}/scores")[2]) == num_trials
            assert json.loads((exp / f"scores_cosine_{name}/metrics_asnorm.json").read_text())["eer"] < 50
        assert all((exp / "xvectors_train" / f).stat().st_size > 0 for f in ("mean.vec", "transform.mat", "plda"))
    assert "score_systems.sh: a on all" in first.stderr and "score_systems.sh: b on half" in first.stderr
    # Back-end models trained once per system, reused for the second list.
    for line in ("score_plda.sh: PLDA, ", "score_plda.sh: LDA to 6 dims", "training mean"):
        assert first.stderr.count(line) == len(SYSTEMS), line


def test_plda_of_second_list_same_as_trained_for_it_alone(scored):
    root = scored[0]
    exp = root / "exp/b"
    run_bash(f"cd {root} && $VIB_ROOT/steps/score_plda.sh --lda-dim 6 {exp}/xvectors_train {exp}/xvectors_test "
             f"{exp}/xvectors_test half alone", check=True)
    np.testing.assert_allclose(read_scores(f"{root}/alone/scores")[2], read_scores(f"{exp}/scores_plda_half/scores")[2],
                               rtol=1e-5, atol=1e-5)


def test_rerun_redoes_nothing(scored):
    _, _, second, before = scored
    assert {p: p.stat().st_mtime_ns for p in before} == before
    for line in ("PLDA", "LDA", "training mean", "cosine scoring", "asnorm with cohort"):
        assert line not in second.stderr


def test_bad_trial_list_argument(scored):
    root = scored[0]
    proc = run_bash(f"cd {root} && $VIB_ROOT/steps/score_systems.sh exp train test all")
    assert proc.returncode != 0 and "given as <list>=<trials-file>, got 'all'" in proc.stderr
    proc = run_bash(f"cd {root} && $VIB_ROOT/steps/score_systems.sh exp train test x=absent")
    assert proc.returncode != 0 and "no such trials file: absent (list 'x')" in proc.stderr
    proc = run_bash(f"cd {root} && $VIB_ROOT/steps/score_systems.sh exp train dev x=all")
    assert proc.returncode != 0 and "no system under exp has xvectors_dev/" in proc.stderr


def test_variances_add_plda_with_uncertainty_and_enroll_set_scores_short_tests(scored, tmp_path):
    """Where both sides' dirs hold xvector_var.scp, score_systems.sh adds scores_up (vib-plda-scoring-up
    with the system's models, --variance-scale); --enroll-set takes the enrollment side from another set."""
    import shutil

    from vib.io.tables import read_table_dict, write_table

    root = scored[0]
    exp = tmp_path / "exp"
    shutil.copytree(root / "exp/a", exp / "a")
    shutil.copytree(root / "exp/a/xvectors_test", exp / "a/xvectors_short")  # the same vectors, another set
    for d in ("xvectors_test", "xvectors_short"):
        keys = list(read_table_dict(f"scp:{exp}/a/{d}/xvector.scp"))
        rng = np.random.default_rng(0)  # the same variances in both sets
        write_table(f"ark,scp:{exp}/a/{d}/xvector_var.ark,{exp}/a/{d}/xvector_var.scp",
                    [(k, rng.uniform(0.5, 2.0, 8).astype(np.float32)) for k in keys])
    shutil.copy(root / "all", tmp_path / "all")
    steps = "$VIB_ROOT/steps/score_systems.sh --top-n 5 --lda-dim 6"
    first = run_bash(f"cd {tmp_path} && {steps} --variance-scale 0.5 exp train test all=all", check=True)
    assert first.stderr.count("with uncertainty propagation") == 1
    tr, te = f"{exp}/a/xvectors_train", f"{exp}/a/xvectors_test"
    run_bash(f"cd {tmp_path} && vib-plda-scoring-up --normalize-length=true --variance-scale=0.5 --mean={tr}/mean.vec "
             f"--lda={tr}/transform.mat {tr}/plda scp:{te}/xvector.scp scp:{te}/xvector_var.scp scp:{te}/xvector.scp "
             f"scp:{te}/xvector_var.scp all direct", check=True)
    up = f"{exp}/a/scores_plda_all/scores_up"
    assert read_scores(up)[2].tolist() == read_scores(f"{tmp_path}/direct")[2].tolist()
    assert json.loads((exp / "a/scores_plda_all/metrics_up.json").read_text())["eer"] < 50
    # unchanged: kept; another scale: rescored
    again = run_bash(f"cd {tmp_path} && {steps} --variance-scale 0.5 exp train test all=all", check=True)
    assert "with uncertainty propagation" not in again.stderr
    other = run_bash(f"cd {tmp_path} && {steps} --variance-scale 0.1 exp train test all=all", check=True)
    assert other.stderr.count("with uncertainty propagation") == 1
    assert read_scores(up)[2].tolist() != read_scores(f"{tmp_path}/direct")[2].tolist()
    # the test side from xvectors_short, the enrollment side from xvectors_test: the same vectors, the same scores
    run_bash(f"cd {tmp_path} && {steps} --variance-scale 0.1 --enroll-set test exp train short s=all", check=True)
    for backend, name in (("plda", "scores"), ("plda", "scores_up"), ("cosine", "scores_asnorm")):
        np.testing.assert_allclose(read_scores(f"{exp}/a/scores_{backend}_s/{name}")[2],
                                   read_scores(f"{exp}/a/scores_{backend}_all/{name}")[2], rtol=1e-6, atol=1e-6)
    # --uncertainty true without variances is refused, naming the file
    proc = run_bash(f"cd {tmp_path} && $VIB_ROOT/steps/score_plda.sh --uncertainty true {tr} {tr} {tr} all out")
    assert proc.returncode != 0 and f"no such file: {tr}/xvector_var.scp" in proc.stderr


def _make_results(root: Path, out: str, *extra: str):
    return run_bash(f"cd {root} && $VIB_ROOT/steps/make_results.sh --systems 'a b' --lists 'all half' "
                    f"--title 'toy results' --command './run.sh --stage 5' --started 0 "
                    f"--info $'Corpus: toy\\nSecond line' --note 'A note.' {' '.join(extra)} exp all {out}")


def test_make_results_writes_report_and_det_then_keeps_them(scored):
    root = scored[0]
    proc = _make_results(root, "out")
    assert proc.returncode == 0, proc.stderr
    text = (root / "out/RESULTS.md").read_text()
    lines = text.splitlines()
    assert lines[0] == "# toy results" and proc.stdout == text
    assert lines[2].startswith("Produced by: `./run.sh --stage 5` (this run took ")
    assert lines[3].startswith("Machine: ") and " CPU cores" in lines[3] and ", torch " in lines[3]
    assert lines[4:6] == ["Corpus: toy", "Second line"]
    rows = [line for line in lines if line.startswith("| all |") or line.startswith("| half |")]
    assert len(rows) == 2 * len(BACKENDS) * len(SYSTEMS)
    for backend in BACKENDS:
        assert any(f"| all | {backend} | b |" in row for row in rows)
    assert lines[-2].startswith("EER in %") and "DET curves of all: det.png" in lines[-2] and lines[-1] == "A note."
    assert (root / "out/det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (root / "out").iterdir()) == ["RESULTS.md", "det.png"]

    report = [(root / "out" / name).stat().st_mtime_ns for name in ("RESULTS.md", "det.png")]
    again = _make_results(root, "out")
    assert again.returncode == 0 and "newer than every metrics file; kept" in again.stderr
    assert [(root / "out" / name).stat().st_mtime_ns for name in ("RESULTS.md", "det.png")] == report

    (root / "exp/b/scores_cosine_half/metrics_asnorm.json").touch()  # a re-scored back-end: rewritten
    assert _make_results(root, "out").returncode == 0
    assert (root / "out/RESULTS.md").stat().st_mtime_ns > report[0]


def test_make_results_missing_metrics_is_a_clear_error(scored):
    root = scored[0]
    proc = _make_results(root, "out2", "--backends", "'cosine plda+znorm'")
    assert proc.returncode != 0 and "missing metrics file 'exp/a/scores_plda_all/metrics_znorm.json'" in proc.stderr
    assert not (root / "out2/RESULTS.md").exists()
