"""The tiny mini corpus, generated once per test session (twice: --nj=2 and --nj=1)."""
from __future__ import annotations

from pathlib import Path

import pytest

from local.mini_corpus.generate import DEFAULTS, TINY, prepare_mini

TINY_OPTIONS = {**DEFAULTS, **TINY}


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The tiny corpus generated with two parallel jobs."""
    out = tmp_path_factory.mktemp("mini") / "corpus"
    prepare_mini(out, num_jobs=2, **TINY_OPTIONS)
    return out


@pytest.fixture(scope="session")
def tiny_corpus_serial(tmp_path_factory) -> Path:
    """The same corpus generated again, serially, in another dir."""
    out = tmp_path_factory.mktemp("mini_serial") / "corpus"
    prepare_mini(out, num_jobs=1, **TINY_OPTIONS)
    return out
