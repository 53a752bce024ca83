"""steps/score_plda.sh and steps/score_cosine.sh end to end on small random data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.backend.e2e_data import make_experiment
from tests.conftest import run_bash
from vib.backend.lda import LdaConfig, compute_lda
from vib.backend.mean import global_mean, subtract_mean
from vib.backend.plda import estimate_plda, llr_enroll_side, llr_test_side, plda_stats, transform_vectors
from vib.backend.trials import read_scores
from vib.backend.transforms import apply_transform, normalize_length
from vib.backend.vectors import load_vectors
from vib.io.kaldi_objects import read_token_table

pytestmark = pytest.mark.slow

# Stand-ins for Kaldi's binaries: same names and argument order, running our tools.
KALDI_SHIMS = {
    "ivector-mean": 'exec vib-ivector-mean "$@"',
    "ivector-subtract-global-mean": 'exec vib-ivector-subtract-global-mean "$@"',
    "ivector-compute-lda": 'exec vib-compute-lda "$@"',
    "transform-vec": 'exec vib-transform-vec "$@"',
    "ivector-normalize-length": 'exec vib-ivector-normalize-length "$@"',
    "ivector-compute-plda": 'exec vib-compute-plda "$@"',
    "ivector-copy-plda": 'exec vib-copy-plda "$@"',
    "ivector-plda-scoring": 'exec vib-plda-scoring "$@"',
    "ivector-compute-dot-products": 'exec vib-cosine-scoring "$2" "$3" "$1" "$4"',
}


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> dict[str, Path]:
    return make_experiment(tmp_path_factory.mktemp("steps"), dim=12, seed=3)


def library_plda_scores(exp: dict[str, Path], lda_dim: int) -> dict[tuple[str, str], float]:
    """The Kaldi voxceleb/v2 chain computed in-process with the library functions."""
    keys, train = load_vectors(f"scp:{exp['train']}/xvector.scp")
    utt2spk = {u: s[0] for u, s in read_token_table(f"{exp['train']}/utt2spk").items()}
    spk_ids = {s: i for i, s in enumerate(sorted(set(utt2spk.values())))}
    labels = np.array([spk_ids[utt2spk[k]] for k in keys])
    mean = global_mean(train)
    lda = compute_lda(subtract_mean(train, global_mean(train)), labels, LdaConfig(dim=lda_dim))
    prep = lambda x: normalize_length(apply_transform(lda, subtract_mean(x, mean)))  # noqa: E731
    plda = estimate_plda(plda_stats(prep(train), labels))
    test_keys, test = load_vectors(f"scp:{exp['test']}/xvector.scp")
    u = transform_vectors(plda, prep(test))
    left, off = llr_enroll_side(plda, u)
    scores = left @ llr_test_side(u).T + off[:, None]
    row = {k: i for i, k in enumerate(test_keys)}
    return {(a, b): scores[row[a], row[b]] for a, b in
            (line.split()[:2] for line in exp["trials"].read_text().splitlines())}


def test_score_plda_matches_library_chain_and_resumes(exp, tmp_path):
    args = f"{exp['train']} {exp['test']} {exp['test']} {exp['trials']} {tmp_path}/plda"
    proc = run_bash(f"steps/score_plda.sh --lda-dim 8 {args}", check=True)
    assert "PLDA, 10 E-M iterations" in proc.stderr
    metrics = json.loads((tmp_path / "plda/metrics.json").read_text())
    assert {"eer", "min_dcf_0.01", "min_dcf_0.001", "cllr"} <= set(metrics) and metrics["eer"] < 25
    enroll, test, scores = read_scores(f"{tmp_path}/plda/scores")
    ref = library_plda_scores(exp, 8)
    np.testing.assert_allclose(scores, [ref[p] for p in zip(enroll, test)], rtol=1e-4, atol=1e-3)
    again = run_bash(f"steps/score_plda.sh --lda-dim 8 {args}", check=True)
    assert "PLDA" not in again.stderr and "EER" in again.stderr  # nothing redone


def test_score_plda_use_kaldi(exp, tmp_path):
    args = f"{exp['train']} {exp['test']} {exp['test']} {exp['trials']} {tmp_path}/k"
    proc = run_bash(f"steps/score_plda.sh --use-kaldi true {args}")
    assert proc.returncode != 0 and "Kaldi binary 'ivector-mean' is not on PATH" in proc.stderr
    shims = tmp_path / "kaldi_bin"
    shims.mkdir()
    for name, body in KALDI_SHIMS.items():
        (shims / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (shims / name).chmod(0o755)
    run_bash(f"PATH={shims}:$PATH steps/score_plda.sh --use-kaldi true --lda-dim 6 {args}", check=True)
    run_bash(f"steps/score_plda.sh --lda-dim 6 {args.replace('/k', '/v')}", check=True)
    assert (tmp_path / "k/scores").read_text() == (tmp_path / "v/scores").read_text()
    run_bash(f"PATH={shims}:$PATH steps/score_cosine.sh --use-kaldi true --train-dir {exp['train']} "
             f"{exp['test']} {exp['test']} {exp['trials']} {tmp_path}/kc", check=True)
    run_bash(f"steps/score_cosine.sh --train-dir {exp['train']} {exp['test']} {exp['test']} {exp['trials']} "
             f"{tmp_path}/vc", check=True)
    np.testing.assert_allclose(read_scores(f"{tmp_path}/kc/scores")[2], read_scores(f"{tmp_path}/vc/scores")[2],
                               rtol=1e-5, atol=1e-6)


def test_score_cosine_with_asnorm(exp, tmp_path):
    proc = run_bash(f"steps/score_cosine.sh --cohort scp:{exp['train']}/spk_xvector.scp --top-n 10 "
                    f"{exp['test']} {exp['test']} {exp['trials']} {tmp_path}/cos", check=True)
    assert "asnorm" in proc.stderr
    for name in ("scores", "scores_asnorm", "metrics.json", "metrics_asnorm.json"):
        assert (tmp_path / "cos" / name).stat().st_size > 0
    bad = run_bash(f"steps/score_cosine.sh {exp['test']} {exp['test']} {tmp_path}/absent {tmp_path}/x")
    assert bad.returncode != 0 and "no such file" in bad.stderr


def test_score_plda_speaker_enrollment(exp, tmp_path):
    """--enroll-level spk: speaker means with num_utts, as Kaldi's sre16/v2 back-end."""
    utt2spk = {u: s[0] for u, s in read_token_table(f"{exp['test']}/utt2spk").items()}
    speakers = sorted(set(utt2spk.values()))
    lines = [f"{s} {u} {'target' if utt2spk[u] == s else 'nontarget'}\n" for s in speakers for u in sorted(utt2spk)]
    (tmp_path / "trials").write_text("".join(lines))
    run_bash(f"steps/score_plda.sh --enroll-level spk --lda-dim 8 {exp['train']} {exp['test']} {exp['test']} "
             f"{tmp_path}/trials {tmp_path}/spk", check=True)
    metrics = json.loads((tmp_path / "spk/metrics.json").read_text())
    assert metrics["num_target"] == len(utt2spk) and metrics["eer"] < 20


def test_score_plda_plda_dir_trains_once_for_every_list(exp, tmp_path):
    """--plda-dir: the first list trains mean.vec, transform.mat and plda there; a second list reuses them."""
    (tmp_path / "half").write_text("".join(exp["trials"].read_text().splitlines(keepends=True)[::2]))
    model = tmp_path / "model"
    first = run_bash(f"steps/score_plda.sh --lda-dim 8 --plda-dir {model} {exp['train']} {exp['test']} "
                     f"{exp['test']} {exp['trials']} {tmp_path}/all", check=True)
    assert "PLDA, 10 E-M iterations" in first.stderr and "LDA to 8 dims" in first.stderr
    models = [model / name for name in ("mean.vec", "transform.mat", "plda")]
    trained = [p.stat().st_mtime_ns for p in models]
    assert not any((tmp_path / "all" / p.name).exists() for p in models)
    second = run_bash(f"steps/score_plda.sh --lda-dim 8 --plda-dir {model} {exp['train']} {exp['test']} "
                      f"{exp['test']} {tmp_path}/half {tmp_path}/half_scores", check=True)
    assert "training mean" not in second.stderr and "LDA" not in second.stderr and "PLDA" not in second.stderr
    assert [p.stat().st_mtime_ns for p in models] == trained
    # The same scores as without --plda-dir (models trained in the score dir).
    ref = library_plda_scores(exp, 8)
    for scores in ("all", "half_scores"):
        enroll, test, values = read_scores(f"{tmp_path}/{scores}/scores")
        np.testing.assert_allclose(values, [ref[p] for p in zip(enroll, test)], rtol=1e-4, atol=1e-3)
    assert len(read_scores(f"{tmp_path}/half_scores/scores")[2]) == len((tmp_path / "half").read_text().splitlines())


def test_score_cosine_mean_dir_computed_once(exp, tmp_path):
    for name in ("a", "b"):
        proc = run_bash(f"steps/score_cosine.sh --train-dir {exp['train']} --mean-dir {tmp_path}/model "
                        f"{exp['test']} {exp['test']} {exp['trials']} {tmp_path}/{name}", check=True)
        assert ("training mean" in proc.stderr) == (name == "a")
    assert (tmp_path / "model/mean.vec").is_file() and not (tmp_path / "a/mean.vec").exists()
    assert (tmp_path / "a/scores").read_text() == (tmp_path / "b/scores").read_text()
