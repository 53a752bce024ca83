"""Donor-disjoint train/test splits and trial lists.

Test and dev donors are chosen so that each "hard" list has same-language
impostors: pairs of donors from languages with several donors go to test first
(then to dev), the rest are drawn at random; training gets other donors only.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from local.mini_corpus.voices import Voice
from vib.backend.trials import write_trials as write_kaldi_trials
from vib.io.tables import atomic_output


def _pick_eval_donors(pool: list[Voice], num: int, rng: np.random.Generator) -> list[Voice]:
    """``num`` donors of ``pool`` (sorted by donor id) for an evaluation split: about a quarter
    of them in same-language pairs (languages with >= 3 donors in ``pool``), the rest at random."""
    by_lang: dict[str, list[Voice]] = defaultdict(list)
    for voice in pool:
        by_lang[voice.lang].append(voice)
    shared = [lang for lang in sorted(by_lang) if len(by_lang[lang]) >= 3]
    chosen: list[Voice] = []
    for lang in rng.permutation(shared)[:max(1, num // 4) if num >= 2 else 0]:
        chosen += [by_lang[lang][i] for i in rng.permutation(len(by_lang[lang]))[:2]]
    chosen = chosen[:num]
    taken = {v.donor for v in chosen}
    rest = [v for v in pool if v.donor not in taken]
    chosen += [rest[i] for i in rng.permutation(len(rest))[:num - len(chosen)]]
    return sorted(chosen, key=lambda v: v.donor)


def split_donors(voices: Sequence[Voice], num_train: int, num_test: int, rng: np.random.Generator,
                 num_dev: int = 0) -> tuple[list[Voice], list[Voice], list[Voice]]:
    """(train, test, dev) donors, pairwise disjoint, each sorted by donor id. Test donors are
    picked first, then dev donors from the others (both with same-language pairs, so that
    each has a hard list), then training donors at random from the rest."""
    pool = sorted(voices, key=lambda v: v.donor)
    test = _pick_eval_donors(pool, num_test, rng)
    pool = [v for v in pool if v not in test]
    dev = _pick_eval_donors(pool, num_dev, rng) if num_dev else []
    pool = [v for v in pool if v not in dev]
    train = [pool[i] for i in rng.permutation(len(pool))[:num_train]]
    return sorted(train, key=lambda v: v.donor), test, dev


def make_trials(utt2spk: dict[str, str], spk2lang: dict[str, str], nontarget_ratio: float,
                rng: np.random.Generator, same_lang_only: bool = False) -> list[tuple[str, str, bool]]:
    """All target pairs plus ``nontarget_ratio`` times as many non-target pairs sampled without
    replacement (only same-language ones with ``same_lang_only``); sorted (enroll, test, target)."""
    utts = np.array(sorted(utt2spk, key=lambda u: u.encode()))
    spk_names = sorted(set(utt2spk.values()))
    spk_index = {name: i for i, name in enumerate(spk_names)}
    spk = np.array([spk_index[utt2spk[u]] for u in utts])
    lang = np.array([spk2lang[spk_names[s]] for s in spk])
    first, second = np.triu_indices(len(utts), k=1)
    is_target = spk[first] == spk[second]
    candidates = np.flatnonzero(~is_target & ((lang[first] == lang[second]) if same_lang_only else True))
    targets = np.flatnonzero(is_target)
    num_nontarget = min(len(candidates), int(round(nontarget_ratio * len(targets))))
    sampled = rng.choice(candidates, size=num_nontarget, replace=False).astype(np.int64)
    chosen = np.sort(np.concatenate([targets, sampled]))
    return [(str(utts[first[i]]), str(utts[second[i]]), bool(is_target[i])) for i in chosen]


def write_trials(data_dir: Path, name: str, trials: list[tuple[str, str, bool]]) -> None:
    """Writes ``<name>`` (Kaldi: ``enroll test target|nontarget``) and ``<name>.txt``
    (VoxCeleb: ``1|0 enroll test``)."""
    write_kaldi_trials(str(data_dir / name), [e for e, _, _ in trials], [t for _, t, _ in trials],
                       [y for _, _, y in trials])
    with atomic_output(str(data_dir / f"{name}.txt")) as f:
        f.writelines(f"{int(y)} {e} {t}\n" for e, t, y in trials)
