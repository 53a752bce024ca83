"""The generated corpus: determinism, resumption, splits, audio quality, lhotse validation, errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from local.mini_corpus import voices as voices_module
from local.mini_corpus.generate import prepare_mini
from local.mini_corpus.synth import MIN_SPEECH_DB, speech_level_db
from tests.conftest import REPO
from tests.corpus.conftest import TINY_OPTIONS
from vib.data.kaldi_dir import read_kaldi_data_dir, read_kaldi_map
from vib.errors import VibError

EXTRA = ("text", "utt2lang", "utt2donor")


def corpus_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), with ``root`` masked in text files."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out[str(path.relative_to(root))] = data.replace(str(root).encode(), b"<ROOT>")
    return out


def test_same_seed_gives_identical_bytes_for_any_nj(tiny_corpus, tiny_corpus_serial):
    first, second = corpus_files(tiny_corpus), corpus_files(tiny_corpus_serial)
    assert sorted(first) == sorted(second)
    assert sum(name.endswith(".wav") for name in first) > 50
    assert [name for name in first if first[name] != second[name]] == []


def test_another_seed_gives_another_corpus(tiny_corpus, tmp_path):
    out = tmp_path / "other"
    out.mkdir()
    shutil.copy(tiny_corpus / "voices.json", out / "voices.json")   # reuses the voice verdicts
    prepare_mini(out, **{**TINY_OPTIONS, "seed": TINY_OPTIONS["seed"] + 1, "num_train_donors": 1,
                         "num_test_donors": 2, "num_rooms": 1, "rirs_per_room": 1, "num_noises": 1})
    assert (out / "voices.json").read_bytes() == (tiny_corpus / "voices.json").read_bytes()
    other = read_kaldi_data_dir(out / "data/test", extra=("text",))
    ours = read_kaldi_data_dir(tiny_corpus / "data/test", extra=("text",))
    assert set(other.extra["text"].values()) != set(ours.extra["text"].values())


def test_rerun_resumes_and_refuses_other_options(tiny_corpus, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(tiny_corpus, out)
    (out / ".done").unlink()
    victims = sorted((out / "wav").rglob("*.wav"))[::7]
    before = {p: p.read_bytes() for p in victims}
    for p in victims:
        p.unlink()
    kept = sorted((out / "wav").rglob("*.wav"))[0]
    mtime = kept.stat().st_mtime_ns
    prepare_mini(out, num_jobs=2, **TINY_OPTIONS)
    assert all(p.read_bytes() == data for p, data in before.items())
    assert kept.stat().st_mtime_ns == mtime          # finished work is not redone
    with pytest.raises(VibError, match="other options"):
        prepare_mini(out, **{**TINY_OPTIONS, "utts_per_speaker": 5})


def test_a_synthesis_worker_that_dies_is_an_error_not_a_hang(tiny_corpus, tmp_path, monkeypatch):
    """A worker killed mid-run (out of memory, a cluster's limit) stops the generator with one
    error; the finished utterances stay for the re-run (the workers are forked: they see the
    patched synthesize)."""
    import os
    from local.mini_corpus import generate

    out = tmp_path / "copy"
    shutil.copytree(tiny_corpus, out)
    (out / ".done").unlink()
    victim = sorted((out / "wav").rglob("*.wav"))[3]
    victim.unlink()
    real = generate.synthesize
    monkeypatch.setattr(generate, "synthesize", lambda spec: os._exit(9) if spec.path == str(victim) else real(spec))
    with pytest.raises(VibError, match="a synthesis worker died .*run again to resume"):
        prepare_mini(out, num_jobs=2, **TINY_OPTIONS)
    monkeypatch.setattr(generate, "synthesize", real)
    prepare_mini(out, num_jobs=2, **TINY_OPTIONS)
    assert victim.is_file()


def test_splits_are_donor_disjoint_and_warps_only_in_training(tiny_corpus):
    train, test, dev = (read_kaldi_data_dir(tiny_corpus / "data" / split, extra=EXTRA)
                        for split in ("train", "test", "dev"))
    train_donors, test_donors, dev_donors = (set(data.extra["utt2donor"].values()) for data in (train, test, dev))
    assert len(train_donors) == TINY_OPTIONS["num_train_donors"]
    assert len(test_donors) == TINY_OPTIONS["num_test_donors"]
    assert len(dev_donors) == TINY_OPTIONS["num_dev_donors"]
    assert not train_donors & test_donors and not train_donors & dev_donors and not test_donors & dev_donors
    assert set(test.spk2utt) == test_donors and set(dev.spk2utt) == dev_donors  # donors, unwarped
    warps = TINY_OPTIONS["warps"]
    expected = {d if w == 1.0 else f"{d}-w{w:g}" for d in train_donors for w in (1.0, *warps)}
    assert set(train.spk2utt) == expected
    for data in (train, test, dev):
        for utt, spk in data.utt2spk.items():
            assert data.extra["utt2donor"][utt] == spk.split("-w")[0]
            assert data.wav_scp[utt] == str(tiny_corpus / "wav" / spk / f"{utt}.wav")
    for name in ("trials", "trials_hard"):   # dev trials are over dev utterances only
        keys = {k for line in (tiny_corpus / "data/dev" / name).read_text().splitlines() for k in line.split()[:2]}
        assert keys and keys <= set(dev.utt2spk)


def test_every_speaker_has_digit_and_word_texts(tiny_corpus):
    for split in ("train", "test"):
        data = read_kaldi_data_dir(tiny_corpus / "data" / split, extra=("text",))
        for spk, utts in data.spk2utt.items():
            kinds = {data.extra["text"][u].split()[0].isdigit() for u in utts}
            assert kinds == {True, False}, f"{split} speaker {spk} has one text kind only"


def test_audio_is_16k_mono_16bit_in_length_audible_and_not_clipped(tiny_corpus):
    for split in ("train", "test"):
        data = read_kaldi_data_dir(tiny_corpus / "data" / split)
        for utt, path in data.wav_scp.items():
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), utt
            assert 1.5 <= info.duration <= 6.0, (utt, info.duration)
            audio, _ = sf.read(path, dtype="int16")
            assert np.abs(audio.astype(np.int32)).max() < 32767, f"{utt} is clipped"
            level = speech_level_db(audio.astype(np.float32) / 32768)
            assert level > MIN_SPEECH_DB, f"{utt} is near-silent ({level:.1f} dBFS)"


def test_broken_voices_are_found_by_the_energy_check(tiny_corpus):
    import json

    verdicts = {v["donor"]: v for v in json.loads((tiny_corpus / "voices.json").read_text())["voices"]}
    usable = [d for d, v in verdicts.items() if v["usable"]]
    assert len(usable) >= TINY_OPTIONS["num_train_donors"] + TINY_OPTIONS["num_test_donors"]
    if "mb-hb1" in verdicts:      # mbrola-hb1 installs but produces silence through espeak-ng
        assert not verdicts["mb-hb1"]["usable"] and "near-silent" in verdicts["mb-hb1"]["reason"]


def test_data_dirs_pass_lhotse_validation(tiny_corpus):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.qa import validate_recordings_and_supervisions

    for split in ("train", "test"):
        data = read_kaldi_data_dir(tiny_corpus / "data" / split, extra=EXTRA)
        recordings = RecordingSet.from_recordings(Recording.from_file(path, recording_id=utt)
                                                  for utt, path in data.wav_scp.items())
        supervisions = SupervisionSet.from_segments(
            SupervisionSegment(id=utt, recording_id=utt, start=0.0, duration=recordings[utt].duration,
                               channel=0, speaker=spk, language=data.extra["utt2lang"][utt],
                               text=data.extra["text"][utt])
            for utt, spk in data.utt2spk.items())
        validate_recordings_and_supervisions(recordings, supervisions)
        assert len(recordings) == len(data.utt2spk) > 0


def test_augmentation_sources_have_the_real_layout(tiny_corpus):
    for size in ("smallroom", "mediumroom", "largeroom"):
        lines = (tiny_corpus / "RIRS_NOISES/simulated_rirs" / size / "rir_list").read_text().splitlines()
        assert len(lines) == TINY_OPTIONS["num_rooms"] * TINY_OPTIONS["rirs_per_room"]
        for line in lines:
            rir_flag, rir_id, room_flag, room_id, rel = line.split()
            assert rel.startswith(f"RIRS_NOISES/simulated_rirs/{size}/Room")
            assert (rir_flag, rir_id) == ("--rir-id", f"{size}-{Path(rel).stem}")
            assert (room_flag, room_id) == ("--room-id", f"{size}-{Path(rel).parent.name}")
            audio, rate = sf.read(tiny_corpus / rel)
            assert rate == 16000 and audio.ndim == 1 and np.abs(audio).max() > 0.5
    for kind, subdir in (("noise", "synthetic"), ("music", "synthetic"), ("speech", "espeak")):
        files = sorted((tiny_corpus / "musan" / kind / subdir).glob("*.wav"))
        assert len(files) == TINY_OPTIONS["num_noises"]
        for path in files:
            audio, rate = sf.read(path)
            assert rate == 16000 and audio.ndim == 1 and speech_level_db(audio) > -40
    annotations = read_kaldi_map(tiny_corpus / "musan/music/synthetic/ANNOTATIONS")
    assert sorted(annotations) == sorted(p.stem for p in (tiny_corpus / "musan/music/synthetic").glob("*.wav"))


def test_missing_tool_names_the_apt_package(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("sox"), bin_dir / "sox")          # espeak-ng is missing
    proc = subprocess.run([sys.executable, "-m", "local.mini_corpus.generate", "--tiny=true", str(tmp_path / "c")],
                          env={**os.environ, "PATH": str(bin_dir)}, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "ERROR" in proc.stderr
    assert "install the Debian package espeak-ng" in proc.stderr


def test_missing_voice_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(voices_module, "MBROLA_DIRS", (str(tmp_path),))   # no MBROLA database installed
    real_which = shutil.which
    monkeypatch.setattr(voices_module.shutil, "which",
                        lambda tool: None if tool in ("pico2wave", "flite") else real_which(tool))
    with pytest.raises(VibError, match=r"only 0 usable voices.*apt-get install mbrola-\w+ mbrola-"):
        prepare_mini(tmp_path / "c", **TINY_OPTIONS)


def test_corpus_fingerprint_names_the_audio_and_the_packages(tiny_corpus, tiny_corpus_serial, tmp_path):
    from local.mini_corpus.fingerprint import corpus_fingerprint

    ours, serial = corpus_fingerprint(tiny_corpus), corpus_fingerprint(tiny_corpus_serial)
    num_wavs = len(list((tiny_corpus / "wav").rglob("*.wav")))
    assert ours == serial and ours[0].startswith("Corpus audio: sha256 ") and f"of {num_wavs} wav files" in ours[0]
    assert "sox 14" in ours[1] and "espeak-ng " in ours[1] and "voice packages, sha256" in ours[1]
    copy = tmp_path / "copy"
    shutil.copytree(tiny_corpus / "wav", copy / "wav")
    shutil.copy(tiny_corpus / "voices.json", copy / "voices.json")
    assert corpus_fingerprint(copy) == ours
    wav = sorted((copy / "wav").rglob("*.wav"))[3]
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x01\x00")
    assert corpus_fingerprint(copy)[0] != ours[0] and corpus_fingerprint(copy)[1] == ours[1]
    with pytest.raises(VibError, match="no voices.json"):
        corpus_fingerprint(tmp_path)
