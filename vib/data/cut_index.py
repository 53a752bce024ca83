"""A compact, read-only index of a cut manifest, for the training stream.

A Lhotse ``MonoCut`` with its features and recording costs about 1.3 KB of Python heap;
VoxCeleb2-dev's 1.09 M cuts would hold ~1.3 GiB in the trainer and again in every forked
DataLoader worker (reference counting touches, hence copies, the pages). :class:`CutIndex`
holds the same facts as NumPy arrays and byte blobs (a few hundred bytes per cut, in a
handful of objects) and rebuilds the one cut a crop needs, on demand, with exactly the
fields the manifest had, so crops read through it are those of the manifest's cuts.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from lhotse import AudioSource, Features, Recording
from lhotse.cut import MonoCut

from vib.errors import VibError


class Strings:
    """Many strings in one UTF-8 blob with int64 offsets: ``s[i]`` -> str."""

    def __init__(self, values: Iterable[str]):
        encoded = [v.encode() for v in values]
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self.offsets[1:])
        self.blob = b"".join(encoded)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return self.blob[self.offsets[i]:self.offsets[i + 1]].decode()


class Codes:
    """Values with few distinct members (speakers, storage files, feature kinds) as int32
    codes into a list; ``None`` is code -1."""

    def __init__(self, values: Iterable):
        self.members: list = []
        lookup: dict = {}
        codes = []
        for value in values:
            if value is None:
                codes.append(-1)
                continue
            if value not in lookup:
                lookup[value] = len(self.members)
                self.members.append(value)
            codes.append(lookup[value])
        self.codes = np.array(codes, dtype=np.int32)

    def __getitem__(self, i: int):
        code = self.codes[i]
        return None if code < 0 else self.members[code]


class CutIndex:
    """The cuts of a manifest (single-source mono cuts, as vib-kaldi-to-lhotse writes them)."""

    def __init__(self, cuts: Iterable[MonoCut], name: str = "cuts"):
        ids, speakers, rec_ids, sources, keys = [], [], [], [], []
        feat_kinds, storage, source_kinds = [], [], []
        numbers: list[tuple] = []
        for cut in cuts:
            if not isinstance(cut, MonoCut):
                raise VibError(f"{name}: cut '{cut.id}' is a {type(cut).__name__}; the training stream reads MonoCuts")
            ids.append(cut.id)
            speakers.append(cut.supervisions[0].speaker if cut.supervisions else None)
            f = cut.features
            feat_kinds.append(None if f is None else (f.type, f.num_features, f.frame_shift, f.sampling_rate,
                                                      f.storage_type, f.channels, f.recording_id))
            storage.append(None if f is None else f.storage_path)
            keys.append("" if f is None else f.storage_key)
            r = cut.recording
            if r is not None and len(r.sources) != 1:
                raise VibError(f"{name}: cut '{cut.id}' has a recording of {len(r.sources)} sources; one is supported")
            rec_ids.append("" if r is None else r.id)
            sources.append("" if r is None else r.sources[0].source)
            source_kinds.append(None if r is None else (r.sources[0].type, tuple(r.sources[0].channels),
                                                        tuple(r.channel_ids)))
            numbers.append((cut.start, cut.duration, cut.channel,
                            -1 if f is None else f.num_frames, 0.0 if f is None else f.start,
                            0.0 if f is None else f.duration,
                            -1 if r is None else r.num_samples, 0 if r is None else r.sampling_rate,
                            0.0 if r is None else r.duration,
                            -1 if f is None else cut.num_frames, -1 if r is None else cut.num_samples))
        self.ids, self.rec_ids, self.sources, self.keys = Strings(ids), Strings(rec_ids), Strings(sources), Strings(keys)
        self.speakers, self.feat_kinds = Codes(speakers), Codes(feat_kinds)
        self.storage, self.source_kinds = Codes(storage), Codes(source_kinds)
        table = np.array(numbers, dtype=np.float64).reshape(len(numbers), 11)
        self.start, self.duration, self.feat_start, self.feat_duration, self.rec_duration = (
            table[:, 0], table[:, 1], table[:, 4], table[:, 5], table[:, 8])
        self.channel = table[:, 2].astype(np.int32)
        self.num_frames, self.num_samples_rec = table[:, 3].astype(np.int64), table[:, 6].astype(np.int64)
        self.rec_rate = table[:, 7].astype(np.int64)
        # what MonoCut.num_frames / num_samples give for each cut (-1: no features / no recording)
        self.cut_frames, self.cut_samples = table[:, 9].astype(np.int64), table[:, 10].astype(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def has_features(self, i: int) -> bool:
        return bool(self.feat_kinds.codes[i] >= 0)

    def cut(self, i: int) -> MonoCut:
        """Cut ``i`` rebuilt (no supervisions), with its features and recording as in the manifest."""
        features = recording = None
        kind = self.feat_kinds[i]
        if kind is not None:
            ftype, num_features, shift, rate, storage_type, channels, rec_id = kind
            features = Features(type=ftype, num_frames=int(self.num_frames[i]), num_features=num_features,
                                frame_shift=shift, sampling_rate=rate, start=float(self.feat_start[i]),
                                duration=float(self.feat_duration[i]), storage_type=storage_type,
                                storage_path=self.storage[i], storage_key=self.keys[i], recording_id=rec_id,
                                channels=channels)
        source = self.source_kinds[i]
        if source is not None:
            stype, channels, channel_ids = source
            recording = Recording(id=self.rec_ids[i], sources=[AudioSource(stype, list(channels), self.sources[i])],
                                  sampling_rate=int(self.rec_rate[i]), num_samples=int(self.num_samples_rec[i]),
                                  duration=float(self.rec_duration[i]), channel_ids=list(channel_ids))
        return MonoCut(id=self.ids[i], start=float(self.start[i]), duration=float(self.duration[i]),
                       channel=int(self.channel[i]), supervisions=[], features=features, recording=recording)


__all__ = ["Codes", "CutIndex", "Strings"]
