"""Global and per-speaker means (Kaldi's ivector-mean, ivector-subtract-global-mean)."""
from __future__ import annotations

import numpy as np


def sum_by_group(vectors: np.ndarray, group: np.ndarray, num_groups: int) -> np.ndarray:
    """Row sums per group: vectors [N, D], group [N] in 0..G-1 -> float64 [G, D] (empty groups 0)."""
    sums = np.zeros((num_groups, vectors.shape[1]))
    if group.shape[0] == 0:
        return sums
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sums[sorted_group[starts]] = np.add.reduceat(vectors[order].astype(np.float64), starts, axis=0)
    return sums


def global_mean(vectors: np.ndarray) -> np.ndarray:
    """Mean of vectors [N, D], accumulated in float64 as Kaldi does; returns float64 [D]."""
    return vectors.astype(np.float64).mean(axis=0)


def subtract_mean(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """x - mean in float32, as Kaldi subtracts a float mean from float vectors. [N, D]."""
    return vectors.astype(np.float32) - mean.astype(np.float32)


def group_rows(spk2utt: dict[str, list[str]], row_of: dict[str, int]
               ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """The vectors of each speaker, as Kaldi groups them (spk2utt order; utterances without a
    vector skipped; a speaker with none left out): (speakers [S], rows int [N] into the
    vectors, owner int [N] in 0..S-1, missing utterances)."""
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
    return speakers, np.asarray(rows, dtype=np.int64), np.asarray(owner, dtype=np.int64), missing


def speaker_means(spk2utt: dict[str, list[str]], row_of: dict[str, int], vectors: np.ndarray
                  ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Per-speaker averages of the utterance vectors that exist (grouped by :func:`group_rows`).

    Returns (speakers, means float32 [S, D], counts int [S], missing utterances).
    """
    speakers, rows, owner, missing = group_rows(spk2utt, row_of)
    counts = np.bincount(owner, minlength=len(speakers))
    sums = sum_by_group(vectors[rows], owner, len(speakers))
    means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return speakers, means, counts, missing
