"""Random speaker data drawn from a known two-covariance model, shared by the back-end tests."""
from __future__ import annotations

import numpy as np
import pytest


def random_spd(rng: np.random.Generator, dim: int, scale: float = 1.0) -> np.ndarray:
    a = rng.standard_normal((dim, dim))
    return scale * (a @ a.T / dim + 0.5 * np.eye(dim))


def speaker_data(dim: int = 6, num_spk: int = 20, seed: int = 0, min_utts: int = 1, max_utts: int = 6
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Vectors [N, dim] (float32) and speaker labels [N] from x = mu + y_s + e."""
    rng = np.random.default_rng(seed)
    between, within = random_spd(rng, dim, 2.0), random_spd(rng, dim, 0.5)
    mu = rng.standard_normal(dim)
    counts = rng.integers(min_utts, max_utts + 1, size=num_spk)
    counts[0] = max(counts[0], 2)
    labels = np.repeat(np.arange(num_spk), counts)
    y = rng.multivariate_normal(np.zeros(dim), between, size=num_spk)
    e = rng.multivariate_normal(np.zeros(dim), within, size=labels.size)
    return (mu + y[labels] + e).astype(np.float32), labels


@pytest.fixture
def spk_data():
    return speaker_data()
