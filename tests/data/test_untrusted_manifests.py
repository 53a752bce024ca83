"""Cut manifests from elsewhere: features stored through kaldiio (whose records may be
pickles) and audio behind URLs are refused, naming the manifest and the cut."""
from __future__ import annotations

import gzip
import json
import pickle

import pytest

from tests.planted import Planted
from vib.data.manifests import load_cuts
from vib.errors import VibError


def _cut(**fields) -> dict:
    cut = {"id": "u1", "start": 0.0, "duration": 1.0, "channel": 0, "type": "MonoCut",
           "supervisions": [{"id": "u1", "recording_id": "u1", "start": 0.0, "duration": 1.0,
                             "channel": 0, "speaker": "s1"}]}
    cut.update(fields)
    return cut


def _write(path, cut):
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(cut) + "\n")


def test_kaldiio_feature_storage_is_refused_and_nothing_unpickles(tmp_path):
    marker = str(tmp_path / "marker")
    (tmp_path / "evil.ark").write_bytes(b"u1 PKL" + pickle.dumps(Planted(marker)))
    features = {"type": "fbank", "num_frames": 100, "num_features": 80, "frame_shift": 0.01,
                "sampling_rate": 16000, "start": 0.0, "duration": 1.0, "storage_type": "kaldiio",
                "storage_path": "", "storage_key": f"{tmp_path}/evil.ark:3", "channels": 0}
    path = tmp_path / "cuts.jsonl.gz"
    _write(path, _cut(features=features))
    with pytest.raises(VibError, match=r"cuts.jsonl.gz: cut 'u1' stores its features as 'kaldiio'"):
        load_cuts(path)
    assert not (tmp_path / "marker").exists()


def test_url_audio_is_refused(tmp_path):
    recording = {"id": "u1", "sources": [{"type": "url", "channels": [0], "source": "https://example.invalid/a.wav"}],
                 "sampling_rate": 16000, "num_samples": 16000, "duration": 1.0, "channel_ids": [0]}
    path = tmp_path / "cuts.jsonl.gz"
    _write(path, _cut(recording=recording))
    with pytest.raises(VibError, match="cut 'u1' has audio of source type 'url'"):
        load_cuts(path)
