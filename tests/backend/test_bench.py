"""bench/backend.py runs end to end at a tiny size (its loop baselines also check the scores)."""
from __future__ import annotations

import pytest

from tests.conftest import run_bash


@pytest.mark.slow
def test_bench_backend_smoke():
    proc = run_bash("python bench/backend.py --trials 3000 --scores 20000 --threads 1 --enroll 40 --test 50 "
                    "--dim 16 --loop-trials 300 --loop-scores 2000 --plda-train --train-vectors 600 "
                    "--train-speakers 60", check=True)
    for what in ("PLDA scoring, 3,000 trials", "cosine scoring, 3,000 trials", "metrics, 20,000 scores",
                 "PLDA training, 600 x 16"):
        assert what in proc.stdout
    assert proc.stdout.count("speed-up x") == 3
