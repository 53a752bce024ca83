"""LDA (ivector-compute-lda), transform-vec and length normalisation against references."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import eigh

from tests.backend.conftest import speaker_data
from vib.backend.lda import LdaConfig, compute_lda
from vib.backend.mean import global_mean, speaker_means, subtract_mean
from vib.backend.transforms import apply_transform, normalize_length
from vib.errors import VibError


def scatter_matrices(x, labels):
    """Within and between covariances per vector, by loops over speakers."""
    x = x.astype(np.float64) - x.astype(np.float64).mean(0)
    within = np.zeros((x.shape[1], x.shape[1]))
    between = np.zeros_like(within)
    for s in np.unique(labels):
        group = x[labels == s]
        m = group.mean(0)
        within += (group - m).T @ (group - m)
        between += len(group) * np.outer(m, m)
    return within / len(x), between / len(x)


def test_lda_solves_the_generalised_eigenproblem():
    x, labels = speaker_data(dim=8, num_spk=25, seed=7, min_utts=2)
    lda = compute_lda(x, labels, LdaConfig(dim=5))
    linear, offset = lda[:, :-1].astype(np.float64), lda[:, -1]
    within, between = scatter_matrices(x, labels)
    np.testing.assert_allclose(linear @ within @ linear.T, np.eye(5), atol=2e-5)
    ref_vals = eigh(between, within, eigvals_only=True)[::-1][:5]
    np.testing.assert_allclose(linear @ between @ linear.T, np.diag(ref_vals), rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(offset, -linear @ x.astype(np.float64).mean(0), rtol=1e-4, atol=1e-5)


def test_lda_total_covariance_factor_one_whitens_total():
    x, labels = speaker_data(dim=6, num_spk=20, seed=8, min_utts=2)
    lda = compute_lda(x, labels, LdaConfig(dim=6, total_covariance_factor=1.0))
    within, between = scatter_matrices(x, labels)
    linear = lda[:, :-1].astype(np.float64)
    np.testing.assert_allclose(linear @ (within + between) @ linear.T, np.eye(6), atol=2e-5)


def test_lda_errors():
    x, labels = speaker_data(dim=4, num_spk=3, seed=9)
    with pytest.raises(VibError, match="between 1 and"):
        compute_lda(x, labels, LdaConfig(dim=5))
    with pytest.raises(VibError, match="no speaker has two or more"):
        compute_lda(x[:3], np.arange(3), LdaConfig(dim=2))
    with pytest.raises(VibError, match="Too little data"):
        compute_lda(np.zeros((3, 4), np.float32), np.array([0, 0, 1]), LdaConfig(dim=2))


def test_transform_and_length_norm_per_vector():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    affine = rng.standard_normal((3, 5)).astype(np.float32)
    out = apply_transform(affine, x)
    for i in range(6):
        np.testing.assert_allclose(out[i], affine[:, :4] @ x[i] + affine[:, 4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(apply_transform(affine[:, :4], x), x @ affine[:, :4].T, rtol=1e-5)
    with pytest.raises(VibError, match="Dimension mismatch"):
        apply_transform(affine[:, :2], x)
    x[2] = 0
    normed = normalize_length(x)
    np.testing.assert_allclose(np.linalg.norm(normed[[0, 1, 3]], axis=1), 2.0, rtol=1e-6)
    assert not normed[2].any()
    np.testing.assert_allclose(np.linalg.norm(normalize_length(x, scaleup=False)[0]), 1.0, rtol=1e-6)


def test_means():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(global_mean(x), x.mean(0))
    np.testing.assert_allclose(subtract_mean(x, global_mean(x)).mean(0), 0, atol=1e-6)
    spk, means, counts, missing = speaker_means({"a": ["u0", "u2"], "b": ["u9"], "c": ["u3", "u1"]},
                                                {"u0": 0, "u1": 1, "u2": 2, "u3": 3}, x)
    assert spk == ["a", "c"] and counts.tolist() == [2, 2] and missing == ["u9"]
    np.testing.assert_allclose(means, [(x[0] + x[2]) / 2, (x[3] + x[1]) / 2])


def test_sum_by_group_with_empty_groups():
    from vib.backend.mean import sum_by_group

    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    got = sum_by_group(x, np.array([3, 0, 3, 1, 0]), 5)
    np.testing.assert_array_equal(got, [x[1] + x[4], x[3], [0, 0], x[0] + x[2], [0, 0]])
    assert sum_by_group(x[:0], np.array([], dtype=np.int64), 2).shape == (2, 2)
