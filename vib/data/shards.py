"""Training data as Lhotse Shar shards: tar files read front to back instead of a million small files.

A shard dir, as :func:`write_shards` (``vib-make-shards``) writes it::

    cuts.000000.jsonl.gz  features.000000.tar  [recording.000000.tar]   # shard 0, and so on
    utt2spk  utt2num_frames  utt2dur  fbank.yaml                         # Kaldi-style summary files

The cuts are shuffled (seeded) before they are cut into shards, so that every shard mixes
speakers and a reader that takes shards in random order through a shuffle buffer draws
crops whose labels follow the manifest's distribution. Features are stored as lilcom at the
stored features' tick (2^-5; compressed again, so within half a tick, 2^-6, of the source's
values); ``audio=True`` adds the audio (FLAC, lossless: the same samples) for online augmentation. ``utt2spk`` / ``utt2num_frames`` / ``utt2dur`` let the
trainer build its classes and epoch size without opening a tar.

Reading (:func:`iter_shard`) attaches the tar members to the cuts: features become in-memory
lilcom or ``.npy`` (read without pickles), audio in-memory bytes decoded as audio; every cut
is checked as a manifest's are (:func:`vib.data.manifests.check_cut`).
"""
from __future__ import annotations

import io
import logging
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
from lhotse import AudioSource, Recording, fastcopy
from lhotse.cut import MonoCut
from lhotse.shar import SharWriter
from lhotse.shar.readers.lazy import LazySharIterator
from tqdm import tqdm

from vib.data.audio import BadAudio, cut_samples
from vib.data.features import FBANK_CONFIG_NAME
from vib.data.kaldi_dir import read_kaldi_map
from vib.data.manifests import check_cut, load_cuts
from vib.errors import VibError
from vib.io.tables import remove_stale_temps

log = logging.getLogger(__name__)

SHARD_CUTS = "cuts.{:06d}.jsonl.gz"
FIELD_FORMATS = {"features": "lilcom", "recording": "flac"}
SUMMARY_FILES = ("utt2spk", "utt2num_frames", "utt2dur")


def is_shard_dir(path: str | os.PathLike) -> bool:
    """True for a directory holding ``cuts.000000.jsonl.gz`` (a Shar dir)."""
    return (Path(path) / SHARD_CUTS.format(0)).is_file()


@dataclass(frozen=True)
class Shard:
    """One shard: its cut manifest and the tar of each field."""

    cuts: Path
    fields: dict[str, Path]


@dataclass
class ShardSet:
    """A shard dir as read by :func:`read_shard_dir`: the shards and, per cut id, speaker,
    frame count and duration (s)."""

    directory: Path
    shards: list[Shard]
    utt2spk: dict[str, str]
    num_frames: dict[str, int]
    duration: dict[str, float]

    @property
    def has_audio(self) -> bool:
        return "recording" in self.shards[0].fields


def read_shard_dir(directory: str | os.PathLike) -> ShardSet:
    """The shards of ``directory`` (consecutive numbers from 0, each with the same fields) and its
    summary files; a gap, a missing field tar or summary file is an error naming it."""
    d = Path(directory)
    if not is_shard_dir(d):
        raise VibError(f"{d}: not a shard dir (no {SHARD_CUTS.format(0)}; make one with steps/make_shards.sh)")
    count = len(list(d.glob("cuts.*.jsonl.gz")))
    shards = []
    fields = [f for f in FIELD_FORMATS if (d / f"{f}.000000.tar").is_file()]
    if "features" not in fields:
        raise VibError(f"{d}: no features.000000.tar; the training stream reads stored features")
    for i in range(count):
        cuts = d / SHARD_CUTS.format(i)
        tars = {f: d / f"{f}.{i:06d}.tar" for f in fields}
        for path in (cuts, *tars.values()):
            if not path.is_file():
                raise VibError(f"{d}: missing shard file '{path.name}' ({count} shards expected)")
        shards.append(Shard(cuts, tars))
    for name in SUMMARY_FILES:
        if not (d / name).is_file():
            raise VibError(f"{d}: missing '{name}' (written by vib-make-shards)")
    utt2spk = read_kaldi_map(d / "utt2spk")
    num_frames = {u: _number(d / "utt2num_frames", u, v, int) for u, v in read_kaldi_map(d / "utt2num_frames").items()}
    duration = {u: _number(d / "utt2dur", u, v, float) for u, v in read_kaldi_map(d / "utt2dur").items()}
    for name, table in (("utt2num_frames", num_frames), ("utt2dur", duration)):
        if table.keys() != utt2spk.keys():
            odd = next(iter(table.keys() ^ utt2spk.keys()))
            raise VibError(f"{d}/{name}: its utterances differ from utt2spk's (e.g. '{odd}')")
    return ShardSet(d, shards, utt2spk, num_frames, duration)


def _number(path: Path, key: str, value: str, kind: type):
    try:
        return kind(value)
    except ValueError:
        raise VibError(f"{path}: utterance '{key}': '{value}' is not a number") from None


def iter_shard(shard: Shard) -> Iterator:
    """The cuts of one shard with their fields attached, each checked by :func:`check_cut`."""
    where = str(shard.cuts)
    reader = LazySharIterator(fields={"cuts": [shard.cuts], **{f: [p] for f, p in shard.fields.items()}})
    try:
        for cut in reader:
            if cut.features is None or cut.features.storage_type == "shar":
                raise VibError(f"{where}: cut '{cut.id}' has no features in {shard.fields['features'].name}")
            check_cut(cut, where)
            yield cut
    except (AssertionError, RuntimeError, OSError, ValueError, KeyError) as err:
        raise VibError(f"{where}: cannot read the shard: {err}") from None


def write_shards(cuts_path: str | os.PathLike, out_dir: str | os.PathLike, *, shard_size: int = 1000,
                 audio: bool = False, seed: int = 0, num_jobs: int = 1) -> int:
    """Writes the cuts of ``cuts_path`` (with stored features; ``audio``: their audio too) as
    shards of ``shard_size`` cuts in a seeded random order, plus ``utt2spk``, ``utt2num_frames``,
    ``utt2dur`` and the features' ``fbank.yaml``; ``num_jobs`` processes write blocks of whole
    shards. Audio is read as training reads it (:func:`vib.data.audio.cut_samples`: a wav.scp
    command's exit status and length are checked). Everything is written into
    ``<out_dir>.tmp.<pid>`` and renamed into place at the end (a killed run leaves no half
    shard dir; the next run removes its leftovers). Returns the number of shards."""
    if shard_size < 1 or num_jobs < 1:
        raise VibError(f"shard size and jobs must be positive, got {shard_size}, {num_jobs}")
    source, out = Path(cuts_path), Path(out_dir)
    config = source.parent / FBANK_CONFIG_NAME
    if not config.is_file():
        raise VibError(f"missing '{config}' beside {source} (the fbank options the shards' features were made with)")
    cuts = list(load_cuts(source))
    if not cuts:
        raise VibError(f"{source}: no cuts")
    for cut in cuts:
        if not cut.has_features:
            raise VibError(f"{source}: cut '{cut.id}' has no stored features; run steps/compute_fbank.sh first")
        if audio and not cut.has_recording:
            raise VibError(f"{source}: cut '{cut.id}' has no recording; shards with audio need one")
        if not cut.supervisions or not cut.supervisions[0].speaker:
            raise VibError(f"{source}: cut '{cut.id}' has no supervision with a speaker")
    ordered = [cuts[i] for i in np.random.default_rng(seed).permutation(len(cuts))]
    count = -(-len(ordered) // shard_size)
    per_job = -(-count // num_jobs)
    remove_stale_temps(str(out), ("tmp", "old"))  # dirs of killed writers
    tmp = out.parent / f"{out.name}.tmp.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        blocks = [(ordered[j * per_job * shard_size:(j + 1) * per_job * shard_size], j * per_job)
                  for j in range(-(-count // per_job))]
        if len(blocks) == 1:
            _write_block(blocks[0][0], tmp, shard_size, blocks[0][1], audio)
        else:
            with ProcessPoolExecutor(len(blocks), mp_context=multiprocessing.get_context("fork")) as pool:
                list(pool.map(_write_block, *zip(*[(b, tmp, shard_size, offset, audio) for b, offset in blocks])))
        shutil.copyfile(config, tmp / FBANK_CONFIG_NAME)
        for name, value in (("utt2spk", lambda c: c.supervisions[0].speaker), ("utt2num_frames", lambda c: c.num_frames),
                            ("utt2dur", lambda c: repr(c.duration))):
            with open(tmp / name, "w") as f:  # the whole dir is renamed into place at the end
                f.writelines(f"{c.id} {value(c)}\n" for c in ordered)
        old = out.parent / f"{out.name}.old.{os.getpid()}"
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: %d cuts in %d shard(s) of up to %d (features%s)", out, len(cuts), count, shard_size,
             " and audio" if audio else "")
    return count


def _write_block(cuts: list, directory: Path, shard_size: int, offset: int, audio: bool) -> None:
    """Shards ``offset``, ``offset + 1``, ... of ``cuts`` in ``directory``."""
    fields = {"features": FIELD_FORMATS["features"], **({"recording": FIELD_FORMATS["recording"]} if audio else {})}
    with SharWriter(directory, fields=fields, shard_size=shard_size, shard_offset=offset,
                    warn_unused_fields=False) as writer:
        for cut in tqdm(cuts, desc=f"shards from {offset}", unit="cut", disable=len(cuts) < 10_000):
            writer.write(_self_contained(cut, audio))


def _self_contained(cut: MonoCut, audio: bool) -> MonoCut:
    """The cut starting at 0 with its data in memory: its features (float32 ``.npy``, exact) and,
    with ``audio``, its samples read by :func:`cut_samples` as a float WAV; without, no recording."""
    feats = cut.load_features().astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, feats, allow_pickle=False)
    features = fastcopy(cut.features, start=0.0, duration=cut.duration, num_frames=feats.shape[0],
                        storage_type="memory_npy", storage_path="", storage_key=buf.getvalue())
    recording = None
    if audio:
        try:
            samples = cut_samples(cut)
        except BadAudio as err:
            raise VibError(f"utterance '{cut.id}' (audio '{cut.recording.sources[0].source}'): {err}") from None
        wav = io.BytesIO()
        sf.write(wav, samples, cut.sampling_rate, format="WAV", subtype="FLOAT")
        recording = Recording(id=cut.recording.id, sources=[AudioSource("memory", [0], wav.getvalue())],
                              sampling_rate=cut.sampling_rate, num_samples=len(samples),
                              duration=len(samples) / cut.sampling_rate)
    return fastcopy(cut, start=0.0, channel=0, features=features, recording=recording)


__all__ = ["Shard", "ShardSet", "is_shard_dir", "iter_shard", "read_shard_dir", "write_shards"]
