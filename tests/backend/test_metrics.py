"""EER, minDCF, actDCF, Cllr and DET plots on hand-computed cases and against Kaldi's loop."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tests.backend.references import kaldi_min_dcf_loop
from vib.errors import VibError
from vib.metrics import act_dcf, cllr, compute_metrics, det_points, eer, min_dcf, plot_det


def test_hand_computed_case():
    tar, non = [0.2, 0.6, 0.8], [0.1, 0.4, 0.7]
    p_miss, p_fa, thr = det_points(tar, non)
    np.testing.assert_allclose(p_miss, [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(p_fa, [1, 2 / 3, 2 / 3, 1 / 3, 1 / 3, 0, 0])
    assert eer(tar, non) == pytest.approx(1 / 3)
    assert min_dcf(tar, non, 0.5) == pytest.approx(2 / 3)
    assert min_dcf(tar, non, 0.01) == pytest.approx(2 / 3)


def test_separable_interpolated_and_tied():
    assert eer([3, 4, 5], [0, 1, 2]) == 0 and min_dcf([3, 4, 5], [0, 1, 2], 0.01) == 0
    # miss 0.5 -> 0.5 while fa falls 1 -> 0: the curves cross at 0.5
    assert eer([1, 2, 3, 4], [2.5]) == pytest.approx(0.5)
    # all scores tied: one step from (0, 1) to (1, 0), crossing at 0.5
    assert eer([1, 1], [1, 1]) == pytest.approx(0.5)
    assert min_dcf([1, 1], [1, 1], 0.5) == pytest.approx(1.0)
    # points (2/3, 3/4) -> (1, 3/4): diff -1/12 -> 1/4, crossing a quarter of the way: miss 3/4
    assert eer([1, 3, 3.5], [2, 4, 4.5, 5]) == pytest.approx(0.75)


def test_min_dcf_matches_kaldi_loop_and_eer_is_between_error_rates():
    rng = np.random.default_rng(0)
    tar, non = rng.normal(2, 1, 300), rng.normal(0, 1, 3000)
    scores = list(tar) + list(non)
    labels = [1] * 300 + [0] * 3000
    for p in (0.01, 0.05, 0.5):
        assert min_dcf(tar, non, p) == pytest.approx(kaldi_min_dcf_loop(scores, labels, p), rel=1e-12)
    e = eer(tar, non)
    rates = [(np.mean(tar <= t), np.mean(non > t)) for t in np.sort(np.concatenate([tar, non]))]
    lo = max(min(m, f) for m, f in rates)
    hi = min(max(m, f) for m, f in rates)
    assert lo - 1e-12 <= e <= hi + 1e-12


def test_act_dcf_and_cllr():
    tar, non = np.array([3.0, -1.0]), np.array([-3.0, 1.0])
    assert act_dcf(tar, non, 0.5) == pytest.approx(1.0)
    ref = (sum(math.log2(1 + math.exp(-s)) for s in tar) / 2 + sum(math.log2(1 + math.exp(s)) for s in non) / 2) / 2
    assert cllr(tar, non) == pytest.approx(ref)
    assert cllr(np.zeros(3), np.zeros(4)) == pytest.approx(1.0)
    # p = 0.01: threshold log(99) ~ 4.6 rejects everything: miss 1 -> cost p / p = 1
    assert act_dcf(tar, non, 0.01) == pytest.approx(1.0)
    res = compute_metrics(tar, non, (0.01,), llr=True)
    assert set(res) == {"eer", "num_target", "num_nontarget", "min_dcf_0.01", "act_dcf_0.01", "cllr"}


def test_errors_and_det_plot(tmp_path):
    with pytest.raises(VibError, match="target and non-target"):
        eer([], [1.0])
    with pytest.raises(VibError, match="NaN"):
        eer([np.nan], [1.0])
    rng = np.random.default_rng(1)
    path = tmp_path / "det.png"
    plot_det([("a", rng.normal(2, 1, 500), rng.normal(0, 1, 500)),
              ("b", rng.normal(1, 1, 500), rng.normal(0, 1, 500))], str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000


def test_trial_and_score_files(tmp_path):
    from vib.backend.trials import align_scores, read_scores, read_trials, write_scores

    (tmp_path / "vox").write_text("1 a b\n\n0 a c\n")
    vox = read_trials(str(tmp_path / "vox"))
    assert vox.enroll == ["a", "a"] and vox.test == ["b", "c"] and vox.labels.tolist() == [True, False]
    (tmp_path / "kaldi").write_text("a b target\na c nontarget\n")
    assert read_trials(str(tmp_path / "kaldi")).labels.tolist() == [True, False]
    (tmp_path / "broken").write_text("a b target\na c\n")
    with pytest.raises(VibError, match="broken:2: expected 3 fields"):
        read_trials(str(tmp_path / "broken"))
    write_scores(str(tmp_path / "s"), ["a", "a"], ["c", "b"], np.array([0.5, 1.0 / 3]))
    assert (tmp_path / "s").read_text() == "a c 0.5\na b 0.3333333\n"
    scores = align_scores(vox, *read_scores(str(tmp_path / "s")), "s")
    assert scores.tolist() == [0.3333333, 0.5]
    (tmp_path / "bad").write_text("a b 1\na c x\n")
    with pytest.raises(VibError, match="score 'x' of trial a c"):
        read_scores(str(tmp_path / "bad"))
    (tmp_path / "short").write_text("a b 1\na c\n")
    with pytest.raises(VibError, match="short:2: expected 'enroll test score'"):
        read_scores(str(tmp_path / "short"))
    with pytest.raises(VibError, match="no score for trial 'a b'"):
        align_scores(vox, ["a"], ["c"], np.array([1.0]), "s")


def test_odd_whitespace_and_empty_files(tmp_path):
    from vib.backend.trials import read_scores, read_trials

    (tmp_path / "s").write_text("a\u00e9x b 1\r\n\n  c   d\t2")  # multi-byte key, CRLF, blank line, tab
    enroll, test, scores = read_scores(str(tmp_path / "s"))
    assert enroll == ["a\u00e9x", "c"] and test == ["b", "d"] and scores.tolist() == [1.0, 2.0]
    (tmp_path / "empty").write_text("\n")
    assert read_scores(str(tmp_path / "empty"))[2].size == 0
    with pytest.raises(VibError, match="no trials"):
        read_trials(str(tmp_path / "empty"))
