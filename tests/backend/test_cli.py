"""The back-end commands end to end on small random data, and their bad-input errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.backend.e2e_data import make_experiment
from tests.conftest import run_bash
from vib.backend.plda import llr_enroll_side, llr_test_side, transform_vectors
from vib.backend.trials import read_scores
from vib.bin import (calibrate, compute_lda, compute_metrics, compute_plda, copy_plda, cosine_scoring,
                     ivector_mean, ivector_normalize_length, ivector_subtract_global_mean, plda_scoring,
                     score_norm, transform_vec)
from vib.errors import VibError
from vib.io.kaldi_objects import read_int_table, read_kaldi_matrix, read_kaldi_vector, read_plda
from vib.io.tables import read_table_dict, write_table


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> dict[str, Path]:
    return make_experiment(tmp_path_factory.mktemp("backend"))


def test_mean_lda_plda_chain_matches_library(exp, tmp_path):
    train = exp["train"]
    ivector_mean.main([f"scp:{train}/xvector.scp", f"{tmp_path}/mean.vec"])
    vectors = read_table_dict(f"scp:{train}/xvector.scp")
    mean = read_kaldi_vector(f"{tmp_path}/mean.vec")
    np.testing.assert_allclose(mean, np.mean(list(vectors.values()), axis=0), rtol=1e-6, atol=1e-7)
    assert (tmp_path / "mean.vec").read_text().startswith(" [ ")  # Kaldi's default --binary=false
    ivector_subtract_global_mean.main([f"{tmp_path}/mean.vec", f"scp:{train}/xvector.scp", f"ark:{tmp_path}/c.ark"])
    compute_lda.main(["--dim=8", f"ark:{tmp_path}/c.ark", f"ark:{train}/utt2spk", f"{tmp_path}/lda.mat"])
    assert read_kaldi_matrix(f"{tmp_path}/lda.mat").shape == (8, 13)
    transform_vec.main([f"{tmp_path}/lda.mat", f"ark:{tmp_path}/c.ark", f"ark:{tmp_path}/l.ark"])
    ivector_normalize_length.main([f"ark:{tmp_path}/l.ark", f"ark,scp:{tmp_path}/n.ark,{tmp_path}/n.scp"])
    normed = read_table_dict(f"scp:{tmp_path}/n.scp")
    np.testing.assert_allclose([np.linalg.norm(v) for v in normed.values()], np.sqrt(8), rtol=1e-5)
    compute_plda.main([f"ark:{train}/spk2utt", f"scp:{tmp_path}/n.scp", f"{tmp_path}/plda"])
    compute_plda.main(["--binary=false", f"{train}/spk2utt", f"scp:{tmp_path}/n.scp", f"{tmp_path}/plda.txt"])
    binary, text = read_plda(f"{tmp_path}/plda"), read_plda(f"{tmp_path}/plda.txt")
    np.testing.assert_allclose(text.psi, binary.psi, rtol=1e-6)
    copy_plda.main(["--smoothing=0.1", f"{tmp_path}/plda", f"{tmp_path}/plda.s"])
    assert read_plda(f"{tmp_path}/plda.s").psi[0] < binary.psi[0]


def test_speaker_means_and_num_utts(exp, tmp_path):
    test = exp["test"]
    ivector_mean.main([f"{test}/spk2utt", f"scp:{test}/xvector.scp",
                       f"ark,scp:{tmp_path}/s.ark,{tmp_path}/s.scp", f"ark,t:{tmp_path}/n.ark"])
    assert read_int_table(f"ark:{tmp_path}/n.ark") == read_int_table(f"{test}/num_utts.ark")
    ref = read_table_dict(f"scp:{test}/spk_xvector.scp")
    got = read_table_dict(f"scp:{tmp_path}/s.scp")
    assert got.keys() == ref.keys()
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6)


def test_plda_scoring_equals_library_and_handles_num_utts(exp, tmp_path):
    train, test = exp["train"], exp["test"]
    compute_plda.main([f"{train}/spk2utt", f"scp:{train}/xvector.scp", f"{tmp_path}/plda"])
    plda = read_plda(f"{tmp_path}/plda")
    spk = sorted(read_int_table(f"{test}/num_utts.ark").items())
    utts = sorted(read_table_dict(f"scp:{test}/xvector.scp"))
    (tmp_path / "trials").write_text("".join(f"{s} {u}\n" for s, _ in spk for u in utts[::3]))
    plda_scoring.main([f"--num-utts=ark:{test}/num_utts.ark", f"{tmp_path}/plda", f"scp:{test}/spk_xvector.scp",
                       f"scp:{test}/xvector.scp", f"{tmp_path}/trials", f"{tmp_path}/scores"])
    enroll, probe, scores = read_scores(f"{tmp_path}/scores")
    e_vec = read_table_dict(f"scp:{test}/spk_xvector.scp")
    t_vec = read_table_dict(f"scp:{test}/xvector.scp")
    counts = dict(spk)
    for k in range(0, len(scores), 37):  # a few trials, one at a time through the library
        n = counts[enroll[k]]
        left, off = llr_enroll_side(plda, transform_vectors(plda, e_vec[enroll[k]][None], n), n)
        right = llr_test_side(transform_vectors(plda, t_vec[probe[k]][None]))
        assert scores[k] == pytest.approx(float(left[0] @ right[0] + off[0]), rel=2e-6, abs=1e-5)
    score_norm.main(["--method=snorm", f"--plda={tmp_path}/plda", f"--num-utts=ark:{test}/num_utts.ark",
                     f"scp:{train}/spk_xvector.scp", f"scp:{test}/spk_xvector.scp", f"scp:{test}/xvector.scp",
                     f"{tmp_path}/scores", f"{tmp_path}/snorm"])
    normed = read_scores(f"{tmp_path}/snorm")[2]
    assert normed.shape == scores.shape and np.all(np.isfinite(normed)) and abs(normed.mean()) < abs(scores.mean())


def test_cosine_norm_calibrate_metrics(exp, tmp_path, capsys):
    test, trials = exp["test"], exp["trials"]
    xv = f"scp:{test}/xvector.scp"
    cosine_scoring.main([xv, xv, str(trials), f"{tmp_path}/cos"])
    enroll, probe, scores = read_scores(f"{tmp_path}/cos")
    vec = read_table_dict(xv)
    e, t = vec[enroll[5]], vec[probe[5]]
    assert scores[5] == pytest.approx(e @ t / np.linalg.norm(e) / np.linalg.norm(t), rel=1e-6)
    score_norm.main(["--method=asnorm", "--top-n=5", f"scp:{exp['train']}/spk_xvector.scp", xv, xv,
                     f"{tmp_path}/cos", f"{tmp_path}/as"])
    assert len(read_scores(f"{tmp_path}/as")[2]) == len(scores)
    calibrate.main(["--model-out", f"{tmp_path}/cal.json", str(trials), f"{tmp_path}/cos", f"{tmp_path}/cos",
                    f"{tmp_path}/llr"])
    assert set(json.loads((tmp_path / "cal.json").read_text())) == {"a", "b", "prior"}
    capsys.readouterr()
    compute_metrics.main(["--json", "--llr", "--det-plot", f"{tmp_path}/det.png", "--labels", "cos,asnorm,llr",
                          str(trials), f"{tmp_path}/cos", f"{tmp_path}/as", f"{tmp_path}/llr"])
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 3 and results[0]["eer"] == pytest.approx(results[2]["eer"])
    assert results[2]["cllr"] < 1.0  # calibrated on the same list: better than a useless system
    assert (tmp_path / "det.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ bad input
def test_missing_key_is_named_or_skipped(exp, tmp_path, capsys):
    test = exp["test"]
    xv = f"scp:{test}/xvector.scp"
    first = (exp["trials"]).read_text().splitlines()[0]
    (tmp_path / "trials").write_text(first + "\nnobody tespk000-utt000 nontarget\n")
    with pytest.raises(VibError, match="no enrollment vector for 'nobody'"):
        cosine_scoring.main([xv, xv, str(tmp_path / "trials"), f"{tmp_path}/s"])
    assert not (tmp_path / "s").exists()
    cosine_scoring.main(["--skip-missing=true", xv, xv, str(tmp_path / "trials"), f"{tmp_path}/s"])
    assert "skipped 1 of 2 trials" in capsys.readouterr().err
    assert len((tmp_path / "s").read_text().splitlines()) == 1
    (tmp_path / "raw").write_text("nobody tespk000-utt000 0.5\n")
    with pytest.raises(VibError, match="no vector in .* for key 'nobody'"):
        score_norm.main([xv, xv, xv, str(tmp_path / "raw"), f"{tmp_path}/normed"])
    assert not (tmp_path / "normed").exists()


def test_nan_dimension_and_data_errors(exp, tmp_path):
    write_table(f"ark:{tmp_path}/nan.ark", {"a": np.array([1.0, np.nan], np.float32)})
    with pytest.raises(VibError, match="'a' contains NaN"):
        ivector_mean.main([f"ark:{tmp_path}/nan.ark", f"{tmp_path}/m.vec"])
    write_table(f"ark:{tmp_path}/dims.ark", {"a": np.ones(2, np.float32), "b": np.ones(3, np.float32)})
    with pytest.raises(VibError, match="'b' has dimension 3, expected 2"):
        ivector_mean.main([f"ark:{tmp_path}/dims.ark", f"{tmp_path}/m.vec"])
    assert not (tmp_path / "m.vec").exists()
    compute_plda.main([f"{exp['train']}/spk2utt", f"scp:{exp['train']}/xvector.scp", f"{tmp_path}/plda"])
    (tmp_path / "t").write_text("a b\n")
    write_table(f"ark:{tmp_path}/short.ark", {"a": np.ones(3, np.float32), "b": np.ones(3, np.float32)})
    with pytest.raises(VibError, match="dimension 3, expected 12"):
        plda_scoring.main([f"{tmp_path}/plda", f"ark:{tmp_path}/short.ark", f"ark:{tmp_path}/short.ark",
                           f"{tmp_path}/t", f"{tmp_path}/out"])
    (tmp_path / "one").write_text("s1 a\ns2 b\n")
    with pytest.raises(VibError, match="No speakers with multiple utterances"):
        compute_plda.main([f"{tmp_path}/one", f"ark:{tmp_path}/short.ark", f"{tmp_path}/p2"])
    (tmp_path / "two").write_text("s1 a b\n")
    with pytest.raises(VibError, match="Too little data for iVector dimension"):
        compute_plda.main([f"{tmp_path}/two", f"ark:{tmp_path}/short.ark", f"{tmp_path}/p2"])
    assert not (tmp_path / "p2").exists()
    (tmp_path / "bad_trials").write_text("a b target\na b maybe\n")
    with pytest.raises(VibError, match="bad_trials:2: label 'maybe'"):
        compute_metrics.main([str(tmp_path / "bad_trials"), str(tmp_path / "t")])


def test_command_line_errors_are_one_line(exp, tmp_path):
    proc = run_bash(f"vib-plda-scoring {tmp_path}/absent scp:{exp['test']}/xvector.scp "
                    f"scp:{exp['test']}/xvector.scp {exp['trials']} {tmp_path}/s")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("vib-plda-scoring: ERROR:") and "absent" in proc.stderr
    assert run_bash("vib-compute-metrics --help").returncode == 0
