"""Holding speakers out of a data dir: a dev set for calibration and config choices, disjoint
in speakers from the data the extractor is trained on (Kaldi's ``utils/subset_data_dir.sh
--spk-list``, for our data dirs with Lhotse manifests), and a trial list over its utterances.

Trials are sampled, never enumerated (a held-out set of VoxCeleb2 has millions of pairs):
up to ``max_targets`` same-speaker pairs spread over the speakers, and ``nontarget_ratio``
times as many pairs of utterances of two different speakers, both without repeats.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from lhotse import CutSet, RecordingSet, SupervisionSet

from vib.backend.trials import write_trials
from vib.data.kaldi_dir import read_kaldi_data_dir, write_kaldi_data_dir
from vib.data.manifests import Manifests, load_cuts, manifest_path, write_manifests
from vib.errors import VibError


def sample_trials(utt2spk: dict[str, str], max_targets: int, nontarget_ratio: float,
                  rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    """(enroll, test, target) triples sorted by (enroll, test): at most ``max_targets`` distinct
    same-speaker pairs (all of them when there are fewer) and ``round(nontarget_ratio * targets)``
    distinct pairs of different speakers (fewer if there are not that many)."""
    utts = np.array(sorted(utt2spk))
    speakers = np.array([utt2spk[u] for u in utts])
    _, spk, counts = np.unique(speakers, return_inverse=True, return_counts=True)
    order = np.argsort(spk, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pairs_per_spk = counts * (counts - 1) // 2
    pairs_end = np.cumsum(pairs_per_spk)
    total_targets = int(pairs_end[-1])
    take = min(max_targets, total_targets)
    # target pair k of the whole list: speaker s = its block, then the (i, j) pair within it
    picks = np.sort(rng.choice(total_targets, size=take, replace=False)) if take else np.zeros(0, np.int64)
    block = np.searchsorted(pairs_end, picks, side="right")
    within = picks - (pairs_end - pairs_per_spk)[block]
    n = counts[block]
    # within-speaker pair index -> (i, j), i < j, row by row of the upper triangle
    i = (n - 2 - np.floor(np.sqrt(-8 * within + 4 * n * (n - 1) - 7) / 2 - 0.5)).astype(np.int64)
    j = (within + i + 1 - n * (n - 1) // 2 + (n - i) * (n - i - 1) // 2).astype(np.int64)
    tar = [(utts[order[starts[b] + a]], utts[order[starts[b] + c]]) for b, a, c in zip(block, i, j)]
    num_non = int(round(nontarget_ratio * len(tar)))
    possible = (len(utts) ** 2 - int((counts ** 2).sum())) // 2
    num_non = min(num_non, possible)
    non: set[tuple[int, int]] = set()
    while len(non) < num_non:
        a = rng.integers(0, len(utts), 2 * (num_non - len(non)) + 16)
        b = rng.integers(0, len(utts), a.size)
        for x, y in zip(a.tolist(), b.tolist()):
            if spk[x] != spk[y] and len(non) < num_non:
                non.add((min(x, y), max(x, y)))
    trials = [(e, t, True) for e, t in tar] + [(utts[x], utts[y], False) for x, y in non]
    return sorted((str(e), str(t), y) for e, t, y in trials)


def split_speakers(data_dir: str | os.PathLike, rest_dir: str | os.PathLike, heldout_dir: str | os.PathLike,
                   num_speakers: int, seed: int = 0, max_targets: int = 20000,
                   nontarget_ratio: float = 10.0) -> tuple[int, int]:
    """Writes ``heldout_dir`` (``num_speakers`` speakers drawn with ``seed``, each with at least
    two utterances, and ``trials`` over them: Kaldi form) and ``rest_dir`` (every other speaker):
    wav.scp, utt2spk, spk2utt and the Lhotse manifests of ``data_dir``, filtered. Returns the
    utterance counts (rest, held out)."""
    data = read_kaldi_data_dir(data_dir)
    if data.segments:
        raise VibError(f"{data_dir}: data dirs with segments are not supported here")
    spk2utt = data.spk2utt
    eligible = sorted(s for s, utts in spk2utt.items() if len(utts) >= 2)
    if num_speakers < 2 or num_speakers > len(eligible) or len(spk2utt) - num_speakers < 2:
        raise VibError(f"{data_dir}: cannot hold out {num_speakers} speakers: it has {len(spk2utt)} speakers, "
                       f"{len(eligible)} with two or more utterances (need at least 2 held out and 2 left)")
    rng = np.random.default_rng(seed)
    held = {eligible[k] for k in rng.choice(len(eligible), size=num_speakers, replace=False)}
    if not (Path(data_dir) / "cuts.jsonl.gz").is_file():
        raise VibError(f"{data_dir}: no cuts.jsonl.gz (make the manifests with vib-kaldi-to-lhotse first)")
    cuts = load_cuts(manifest_path(data_dir, "cuts"))
    recordings = RecordingSet.from_file(manifest_path(data_dir, "recordings"))
    supervisions = SupervisionSet.from_file(manifest_path(data_dir, "supervisions"))
    counts = []
    for out, keep in ((rest_dir, lambda s: s not in held), (heldout_dir, lambda s: s in held)):
        utt2spk = {u: s for u, s in data.utt2spk.items() if keep(s)}
        write_kaldi_data_dir(out, {u: data.wav_scp[u] for u in utt2spk}, utt2spk)
        sups = SupervisionSet.from_segments(s for s in supervisions if s.id in utt2spk)
        ids = {s.recording_id for s in sups}
        write_manifests(out, Manifests(RecordingSet.from_recordings(r for r in recordings if r.id in ids), sups,
                                       CutSet.from_cuts(c for c in cuts if c.supervisions[0].id in utt2spk), []))
        counts.append(len(utt2spk))
    held_utts = {u: s for u, s in data.utt2spk.items() if s in held}
    trials = sample_trials(held_utts, max_targets, nontarget_ratio, np.random.default_rng([seed, 1]))
    write_trials(str(Path(heldout_dir) / "trials"), [e for e, _, _ in trials], [t for _, t, _ in trials],
                 [y for _, _, y in trials])
    return counts[0], counts[1]


__all__ = ["sample_trials", "split_speakers"]
