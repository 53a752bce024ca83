"""MUSAN and RIRS_NOISES -> augmentation manifests (one RecordingSet per category).

Expected layouts (those of the released corpora; the mini corpus uses the same):
  ``<musan>/{noise,music,speech}/<subdir>/*.wav``
  ``<RIRS_NOISES>/simulated_rirs/{smallroom,mediumroom,largeroom}/rir_list`` with lines
  ``--rir-id ID --room-id ROOM RIRS_NOISES/simulated_rirs/.../RoomNNN-000KK.wav``
  (paths relative to the parent of RIRS_NOISES); without a rir_list, the room
  folders' ``*/*.wav`` are used.
Output: ``<out>/{noise,music,speech,rir}.jsonl.gz``; ``speech`` is the babble source.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lhotse import Recording, RecordingSet

from vib.data.audio import BadAudio, probe_audio
from vib.data.manifests import audio_source
from vib.errors import VibError

MUSAN_CATEGORIES = ("noise", "music", "speech")
RIR_ROOMS = ("smallroom", "mediumroom", "largeroom")


def recording_set(files: dict[str, Path], sampling_rate: int, num_jobs: int = 4) -> RecordingSet:
    """Recordings for ``id -> wav path``; bad audio is an error naming id and file."""
    def probe(item: tuple[str, Path]) -> Recording:
        rec_id, path = item
        try:
            info = probe_audio(str(path))
        except BadAudio as err:
            raise VibError(f"recording '{rec_id}' ({path}): {err}") from None
        if info.sampling_rate != sampling_rate or info.channels != 1:
            raise VibError(f"recording '{rec_id}' ({path}): {info.sampling_rate} Hz, {info.channels} channels; "
                           f"expected {sampling_rate} Hz mono")
        return Recording(id=rec_id, sources=[audio_source(str(path))], sampling_rate=info.sampling_rate,
                         num_samples=info.num_samples, duration=info.num_samples / info.sampling_rate)

    with ThreadPoolExecutor(max(1, num_jobs)) as pool:
        return RecordingSet.from_recordings(pool.map(probe, sorted(files.items())))


def musan_files(musan_dir: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Category -> {recording id (file stem) -> path}; a missing category dir is an error."""
    root = Path(musan_dir)
    out = {}
    for category in MUSAN_CATEGORIES:
        folder = root / category
        if not folder.is_dir():
            raise VibError(f"MUSAN dir '{root}' has no '{category}' folder (expected {folder})")
        files = {p.stem: p.resolve() for p in folder.glob("*/*.wav")}
        if not files:
            raise VibError(f"no wav files in {folder}/*/")
        out[category] = files
    return out


def rir_files(rirs_dir: str | os.PathLike) -> dict[str, Path]:
    """RIR id -> path for the simulated RIRs, from each room size's rir_list when present."""
    root = Path(rirs_dir)
    sim = root / "simulated_rirs"
    if not sim.is_dir():
        raise VibError(f"RIRS_NOISES dir '{root}' has no simulated_rirs folder (expected {sim})")
    files: dict[str, Path] = {}
    for room in RIR_ROOMS:
        folder = sim / room
        if not folder.is_dir():
            raise VibError(f"missing RIR folder {folder}")
        rir_list = folder / "rir_list"
        if rir_list.is_file():
            for lineno, line in enumerate(rir_list.read_text().splitlines(), 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 5 or fields[0] != "--rir-id":
                    raise VibError(f"{rir_list}:{lineno}: expected '--rir-id ID --room-id ROOM PATH', got '{line}'")
                files[fields[1]] = (root.parent / fields[4]).resolve()
        else:
            files.update({f"{room}-{p.stem}": p.resolve() for p in folder.glob("*/*.wav")})
    if not files:
        raise VibError(f"no RIRs found under {sim}")
    return files


def prepare_augmentation(out_dir: str | os.PathLike, musan_dir: str | None = None, rirs_dir: str | None = None,
                         sampling_rate: int = 16000, num_jobs: int = 4) -> dict[str, int]:
    """Writes ``<out>/{noise,music,speech}.jsonl.gz`` from MUSAN and ``<out>/rir.jsonl.gz`` from
    RIRS_NOISES (either may be omitted). Returns recordings written per category."""
    sets: dict[str, dict[str, Path]] = {}
    if musan_dir is not None:
        sets.update(musan_files(musan_dir))
    if rirs_dir is not None:
        sets["rir"] = rir_files(rirs_dir)
    if not sets:
        raise VibError("give a MUSAN dir, a RIRS_NOISES dir, or both")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for category, files in sets.items():
        recordings = recording_set(files, sampling_rate, num_jobs)
        tmp = out / f"{category}.tmp{os.getpid()}.jsonl.gz"
        recordings.to_file(tmp)
        os.replace(tmp, out / f"{category}.jsonl.gz")
        counts[category] = len(recordings)
    return counts
