"""Global and per-speaker means (Kaldi's ivector-mean, ivector-subtract-global-mean)."""
from __future__ import annotations

import numpy as np


def global_mean(vectors: np.ndarray) -> np.ndarray:
    """Mean of vectors [N, D], accumulated in float64 as Kaldi does; returns float64 [D]."""
    return vectors.astype(np.float64).mean(axis=0)


def subtract_mean(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """x - mean in float32, as Kaldi subtracts a float mean from float vectors. [N, D]."""
    return vectors.astype(np.float32) - mean.astype(np.float32)


def speaker_means(spk2utt: dict[str, list[str]], row_of: dict[str, int], vectors: np.ndarray
                  ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Per-speaker averages of the utterance vectors that exist.

    Returns (speakers, means float32 [S, D], counts int [S], missing utterances); a
    speaker none of whose utterances has a vector is left out, as in Kaldi.
    """
    speakers: list[str] = []
    owner: list[int] = []
    rows: list[int] = []
    missing: list[str] = []
    for spk, utts in spk2utt.items():
        found = [row_of[u] for u in utts if u in row_of]
        missing.extend(u for u in utts if u not in row_of)
        if found:
            owner.extend([len(speakers)] * len(found))
            rows.extend(found)
            speakers.append(spk)
    counts = np.bincount(np.asarray(owner, dtype=np.int64), minlength=len(speakers))
    sums = np.zeros((len(speakers), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, np.asarray(owner, dtype=np.int64), vectors[np.asarray(rows, dtype=np.int64)])
    means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return speakers, means, counts, missing
