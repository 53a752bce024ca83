"""PLDA estimation and scoring against slow, obviously correct references."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from tests.backend.conftest import speaker_data
from vib.backend.plda import (PldaConfig, PldaEstimationConfig, em_iteration, estimate_plda, llr_enroll_side, llr_terms,
                              llr_test_side, plda_from_covariances, plda_trial_scores, plda_stats, smooth_within_class,
                              transform_vectors)
from vib.backend.scoring import score_trials
from vib.errors import VibError
from vib.io.kaldi_objects import Plda


def reference_em(vectors, labels, within, between):
    """The E-M step written out per speaker, straight from the model (no grouping, no tricks)."""
    x = vectors.astype(np.float64)
    speakers = np.unique(labels)
    means = np.array([x[labels == s].mean(axis=0) for s in speakers])
    global_mean = means.mean(axis=0)
    w_stats = np.zeros_like(within)
    w_count = 0.0
    b_stats = np.zeros_like(between)
    for s, m in zip(speakers, means):
        group = x[labels == s]
        n = len(group)
        for v in group:
            w_stats += np.outer(v - m, v - m)
        w_count += n - 1
        mc = m - global_mean
        big_m = np.linalg.inv(np.linalg.inv(between) + n * np.linalg.inv(within))
        w = big_m @ (n * np.linalg.inv(within) @ mc)
        b_stats += big_m + np.outer(w, w)
        w_stats += n * (big_m + np.outer(mc - w, mc - w))
        w_count += 1
    return w_stats / w_count, b_stats / len(speakers)


def test_em_matches_per_speaker_loop():
    vectors, labels = speaker_data(dim=5, num_spk=15, seed=1)
    stats = plda_stats(vectors, labels)
    w_ref, b_ref = np.eye(5), np.eye(5)
    w, b = np.eye(5), np.eye(5)
    for _ in range(3):
        w_ref, b_ref = reference_em(vectors, labels, w_ref, b_ref)
        w, b = em_iteration(stats, w, b)
        np.testing.assert_allclose(w, w_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-12)


def test_stats_scatter_and_means():
    vectors, labels = speaker_data(dim=4, num_spk=8, seed=2)
    stats = plda_stats(vectors, labels)
    x = vectors.astype(np.float64)
    scatter = sum(np.outer(v - x[labels == s].mean(0), v - x[labels == s].mean(0)) for v, s in zip(x, labels))
    np.testing.assert_allclose(stats.scatter, scatter, rtol=1e-10)
    assert list(stats.counts) == sorted(np.bincount(labels))


def test_output_invariants():
    vectors, labels = speaker_data(dim=6, num_spk=30, seed=3)
    stats = plda_stats(vectors, labels)
    w, b = np.eye(6), np.eye(6)
    for _ in range(10):
        w, b = em_iteration(stats, w, b)
    plda = plda_from_covariances(stats.means.mean(0), w, b)
    t = plda.transform
    np.testing.assert_allclose(t @ w @ t.T, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(t @ b @ t.T, np.diag(plda.psi), atol=1e-10)
    assert np.all(np.diff(plda.psi) <= 0) and np.all(plda.psi >= 0)
    # estimate_plda runs the same iterations; mean = average of speaker means
    full = estimate_plda(stats, PldaEstimationConfig(10))
    np.testing.assert_allclose(full.psi, plda.psi, rtol=1e-12)
    speaker_means = np.array([vectors[labels == s].astype(np.float64).mean(0) for s in np.unique(labels)])
    np.testing.assert_allclose(full.mean, speaker_means.mean(0), rtol=1e-12)


def covariances(plda: Plda) -> tuple[np.ndarray, np.ndarray]:
    inv = np.linalg.inv(plda.transform)
    return inv @ inv.T, inv @ np.diag(plda.psi) @ inv.T


def dense_llr(plda: Plda, enroll_mean: np.ndarray, n: int, test: np.ndarray) -> float:
    """log p(test | same speaker as the n vectors averaging to enroll_mean) - log p(test), by
    dense joint Gaussians in the original space."""
    w, b = covariances(plda)
    mu = plda.mean
    joint_same = np.block([[b + w / n, b], [b, b + w]])
    joint = multivariate_normal(np.concatenate([mu, mu]), joint_same).logpdf(np.concatenate([enroll_mean, test]))
    return joint - multivariate_normal(mu, b + w / n).logpdf(enroll_mean) - multivariate_normal(mu, b + w).logpdf(test)


@pytest.fixture(scope="module")
def trained():
    vectors, labels = speaker_data(dim=6, num_spk=40, seed=4)
    return estimate_plda(plda_stats(vectors, labels), PldaEstimationConfig(10))


def test_llr_without_length_norm_matches_dense_gaussians(trained):
    rng = np.random.default_rng(5)
    enroll = rng.standard_normal((4, 6)) * 2
    test = rng.standard_normal((5, 6)) * 2
    counts = np.array([1, 3, 1, 7])
    left, off = llr_enroll_side(trained, transform_vectors(trained, enroll, counts, PldaConfig(normalize_length=False)),
                                counts)
    right = llr_test_side(transform_vectors(trained, test, 1, PldaConfig(normalize_length=False)))
    ei, ti = np.meshgrid(np.arange(4), np.arange(5), indexing="ij")
    scores = score_trials(left, right, ei.ravel(), ti.ravel(), off)
    ref = [dense_llr(trained, enroll[e], counts[e], test[t]) for e, t in zip(ei.ravel(), ti.ravel())]
    np.testing.assert_allclose(scores, ref, rtol=2e-5, atol=2e-4)


def kaldi_transform(plda: Plda, x: np.ndarray, n: int, simple: bool) -> np.ndarray:
    """Plda::TransformIvector for one vector, as written in plda.cc."""
    u = plda.transform @ (x - plda.mean)
    if simple:
        return u * np.sqrt(len(u)) / np.linalg.norm(u)
    return u * np.sqrt(len(u) / np.sum(u ** 2 / (plda.psi + 1.0 / n)))


def kaldi_llr(plda: Plda, u_e: np.ndarray, n: int, u_t: np.ndarray) -> float:
    """Plda::LogLikelihoodRatio for one trial, element by element."""
    total = 0.0
    for i, psi in enumerate(plda.psi):
        mean = n * psi / (n * psi + 1) * u_e[i]
        var = 1 + psi / (n * psi + 1)
        total += -0.5 * (np.log(var) + np.log(2 * np.pi) + (u_t[i] - mean) ** 2 / var)
        total -= -0.5 * (np.log(1 + psi) + np.log(2 * np.pi) + u_t[i] ** 2 / (1 + psi))
    return total


@pytest.mark.parametrize("simple", [False, True])
def test_llr_with_length_norm_matches_per_trial_loop(trained, simple):
    rng = np.random.default_rng(6)
    enroll = rng.standard_normal((5, 6)) * 3
    test = rng.standard_normal((7, 6)) * 3
    counts = np.array([1, 2, 5, 1, 3])
    u_e = transform_vectors(trained, enroll, counts, PldaConfig(True, simple))
    u_t = transform_vectors(trained, test, 1, PldaConfig(True, simple))
    for e in range(5):
        np.testing.assert_allclose(u_e[e], kaldi_transform(trained, enroll[e], counts[e], simple), rtol=1e-5)
    ei = rng.integers(0, 5, 30)
    ti = rng.integers(0, 7, 30)
    scores = plda_trial_scores(llr_terms(trained, u_e, counts), u_t, ei, ti)
    left, off = llr_enroll_side(trained, u_e, counts)  # the single-dot-product form gives the same
    np.testing.assert_allclose(score_trials(left, llr_test_side(u_t), ei, ti, off), scores, rtol=1e-12, atol=1e-12)
    ref = [kaldi_llr(trained, u_e[e].astype(float), counts[e], u_t[t].astype(float)) for e, t in zip(ei, ti)]
    np.testing.assert_allclose(scores, ref, rtol=1e-9, atol=1e-9)


def test_smoothing_adds_between_to_within(trained):
    w, b = covariances(trained)
    smoothed = smooth_within_class(trained, 0.1)
    w2, b2 = covariances(smoothed)
    np.testing.assert_allclose(w2, w + 0.1 * b, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b2, b, rtol=1e-8, atol=1e-10)


def test_errors_like_kaldi():
    vectors = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    with pytest.raises(VibError, match="No speakers with multiple utterances"):
        plda_stats(vectors, np.arange(5))
    with pytest.raises(VibError, match="Too little data"):
        plda_stats(vectors[:3], np.array([0, 0, 1]))
