"""Short-segment conditions: the first seconds of every cut of a feature dir, and trial lists
whose test side points at them (the enrollment side keeps the full utterances), each with an
``utt2spk`` beside it that names the speaker of every key it holds (what the bootstrap resamples).

The truncated cuts reference the same stored features (nothing is recomputed), so a condition
costs one small manifest; a cut no longer than the duration is kept whole. Cut and supervision
ids get the suffix (the utterance key, which names embeddings and trials, is the supervision's).
"""
from __future__ import annotations

import os
from pathlib import Path

from lhotse.utils import fastcopy

from vib.backend.trials import read_trials, write_trials
from vib.data.kaldi_dir import write_kaldi_map
from vib.data.features import read_fbank_config, write_cuts, write_fbank_config
from vib.data.manifests import iter_cuts, utterance_key
from vib.errors import VibError


def truncate_cuts(fbank_dir: str | os.PathLike, out_dir: str | os.PathLike, duration: float,
                  suffix: str) -> dict[str, tuple[str, str]]:
    """Writes ``out_dir/cuts.jsonl.gz`` (every cut of ``fbank_dir`` cut to its first ``duration``
    seconds, id + ``suffix``) and ``fbank.yaml``; returns {old key: (new key, speaker or '')}."""
    if duration <= 0:
        raise VibError(f"--duration must be positive, got {duration}")
    source = Path(fbank_dir) / "cuts.jsonl.gz"
    if not source.is_file():
        raise VibError(f"no cut manifest '{source}'")
    renamed: dict[str, tuple[str, str]] = {}
    cuts = []
    for cut in iter_cuts(source):
        short = cut.truncate(duration=duration) if cut.duration > duration else cut
        # the utterance key (a single supervision's id) is what embeddings and trials are named by
        short = short.with_id(cut.id + suffix).map_supervisions(
            lambda s, end=short.duration: fastcopy(s, id=s.id + suffix, duration=min(s.duration, end - s.start)))
        cuts.append(short)
        speaker = cut.supervisions[0].speaker if len(cut.supervisions) == 1 else None
        renamed[utterance_key(cut)] = (utterance_key(short), speaker or "")
    if not cuts:
        raise VibError(f"'{source}' holds no cuts")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_fbank_config(out_dir, read_fbank_config(fbank_dir))
    write_cuts(cuts, Path(out_dir) / "cuts.jsonl.gz")
    return renamed


def short_test_trials(trials_in: str, trials_out: str, renamed: dict[str, tuple[str, str]]) -> int:
    """Writes ``trials_in`` with every test key renamed (``enroll test-new target|nontarget``) and
    ``utt2spk`` beside it (the enroll keys and the new test keys); a key that is not a cut of the
    set, or has no speaker, is an error naming it. Returns the number of trials."""
    trials = read_trials(trials_in)
    for side, keys in (("test", trials.test), ("enroll", trials.enroll)):
        missing = next((k for k in keys if k not in renamed), None)
        if missing is not None:
            raise VibError(f"{trials_in}: {side} key '{missing}' is not a cut of the truncated set")
    utt2spk = {key: renamed[key][1] for key in set(trials.enroll)}
    utt2spk.update({renamed[key][0]: renamed[key][1] for key in set(trials.test)})
    unnamed = next((k for k, spk in sorted(utt2spk.items()) if not spk), None)
    if unnamed is not None:
        raise VibError(f"{trials_in}: the cut of '{unnamed}' has no (single) speaker for the utt2spk beside the trials")
    write_trials(trials_out, trials.enroll, [renamed[t][0] for t in trials.test], trials.labels)
    write_kaldi_map(Path(trials_out).parent / "utt2spk", utt2spk)
    return len(trials.test)
