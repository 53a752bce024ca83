"""Utterance texts: digit strings and word sequences from the shipped ``words.txt``.

Digit strings are read in every voice's own language; Latin-script words are
pronounced by each voice's letter-to-sound rules. Every speaker gets both kinds.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

WORDS_FILE = Path(__file__).with_name("words.txt")
TEXT_KINDS = ("digits", "words")


@lru_cache(maxsize=1)
def word_list() -> tuple[str, ...]:
    """The shipped word list (comments and blank lines skipped)."""
    words = [line.strip() for line in WORDS_FILE.read_text().splitlines()]
    return tuple(w for w in words if w and not w.startswith("#"))


def random_text(kind: str, rng: np.random.Generator, extra: int = 0) -> str:
    """A random text of ``kind``: 8-16 spaced digits or 6-13 words; ``extra`` adds items
    (used to lengthen an utterance that came out too short)."""
    if kind == "digits":
        return " ".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(8, 17)) + extra))
    if kind == "words":
        words = word_list()
        return " ".join(words[i] for i in rng.integers(0, len(words), size=int(rng.integers(6, 14)) + extra))
    raise ValueError(f"unknown text kind '{kind}' (expected one of {', '.join(TEXT_KINDS)})")
