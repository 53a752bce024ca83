"""Kaldi data dir -> Lhotse manifests -> Kaldi data dir, and every kind of bad audio."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, RecordingSet, SupervisionSet

from tests.conftest import run_bash
from tests.data.audio_fixtures import write_wav
from vib.data.kaldi_dir import Segment, write_kaldi_data_dir
from vib.data.manifests import export_kaldi_data_dir, import_kaldi_data_dir
from vib.errors import VibError

KALDI_FILES = ("wav.scp", "utt2spk", "spk2utt", "segments", "utt2lang")


@pytest.fixture
def kaldi_dir(tmp_path):
    """Two recordings split by segments, one read through a piped sox command."""
    a = write_wav(tmp_path / "audio" / "a.wav", 3.0, 1)
    b = write_wav(tmp_path / "audio" / "b.wav", 2.0, 2)
    wav_scp = {"recA": str(a), "recB": f"sox {b} -t wav - |"}
    segments = {"spk1-recA-0000": Segment("recA", 0.0, 1.25), "spk2-recA-0125": Segment("recA", 1.25, 3.0),
                "spk1-recB-0050": Segment("recB", 0.5, 2.0)}
    utt2spk = {"spk1-recA-0000": "spk1", "spk2-recA-0125": "spk2", "spk1-recB-0050": "spk1"}
    data = tmp_path / "data"
    write_kaldi_data_dir(data, wav_scp, utt2spk, segments,
                         extra={"utt2lang": {u: "en" for u in utt2spk}})
    return data


def test_import_segments_and_piped_entry(kaldi_dir):
    import_kaldi_data_dir(kaldi_dir, num_jobs=2)
    recs = {r.id: r for r in RecordingSet.from_file(kaldi_dir / "recordings.jsonl.gz")}
    assert recs["recB"].sources[0].type == "command" and recs["recB"].sources[0].source.startswith("sox ")
    assert recs["recA"].num_samples == 48000 and recs["recB"].num_samples == 32000
    sups = {s.id: s for s in SupervisionSet.from_file(kaldi_dir / "supervisions.jsonl.gz")}
    assert sups["spk2-recA-0125"].speaker == "spk2" and sups["spk2-recA-0125"].start == 1.25
    assert sups["spk1-recB-0050"].duration == pytest.approx(1.5) and sups["spk1-recB-0050"].language == "en"
    cuts = {c.id: c for c in CutSet.from_file(kaldi_dir / "cuts.jsonl.gz")}
    assert sorted(cuts) == sorted(sups)
    piped = cuts["spk1-recB-0050"].load_audio()[0]
    full, _ = sf.read(str(kaldi_dir.parent / "audio" / "b.wav"), dtype="float32")
    np.testing.assert_allclose(piped, full[8000:32000], atol=1e-6)
    assert cuts["spk1-recB-0050"].supervisions[0].speaker == "spk1"


def test_round_trip_kaldi_lhotse_kaldi(kaldi_dir, tmp_path):
    import_kaldi_data_dir(kaldi_dir, num_jobs=1)
    export_kaldi_data_dir(kaldi_dir, tmp_path / "back")
    for name in KALDI_FILES:
        assert (tmp_path / "back" / name).read_text() == (kaldi_dir / name).read_text(), name


def test_round_trip_whole_recordings_has_no_segments(tmp_path):
    wav = {"u1": str(write_wav(tmp_path / "u1.wav", 1.0, 3)), "u2": str(write_wav(tmp_path / "u2.wav", 1.0, 4))}
    write_kaldi_data_dir(tmp_path / "d", wav, {"u1": "s1", "u2": "s2"})
    import_kaldi_data_dir(tmp_path / "d")
    export_kaldi_data_dir(tmp_path / "d", tmp_path / "back")
    assert not (tmp_path / "back" / "segments").exists()
    assert (tmp_path / "back" / "wav.scp").read_text() == (tmp_path / "d" / "wav.scp").read_text()


def _bad_audio(tmp_path, kind: str) -> str:
    """A wav.scp value for recording 'bad' that is broken in the given way."""
    path = tmp_path / "bad.wav"
    if kind == "missing":
        return str(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "no_samples":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    elif kind == "rate":
        write_wav(path, 1.0, 5, sr=8000)
    elif kind == "stereo":
        write_wav(path, 1.0, 5, channels=2)
    elif kind == "pipe":
        return f"sox {tmp_path}/nowhere.wav -t wav - |"
    return str(path)


BAD_CASES = [("missing", "no such file"), ("empty", "empty file"), ("corrupt", "not readable audio"),
             ("no_samples", "no samples"), ("rate", "sampling rate is 8000 Hz; expected 16000"),
             ("stereo", "2 channels"), ("pipe", "command failed")]


@pytest.mark.parametrize("kind,reason", BAD_CASES)
def test_bad_audio_is_an_error_naming_utterance_and_file(tmp_path, kind, reason):
    good = str(write_wav(tmp_path / "good.wav", 1.0, 6))
    bad = _bad_audio(tmp_path, kind)
    write_kaldi_data_dir(tmp_path / "d", {"good": good, "bad": bad}, {"good": "s1", "bad": "s2"})
    with pytest.raises(VibError) as err:
        import_kaldi_data_dir(tmp_path / "d")
    message = str(err.value)
    assert "utterance 'bad'" in message and bad in message and reason in message
    assert not any(p.name.endswith(".jsonl.gz") for p in (tmp_path / "d").iterdir()), "nothing half-written"


def test_skip_bad_counts_and_lists_skips(tmp_path):
    good = str(write_wav(tmp_path / "good.wav", 1.0, 6))
    wav = {"good": good, "bad1": _bad_audio(tmp_path, "missing"), "bad2": _bad_audio(tmp_path, "pipe")}
    write_kaldi_data_dir(tmp_path / "d", wav, {u: "s" for u in wav})
    manifests = import_kaldi_data_dir(tmp_path / "d", skip_bad=True)
    assert [c.id for c in manifests.cuts] == ["good"]
    listed = (tmp_path / "d" / "skipped_utts").read_text().splitlines()
    assert [line.split("\t")[0] for line in listed] == ["bad1", "bad2"]
    assert "no such file" in listed[0] and "command failed" in listed[1]


def test_segment_past_end_of_recording(tmp_path):
    wav = {"r": str(write_wav(tmp_path / "r.wav", 1.0, 6))}
    write_kaldi_data_dir(tmp_path / "d", wav, {"u": "s"}, {"u": Segment("r", 0.5, 1.5)})
    with pytest.raises(VibError, match=r"utterance 'u'.*r\.wav.*past the end"):
        import_kaldi_data_dir(tmp_path / "d")


def test_duplicate_ids_are_an_error(tmp_path):
    wav = str(write_wav(tmp_path / "r.wav", 1.0, 6))
    (tmp_path / "wav.scp").write_text(f"u {wav}\nu {wav}\n")
    (tmp_path / "utt2spk").write_text("u s\n")
    with pytest.raises(VibError, match=r"wav\.scp:2: duplicate id 'u'"):
        import_kaldi_data_dir(tmp_path)


@pytest.mark.slow
def test_cli_round_trip_and_error_line(kaldi_dir, tmp_path):
    proc = run_bash(f"vib-kaldi-to-lhotse --nj 2 {kaldi_dir} && vib-lhotse-to-kaldi {kaldi_dir} {tmp_path}/back")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "back" / "segments").read_text() == (kaldi_dir / "segments").read_text()
    os.remove(kaldi_dir.parent / "audio" / "a.wav")
    proc = run_bash(f"vib-kaldi-to-lhotse {kaldi_dir}")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("vib-kaldi-to-lhotse: ERROR: utterance 'spk1-recA-0000'")
