"""Kaldi data directories: wav.scp, utt2spk, spk2utt and optional segments.

Files are sorted in C byte order (Kaldi's ``LC_ALL=C sort``) and written
atomically. Reading validates the directory and names the file and line of
any problem.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from vib.errors import VibError
from vib.io.tables import atomic_output


@dataclass
class Segment:
    """One line of a Kaldi ``segments`` file; times in seconds."""

    recording: str
    start: float
    end: float


@dataclass
class KaldiDataDir:
    """The contents of a Kaldi data dir; ``wav_scp`` maps recording ids to a path
    or a command ending in ``|``. Without ``segments``, utterance = recording."""

    path: Path
    wav_scp: dict[str, str]
    utt2spk: dict[str, str]
    segments: dict[str, Segment] | None = None
    extra: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def spk2utt(self) -> dict[str, list[str]]:
        """Speaker id -> sorted utterance ids."""
        out: dict[str, list[str]] = {}
        for utt in sorted(self.utt2spk, key=_c_order):
            out.setdefault(self.utt2spk[utt], []).append(utt)
        return out


def _c_order(key: str) -> bytes:
    return key.encode("utf-8")


def read_kaldi_map(path: str | os.PathLike, num_fields: int | None = None) -> dict[str, str]:
    """Reads ``key rest-of-line`` lines; empty or duplicate keys are errors naming file and line.
    With ``num_fields``, each line must have exactly that many whitespace-separated fields."""
    out: dict[str, str] = {}
    path = str(path)
    if not os.path.isfile(path):
        raise VibError(f"missing file '{path}'")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(maxsplit=1)
            if len(parts) < 2:
                raise VibError(f"{path}:{lineno}: expected '<key> <value>', got '{line}'")
            if num_fields is not None and len(line.split()) != num_fields:
                raise VibError(f"{path}:{lineno}: expected {num_fields} fields, got '{line}'")
            key, value = parts
            if key in out:
                raise VibError(f"{path}:{lineno}: duplicate id '{key}'")
            out[key] = value
    return out


def write_kaldi_map(path: str | os.PathLike, mapping: Mapping[str, str | list[str]]) -> None:
    """Writes ``key value`` lines sorted in C order; list values are space-joined."""
    with atomic_output(str(path)) as f:
        for key in sorted(mapping, key=_c_order):
            value = mapping[key]
            f.write(f"{key} {' '.join(value) if isinstance(value, list) else value}\n")


def write_kaldi_data_dir(out_dir: str | os.PathLike, wav_scp: Mapping[str, str], utt2spk: Mapping[str, str],
                         segments: Mapping[str, Segment] | None = None,
                         extra: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Writes wav.scp, utt2spk, spk2utt, optional segments and extra ``name -> {utt: value}``
    maps (e.g. utt2lang) into ``out_dir``."""
    for utt in utt2spk:
        if any(c.isspace() for c in utt) or any(c.isspace() for c in utt2spk[utt]):
            raise VibError(f"utterance or speaker id contains whitespace: '{utt}' -> '{utt2spk[utt]}'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = KaldiDataDir(out, dict(wav_scp), dict(utt2spk), dict(segments) if segments else None)
    write_kaldi_map(out / "wav.scp", data.wav_scp)
    write_kaldi_map(out / "utt2spk", data.utt2spk)
    write_kaldi_map(out / "spk2utt", data.spk2utt)
    if data.segments:
        write_kaldi_map(out / "segments", {u: f"{s.recording} {s.start:.3f} {s.end:.3f}"
                                           for u, s in data.segments.items()})
    for name, mapping in (extra or {}).items():
        write_kaldi_map(out / name, dict(mapping))


def read_kaldi_data_dir(data_dir: str | os.PathLike, extra: tuple[str, ...] = ()) -> KaldiDataDir:
    """Reads and validates a Kaldi data dir: every utterance has a speaker and audio
    (through segments when present); ``extra`` names more ``utt value`` files to load."""
    path = Path(data_dir)
    if not path.is_dir():
        raise VibError(f"data dir '{path}' does not exist")
    wav_scp = read_kaldi_map(path / "wav.scp")
    utt2spk = read_kaldi_map(path / "utt2spk", num_fields=2)
    segments = None
    if (path / "segments").exists():
        segments = {}
        for utt, value in read_kaldi_map(path / "segments", num_fields=4).items():
            reco, start, end = value.split()
            try:
                seg = Segment(reco, float(start), float(end))
            except ValueError:
                raise VibError(f"{path / 'segments'}: utterance '{utt}' has non-numeric times '{start} {end}'")
            if seg.end <= seg.start or seg.start < 0:
                raise VibError(f"{path / 'segments'}: utterance '{utt}' has an empty or negative span "
                               f"{seg.start}-{seg.end}")
            if reco not in wav_scp:
                raise VibError(f"{path / 'segments'}: utterance '{utt}' names recording '{reco}' "
                               f"that is not in {path / 'wav.scp'}")
            segments[utt] = seg
    audio_ids = segments if segments is not None else wav_scp
    for utt in utt2spk:
        if utt not in audio_ids:
            where = "segments" if segments is not None else "wav.scp"
            raise VibError(f"{path / 'utt2spk'}: utterance '{utt}' is not in {path / where}")
    extras = {name: read_kaldi_map(path / name) for name in extra}
    return KaldiDataDir(path, wav_scp, utt2spk, segments, extras)
