"""Fixtures shared by the data tests: a small corpus with stored fbank, augmentation manifests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.audio_fixtures import make_augmentation_tree, write_wav
from vib.data.augment_sources import prepare_augmentation
from vib.data.features import FBANK_DEFAULTS, compute_fbank_part, write_fbank_config
from vib.data.kaldi_dir import write_kaldi_data_dir
from vib.data.manifests import import_kaldi_data_dir

SPEAKERS = ("spkA", "spkB", "spkC", "spkD")


@pytest.fixture(scope="session")
def fbank_corpus(tmp_path_factory):
    """data/train (12 utterances of 2.4-3.5 s, 4 speakers, plus one of 1 s) and fbank/train."""
    root = tmp_path_factory.mktemp("corpus")
    wav_scp, utt2spk = {}, {}
    for s, spk in enumerate(SPEAKERS):
        for u in range(3):
            utt = f"{spk}-u{u}"
            wav_scp[utt] = str(write_wav(root / "wav" / f"{utt}.wav", 2.4 + 0.5 * u + 0.03 * s, 10 * s + u))
            utt2spk[utt] = spk
    wav_scp["spkA-short"] = str(write_wav(root / "wav" / "spkA-short.wav", 1.0, 99))
    utt2spk["spkA-short"] = "spkA"
    return with_stored_fbank(root, wav_scp, utt2spk)


def corpus_with_speakers(root: Path, speakers: int, per_speaker: int, seconds: float, step: float) -> Path:
    """``speakers`` x ``per_speaker`` utterances ``spk<s>-u<u>`` of ``seconds + step * u`` s, plus
    one 1-s ``spk0-short``, with stored fbank (:func:`with_stored_fbank`)."""
    wav_scp, utt2spk = {}, {}
    for s in range(speakers):
        for u in range(per_speaker):
            utt = f"spk{s}-u{u}"
            wav_scp[utt] = str(write_wav(root / "wav" / f"{utt}.wav", seconds + step * u, 100 * s + u))
            utt2spk[utt] = f"spk{s}"
    wav_scp["spk0-short"] = str(write_wav(root / "wav" / "spk0-short.wav", 1.0, 999))
    utt2spk["spk0-short"] = "spk0"
    return with_stored_fbank(root, wav_scp, utt2spk)


def with_stored_fbank(root: Path, wav_scp: dict[str, str], utt2spk: dict[str, str]) -> Path:
    """``root/data``: the Kaldi data dir and manifests of ``wav_scp``; ``root/fbank``: its stored fbank."""
    write_kaldi_data_dir(root / "data", wav_scp, utt2spk)
    import_kaldi_data_dir(root / "data")
    (root / "fbank").mkdir()
    write_fbank_config(root / "fbank", FBANK_DEFAULTS)
    compute_fbank_part(root / "data" / "cuts.jsonl.gz", root / "fbank" / "feats.1", root / "fbank" / "cuts.jsonl.gz")
    return root


@pytest.fixture(scope="session")
def augment_manifests(tmp_path_factory):
    """noise/music/speech/rir.jsonl.gz prepared from MUSAN- and RIRS_NOISES-shaped trees."""
    root = tmp_path_factory.mktemp("aug")
    musan, rirs = make_augmentation_tree(root)
    prepare_augmentation(root / "manifests", str(musan), str(rirs), num_jobs=2)
    return root / "manifests"
