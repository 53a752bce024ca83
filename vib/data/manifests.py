"""Kaldi data dir <-> Lhotse manifests (recordings, supervisions, one cut per utterance).

Import probes every recording (header of a file, output of a piped command) and
checks it against the data dir: missing, empty, unreadable or multi-channel
audio, a wrong sampling rate, or a segment past the end of its recording is an
error naming utterance and file, or, with ``skip_bad``, a counted skip listed in
``<dir>/skipped_utts`` (``utt<TAB>file<TAB>reason``). Manifests are written under
temporary names and renamed together at the end.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lhotse import AudioSource, CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.cut import MonoCut
from tqdm import tqdm

from vib.data.audio import AudioInfo, BadAudio, command_of, is_command, probe_audio
from vib.data.kaldi_dir import Segment, read_kaldi_data_dir, write_kaldi_data_dir
from vib.errors import VibError
from vib.io.tables import atomic_output

log = logging.getLogger(__name__)

MANIFEST_NAMES = ("recordings", "supervisions", "cuts")
SKIPPED_NAME = "skipped_utts"
# A segment may end this far past its recording (rounding in segments files); it is clipped.
SEGMENT_END_TOLERANCE = 0.05
# What a manifest may point at: feature stores that hold numbers (not kaldiio, whose
# records may be pickles, nor URLs, which would download at run time) and local audio.
# memory_* are what Lhotse Shar shards attach (lilcom bytes; .npy read without pickles).
FEATURE_STORAGE_TYPES = frozenset({"lilcom_chunky", "lilcom_files", "lilcom_hdf5", "chunked_lilcom_hdf5",
                                   "numpy_files", "numpy_hdf5", "memory_lilcom", "memory_npy", "shar"})
AUDIO_SOURCE_TYPES = frozenset({"file", "command", "memory", "shar"})


def check_cut(cut, where: str) -> None:
    """A cut may be read only if its features' storage type is one of :data:`FEATURE_STORAGE_TYPES`
    and its audio sources are of :data:`AUDIO_SOURCE_TYPES`; anything else is an error naming
    ``where`` (a manifest or shard) and the cut."""
    storage = cut.features.storage_type if getattr(cut, "has_features", False) else None
    if storage is not None and storage not in FEATURE_STORAGE_TYPES:
        raise VibError(f"{where}: cut '{cut.id}' stores its features as '{storage}', which is not read "
                       f"(allowed: {', '.join(sorted(FEATURE_STORAGE_TYPES))})")
    if getattr(cut, "has_recording", False):
        kinds = {source.type for source in cut.recording.sources} - AUDIO_SOURCE_TYPES
        if kinds:
            raise VibError(f"{where}: cut '{cut.id}' has audio of source type '{kinds.pop()}', which is "
                           f"not read (allowed: {', '.join(sorted(AUDIO_SOURCE_TYPES))})")


def iter_cuts(path: str | os.PathLike) -> Iterator:
    """The cuts of a manifest one at a time (a lazy read: no whole CutSet in memory), each
    passed through :func:`check_cut`."""
    try:
        for cut in CutSet.from_jsonl_lazy(path):
            check_cut(cut, str(path))
            yield cut
    except (OSError, ValueError, KeyError, TypeError, EOFError) as err:
        raise VibError(f"cannot read cut manifest '{path}': {err}") from None


def utterance_key(cut) -> str:
    """The Kaldi utterance id of a cut: its single supervision's id, else the cut id."""
    return cut.supervisions[0].id if len(cut.supervisions) == 1 else cut.id


def load_cuts(path: str | os.PathLike) -> CutSet:
    """The whole manifest as a CutSet, every cut checked (:func:`iter_cuts`)."""
    return CutSet.from_cuts(iter_cuts(path))


@dataclass
class Manifests:
    """One corpus split as Lhotse manifests, plus the utterances left out on import."""

    recordings: RecordingSet
    supervisions: SupervisionSet
    cuts: CutSet
    skipped: list[tuple[str, str, str]]


def manifest_path(directory: str | os.PathLike, name: str) -> Path:
    """``<directory>/<name>.jsonl.gz`` for name in recordings, supervisions, cuts."""
    return Path(directory) / f"{name}.jsonl.gz"


def audio_source(wav_value: str) -> AudioSource:
    """A Lhotse audio source for a wav.scp value (a path, or a command ending in ``|``)."""
    if is_command(wav_value):
        return AudioSource(type="command", channels=[0], source=command_of(wav_value))
    return AudioSource(type="file", channels=[0], source=wav_value)


def wav_scp_value(recording: Recording) -> str:
    """The wav.scp value for a Lhotse recording with one file or command source."""
    if len(recording.sources) != 1 or recording.sources[0].type not in ("file", "command"):
        raise VibError(f"recording '{recording.id}' has no single file or command source; "
                       f"it cannot be written to wav.scp")
    source = recording.sources[0]
    return source.source if source.type == "file" else f"{source.source} |"


def _probe_all(wav_scp: dict[str, str], num_jobs: int) -> dict[str, AudioInfo | BadAudio]:
    def probe(value: str) -> AudioInfo | BadAudio:
        try:
            return probe_audio(value)
        except BadAudio as err:
            return err

    ids = list(wav_scp)
    with ThreadPoolExecutor(max(1, num_jobs)) as pool:
        results = list(tqdm(pool.map(probe, (wav_scp[r] for r in ids)), total=len(ids),
                            desc="probing audio", unit="rec", disable=len(ids) < 1000))
    return dict(zip(ids, results))


def build_manifests(wav_scp: dict[str, str], utt2spk: dict[str, str], segments: dict[str, Segment] | None,
                    sampling_rate: int = 16000, num_jobs: int = 4, skip_bad: bool = False,
                    utt2lang: dict[str, str] | None = None, where: str = "wav.scp") -> Manifests:
    """Probes the audio and builds manifests; one cut per utterance with id = utterance id.

    ``where`` names the wav.scp in error messages."""
    probed = _probe_all(wav_scp, num_jobs)
    recordings: dict[str, Recording] = {}
    problems: dict[str, str] = {}
    for reco, info in probed.items():
        if isinstance(info, AudioInfo) and info.channels != 1:
            info = BadAudio(f"has {info.channels} channels; expected mono (select one with a piped "
                            f"'sox FILE -t wav - remix 1 |' entry)")
        if isinstance(info, AudioInfo) and info.sampling_rate != sampling_rate:
            info = BadAudio(f"sampling rate is {info.sampling_rate} Hz; expected {sampling_rate} Hz")
        if isinstance(info, BadAudio):
            problems[reco] = str(info)
            continue
        recordings[reco] = Recording(id=reco, sources=[audio_source(wav_scp[reco])], sampling_rate=info.sampling_rate,
                                     num_samples=info.num_samples, duration=info.num_samples / info.sampling_rate)
    spans = segments or {utt: None for utt in utt2spk}
    sups, cuts, skipped = [], [], []
    for utt in sorted(utt2spk, key=lambda u: u.encode()):
        seg = spans[utt]
        reco = seg.recording if seg else utt
        reason = problems.get(reco)
        if reason is None and seg is not None:
            rec_dur = recordings[reco].duration
            if seg.start >= rec_dur or seg.end > rec_dur + SEGMENT_END_TOLERANCE:
                reason = f"segment {seg.start:.3f}-{seg.end:.3f} s lies past the end of the recording ({rec_dur:.3f} s)"
        if reason is not None:
            if not skip_bad:
                raise VibError(f"utterance '{utt}' (recording '{reco}', audio '{wav_scp[reco]}' in {where}): {reason}")
            skipped.append((utt, wav_scp[reco], reason))
            continue
        rec = recordings[reco]
        start = seg.start if seg else 0.0
        duration = min(seg.end, rec.duration) - start if seg else rec.duration
        sup = SupervisionSegment(id=utt, recording_id=reco, start=start, duration=duration, channel=0,
                                 speaker=utt2spk[utt], language=(utt2lang or {}).get(utt))
        sups.append(sup)
        cut_sup = SupervisionSegment(id=utt, recording_id=reco, start=0.0, duration=duration, channel=0,
                                     speaker=sup.speaker, language=sup.language)
        cuts.append(MonoCut(id=utt, start=start, duration=duration, channel=0, recording=rec,
                            supervisions=[cut_sup]))
    used = {s.recording_id for s in sups}
    return Manifests(RecordingSet.from_recordings(recordings[r] for r in recordings if r in used),
                     SupervisionSet.from_segments(sups), CutSet.from_cuts(cuts), skipped)


def write_manifests(out_dir: str | os.PathLike, manifests: Manifests) -> None:
    """Writes recordings/supervisions/cuts.jsonl.gz (and skipped_utts when any) atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    objects = dict(zip(MANIFEST_NAMES, (manifests.recordings, manifests.supervisions, manifests.cuts)))
    temps = {name: out / f"{name}.tmp{os.getpid()}.jsonl.gz" for name in MANIFEST_NAMES}
    try:
        for name, obj in objects.items():
            obj.to_file(temps[name])
        for name in MANIFEST_NAMES:
            os.replace(temps[name], manifest_path(out, name))
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink()
    skipped_file = out / SKIPPED_NAME
    if manifests.skipped:
        with atomic_output(str(skipped_file)) as f:
            f.writelines(f"{u}\t{w}\t{r}\n" for u, w, r in manifests.skipped)
    elif skipped_file.exists():
        skipped_file.unlink()


def import_kaldi_data_dir(data_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                          sampling_rate: int = 16000, num_jobs: int = 4, skip_bad: bool = False) -> Manifests:
    """Reads a Kaldi data dir (wav.scp with paths or ``cmd |``, utt2spk, optional segments
    and utt2lang) and writes its Lhotse manifests into ``out_dir`` (default: the data dir)."""
    path = Path(data_dir)
    extra = ("utt2lang",) if (path / "utt2lang").exists() else ()
    data = read_kaldi_data_dir(path, extra=extra)
    manifests = build_manifests(data.wav_scp, data.utt2spk, data.segments, sampling_rate, num_jobs, skip_bad,
                                data.extra.get("utt2lang"), where=str(path / "wav.scp"))
    if len(manifests.cuts) == 0:
        raise VibError(f"{path}: no usable utterances (all {len(manifests.skipped)} skipped, see "
                       f"{Path(out_dir or path) / SKIPPED_NAME})")
    write_manifests(out_dir or path, manifests)
    if manifests.skipped:
        log.warning("%s: skipped %d of %d utterances with bad audio; listed in %s", path, len(manifests.skipped),
                    len(data.utt2spk), Path(out_dir or path) / SKIPPED_NAME)
    return manifests


def export_kaldi_data_dir(manifest_dir: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Writes a Kaldi data dir (wav.scp, utt2spk, spk2utt, segments when utterances are not
    whole recordings, utt2lang when languages are set) from recordings + supervisions."""
    for name in ("recordings", "supervisions"):
        if not manifest_path(manifest_dir, name).is_file():
            raise VibError(f"missing manifest '{manifest_path(manifest_dir, name)}'")
    recordings = {rec.id: rec for rec in RecordingSet.from_file(manifest_path(manifest_dir, "recordings"))}
    supervisions = SupervisionSet.from_file(manifest_path(manifest_dir, "supervisions"))
    wav_scp = {rec_id: wav_scp_value(rec) for rec_id, rec in recordings.items()}
    utt2spk, utt2lang, segments = {}, {}, {}
    whole = True
    for sup in supervisions:
        if sup.id in utt2spk:
            raise VibError(f"{manifest_path(manifest_dir, 'supervisions')}: duplicate utterance id '{sup.id}'")
        if sup.recording_id not in wav_scp:
            raise VibError(f"{manifest_path(manifest_dir, 'supervisions')}: utterance '{sup.id}' names "
                           f"recording '{sup.recording_id}' that is not in the recordings")
        if not sup.speaker:
            raise VibError(f"{manifest_path(manifest_dir, 'supervisions')}: utterance '{sup.id}' has no speaker")
        utt2spk[sup.id] = sup.speaker
        if sup.language:
            utt2lang[sup.id] = sup.language
        segments[sup.id] = Segment(sup.recording_id, sup.start, sup.end)
        rec = recordings[sup.recording_id]
        whole &= sup.id == rec.id and sup.start == 0 and abs(sup.duration - rec.duration) < 1e-3
    write_kaldi_data_dir(out_dir, wav_scp, utt2spk, None if whole else segments,
                         extra={"utt2lang": utt2lang} if utt2lang else None)
