"""Vectorised trial scoring, cosine, score normalisation and calibration against loops."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from vib.backend.calibration import Calibration, calibration_objective
from vib.backend.cosine import unit_rows
from vib.backend.plda import llr_enroll_side, llr_test_side, transform_vectors
from vib.backend.score_norm import cohort_stats, cohort_stats_of_probes, normalize
from vib.backend.scoring import score_trials
from vib.errors import VibError
from vib.io.kaldi_objects import Plda
from vib.metrics import min_dcf


@pytest.mark.parametrize("num_enroll,num_test,num_trials,test_range", [
    (300, 40, 5000, 40),      # dense, all test rows used: product with all of right
    (300, 400, 20000, 150),   # dense on a subset of test rows
    (600, 5000, 900, 5000),   # sparse: row-wise dots
    (3, 4, 12, 4)])
def test_score_trials_dense_and_sparse_paths(num_enroll, num_test, num_trials, test_range):
    rng = np.random.default_rng(num_trials)
    left = rng.standard_normal((num_enroll, 7))
    right = rng.standard_normal((num_test, 7))
    offset = rng.standard_normal(num_enroll)
    li = rng.integers(0, num_enroll, num_trials)
    ri = rng.integers(0, test_range, num_trials)
    got = score_trials(left, right, li, ri, offset)
    ref = np.array([left[a] @ right[b] + offset[a] for a, b in zip(li, ri)])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_cosine_rows():
    rng = np.random.default_rng(1)
    e, t = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    got = score_trials(unit_rows(e), unit_rows(t), np.array([0, 4, 2]), np.array([3, 0, 1]))
    ref = [e[a] @ t[b] / np.linalg.norm(e[a]) / np.linalg.norm(t[b]) for a, b in [(0, 3), (4, 0), (2, 1)]]
    np.testing.assert_allclose(got, ref)
    with pytest.raises(VibError, match="'z' is all zeros"):
        unit_rows(np.zeros((1, 3)), ["z"])


def reference_norm(raw, e, t, cohort, method, top_n):
    """Per-trial loop: cosine against every cohort vector, sort, keep the top, normalise."""
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    out = []
    for s, ev, tv in zip(raw, e, t):
        ce = sorted((cos(ev, c) for c in cohort), reverse=True)
        ct = sorted((cos(tv, c) for c in cohort), reverse=True)
        if method == "asnorm":
            ce, ct = ce[:top_n], ct[:top_n]
        z = (s - np.mean(ce)) / np.std(ce)
        tn = (s - np.mean(ct)) / np.std(ct)
        out.append({"znorm": z, "tnorm": tn, "snorm": (z + tn) / 2, "asnorm": (z + tn) / 2}[method])
    return np.array(out)


@pytest.mark.parametrize("method", ["znorm", "tnorm", "snorm", "asnorm"])
def test_score_norm_matches_loop(method):
    rng = np.random.default_rng(2)
    enroll, test, cohort = (rng.standard_normal((n, 5)) for n in (6, 7, 40))
    ei, ti = rng.integers(0, 6, 20), rng.integers(0, 7, 20)
    raw = score_trials(unit_rows(enroll), unit_rows(test), ei, ti)
    top_n = 10 if method == "asnorm" else None
    e_stats = [a[ei] for a in cohort_stats(unit_rows(enroll), unit_rows(cohort), None, top_n)]
    t_stats = [a[ti] for a in cohort_stats(unit_rows(test), unit_rows(cohort), None, top_n)]
    got = normalize(raw, method, e_stats, t_stats)
    np.testing.assert_allclose(got, reference_norm(raw, enroll[ei], test[ti], cohort, method, 10), rtol=1e-10)


def test_calibration_matches_generic_optimiser():
    rng = np.random.default_rng(3)
    labels = rng.random(2000) < 0.3
    scores = np.where(labels, rng.normal(3, 1.5, 2000), rng.normal(-1, 1, 2000))
    for prior in (0.5, 0.05):
        cal = Calibration.train(scores, labels, prior)
        a, b = cal.a, cal.b
        ref = minimize(lambda p: calibration_objective(p, scores, labels, prior), [1.0, 0.0],
                       method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000}).x
        np.testing.assert_allclose([a, b], ref, rtol=1e-4, atol=1e-5)
    llr = cal(scores)
    assert min_dcf(llr[labels], llr[~labels], 0.01) == pytest.approx(min_dcf(scores[labels], scores[~labels], 0.01))
    with pytest.raises(VibError, match="target and non-target"):
        Calibration.train(scores[labels], labels[labels], 0.5)


def test_plda_cohort_stats_match_loop():
    """PLDA s-norm statistics: enrollment vs cohort-as-test, and cohort-enrolled vs test probe."""
    rng = np.random.default_rng(4)
    dim = 4
    plda = Plda(rng.standard_normal(dim), rng.standard_normal((dim, dim)), np.array([3.0, 1.0, 0.5, 0.1]))
    enroll, test, cohort = (transform_vectors(plda, rng.standard_normal((n, dim))) for n in (3, 5, 12))
    counts = np.array([1, 4, 2])

    def llr(e, n, t):
        left, off = llr_enroll_side(plda, e[None], n)
        return float(left[0] @ llr_test_side(t[None])[0] + off[0])

    e_left, e_off = llr_enroll_side(plda, enroll, counts)
    mean, std = cohort_stats(e_left, llr_test_side(cohort), e_off, top_n=5)
    for i in range(3):
        top = sorted((llr(enroll[i], counts[i], c) for c in cohort), reverse=True)[:5]
        assert mean[i] == pytest.approx(np.mean(top)) and std[i] == pytest.approx(np.std(top))
    c_left, c_off = llr_enroll_side(plda, cohort, 1)
    mean, std = cohort_stats_of_probes(c_left, c_off, llr_test_side(test))
    for j in range(5):
        all_scores = [llr(c, 1, test[j]) for c in cohort]
        assert mean[j] == pytest.approx(np.mean(all_scores)) and std[j] == pytest.approx(np.std(all_scores))
