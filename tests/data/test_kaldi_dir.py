"""Kaldi data dir reading and writing."""
from __future__ import annotations

import pytest

from vib.data.kaldi_dir import Segment, read_kaldi_data_dir, write_kaldi_data_dir
from vib.errors import VibError


def test_write_read_roundtrip_sorted_c_order(tmp_path):
    wav = {"b": "/x/b.wav", "B": "/x/B.wav", "a": "sox /x/a.flac -t wav - |"}
    utt2spk = {"b": "s2", "B": "s1", "a": "s1"}
    write_kaldi_data_dir(tmp_path, wav, utt2spk, extra={"utt2lang": {"a": "en", "b": "de", "B": "fr"}})
    assert (tmp_path / "wav.scp").read_text().splitlines()[0] == "B /x/B.wav"
    assert (tmp_path / "spk2utt").read_text() == "s1 B a\ns2 b\n"
    data = read_kaldi_data_dir(tmp_path, extra=("utt2lang",))
    assert data.wav_scp == wav and data.utt2spk == utt2spk and data.segments is None
    assert data.extra["utt2lang"]["b"] == "de"


def test_segments_roundtrip(tmp_path):
    segs = {"r1-0": Segment("r1", 0.0, 1.5), "r1-1": Segment("r1", 1.5, 3.25)}
    write_kaldi_data_dir(tmp_path, {"r1": "/x/r1.wav"}, {"r1-0": "s", "r1-1": "s"}, segs)
    assert read_kaldi_data_dir(tmp_path).segments == segs


@pytest.mark.parametrize("files,message", [
    ({"wav.scp": "a /a.wav\n", "utt2spk": "a s\nb s\n"}, "utterance 'b' is not in"),
    ({"wav.scp": "a /a.wav\na /b.wav\n", "utt2spk": "a s\n"}, "wav.scp:2: duplicate id 'a'"),
    ({"wav.scp": "a /a.wav\n", "utt2spk": "a s x\n"}, "utt2spk:1: expected 2 fields"),
    ({"wav.scp": "a /a.wav\n"}, "missing file"),
    ({"wav.scp": "r /r.wav\n", "utt2spk": "u s\n", "segments": "u q 0 1\n"}, "names recording 'q'"),
    ({"wav.scp": "r /r.wav\n", "utt2spk": "u s\n", "segments": "u r 2 1\n"}, "empty or negative span"),
])
def test_bad_data_dirs_name_the_problem(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(VibError, match=message):
        read_kaldi_data_dir(tmp_path)
