"""Trial lists: the sampler against a brute-force reference, and the generated lists' consistency."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from local.mini_corpus.splits import make_trials, split_donors
from local.mini_corpus.voices import Voice
from tests.corpus.conftest import TINY_OPTIONS
from vib.data.kaldi_dir import read_kaldi_data_dir


def toy_utt2spk() -> tuple[dict[str, str], dict[str, str]]:
    spk2lang = {"a": "de", "b": "de", "c": "fr", "d": "fr", "e": "it"}
    utt2spk = {f"{spk}-{i}": spk for spk, n in zip(spk2lang, (3, 4, 2, 5, 3)) for i in range(n)}
    return utt2spk, spk2lang


def test_make_trials_matches_brute_force_pairs():
    utt2spk, spk2lang = toy_utt2spk()
    utts = sorted(utt2spk)
    all_pairs = {(a, b): utt2spk[a] == utt2spk[b] for a, b in combinations(utts, 2)}
    targets = {p for p, same in all_pairs.items() if same}
    for same_lang in (False, True):
        allowed = {p for p, same in all_pairs.items() if not same
                   and (not same_lang or spk2lang[utt2spk[p[0]]] == spk2lang[utt2spk[p[1]]])}
        trials = make_trials(utt2spk, spk2lang, 2.0, np.random.default_rng(0), same_lang_only=same_lang)
        pairs = [(e, t) for e, t, _ in trials]
        assert len(set(pairs)) == len(pairs) and pairs == sorted(pairs)
        assert all(label == all_pairs[(e, t)] for e, t, label in trials)
        assert {p for p, (_, _, y) in zip(pairs, trials) if y} == targets
        nontargets = {p for p, (_, _, y) in zip(pairs, trials) if not y}
        assert nontargets <= allowed
        assert len(nontargets) == min(len(allowed), 2 * len(targets))
    again = make_trials(utt2spk, spk2lang, 2.0, np.random.default_rng(0))
    assert again == make_trials(utt2spk, spk2lang, 2.0, np.random.default_rng(0))
    assert again != make_trials(utt2spk, spk2lang, 2.0, np.random.default_rng(1))


def test_split_donors_is_disjoint_and_puts_same_language_pairs_in_test_and_dev():
    voices = [Voice(f"d-{lang}{i}", "flite", "x", lang, "flite")
              for lang, n in (("de", 8), ("fr", 7), ("es", 7), ("it", 4), ("ja", 1), ("ko", 1), ("hu", 1))
              for i in range(n)]
    for seed in range(5):
        train, test, dev = split_donors(voices, 15, 10, np.random.default_rng(seed), num_dev=4)
        assert (len(train), len(test), len(dev)) == (15, 10, 4)
        names = [{v.donor for v in split} for split in (train, test, dev)]
        assert not names[0] & names[1] and not names[0] & names[2] and not names[1] & names[2]
        for split in (test, dev):
            langs = [v.lang for v in split]
            assert sum(langs.count(lang) >= 2 for lang in set(langs)) >= 1
        langs = [v.lang for v in test]
        assert sum(langs.count(lang) >= 2 for lang in set(langs)) >= 2
        assert split_donors(voices, 15, 10, np.random.default_rng(seed), num_dev=4) == (train, test, dev)
    assert split_donors(voices, 15, 10, np.random.default_rng(0))[2] == []


@pytest.mark.parametrize("split", ["test", "dev"])
def test_generated_trials_are_consistent(tiny_corpus, split):
    test_dir = tiny_corpus / "data" / split
    data = read_kaldi_data_dir(test_dir, extra=("utt2lang",))
    counts = [len(u) for u in data.spk2utt.values()]
    for name in ("trials", "trials_hard"):
        kaldi = [line.split() for line in (test_dir / name).read_text().splitlines()]
        voxceleb = [line.split() for line in (test_dir / f"{name}.txt").read_text().splitlines()]
        assert voxceleb == [["1" if y == "target" else "0", e, t] for e, t, y in kaldi]
        assert len({(e, t) for e, t, _ in kaldi}) == len(kaldi)
        for enroll, test, label in kaldi:
            assert enroll in data.wav_scp and test in data.wav_scp and enroll != test
            assert label == ("target" if data.utt2spk[enroll] == data.utt2spk[test] else "nontarget")
            if name == "trials_hard" and label == "nontarget":
                assert data.extra["utt2lang"][enroll] == data.extra["utt2lang"][test]
        num_targets = sum(y == "target" for _, _, y in kaldi)
        assert num_targets == sum(n * (n - 1) // 2 for n in counts)     # every target pair
        if name == "trials":
            num_pairs = len(data.wav_scp) * (len(data.wav_scp) - 1) // 2
            assert len(kaldi) - num_targets == min(num_pairs - num_targets,
                                                   round(TINY_OPTIONS["nontarget_ratio"] * num_targets))
        else:
            assert len(kaldi) > num_targets


def test_hard_list_without_same_language_impostors_has_targets_only():
    utt2spk = {f"{spk}-{i}": spk for spk in "abc" for i in range(3)}
    trials = make_trials(utt2spk, {"a": "de", "b": "fr", "c": "it"}, 5.0, np.random.default_rng(0),
                         same_lang_only=True)
    assert len(trials) == 9 and all(label for _, _, label in trials)
