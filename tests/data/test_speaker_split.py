"""Held-out dev speakers: the trial sampler against enumeration, and the split's errors
(the split itself runs in the VoxCeleb recipe's end-to-end test)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from vib.data.kaldi_dir import write_kaldi_data_dir
from vib.data.speaker_split import sample_trials, split_speakers
from vib.errors import VibError


def _utt2spk(counts):
    return {f"s{s}-{i:03d}": f"s{s}" for s, n in enumerate(counts) for i in range(n)}


def test_all_target_pairs_when_fewer_than_the_cap_and_distinct_nontargets():
    utt2spk = _utt2spk((30, 1, 7, 2, 45))
    every = {(a, b) for a, b in itertools.combinations(sorted(utt2spk), 2) if utt2spk[a] == utt2spk[b]}
    trials = sample_trials(utt2spk, 10 ** 6, 1.2, np.random.default_rng(0))
    targets = {(e, t) for e, t, y in trials if y}
    nontargets = [(e, t) for e, t, y in trials if not y]
    assert targets == every and len(nontargets) == round(1.2 * len(every)) == len(set(nontargets))
    assert all(utt2spk[e] != utt2spk[t] and e < t for e, t in nontargets)
    assert trials == sorted(trials)


def test_the_cap_samples_targets_without_repeats_and_reproducibly():
    utt2spk = _utt2spk((40, 40, 40))
    trials = sample_trials(utt2spk, 500, 2.0, np.random.default_rng(1))
    targets = [(e, t) for e, t, y in trials if y]
    assert len(targets) == len(set(targets)) == 500 and all(utt2spk[e] == utt2spk[t] for e, t in targets)
    assert len({utt2spk[e] for e, _ in targets}) == 3                     # spread over the speakers
    assert sample_trials(utt2spk, 500, 2.0, np.random.default_rng(1)) == trials
    few = sample_trials(_utt2spk((2, 2)), 10, 100.0, np.random.default_rng(0))  # only 4 non-target pairs exist
    assert sum(not y for *_, y in few) == 4


def test_split_refuses_impossible_requests(tmp_path):
    utt2spk = _utt2spk((3, 3, 1))
    write_kaldi_data_dir(tmp_path / "d", {u: f"/x/{u}.wav" for u in utt2spk}, utt2spk)
    for num, message in ((3, "cannot hold out 3 speakers"), (1, "need at least 2 held out")):
        with pytest.raises(VibError, match=message):
            split_speakers(tmp_path / "d", tmp_path / "rest", tmp_path / "held", num)
    assert not (tmp_path / "rest").exists()
