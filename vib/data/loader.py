"""Training stream: random crops with integer speaker labels, of one length or, with
``crop_frames: [MIN, MAX]``, of a length drawn per batch (as the chunk-length range of Kaldi's
x-vector egs): every crop of a batch has that batch's length.

The sampler draws, in the main process, every random choice of an epoch for one
rank (which cut, where to crop, which augmentations with which sources, SNRs
and offsets) from generators seeded by (seed, epoch) for the shared cut order
and by (seed, epoch, rank) for the rest, and hands each worker a whole batch
plan. Workers only execute plans, so the stream is the same for any
``num_workers``; ranks take interleaved, disjoint slices of one permutation.

Without augmentation crops are read from the stored (lilcom) features. With it,
a crop that drew some augmentation is read as audio, augmented (see
:mod:`vib.data.augment`) and turned into fbank on the fly with the options stored
beside the features (``fbank.yaml``), the batch's augmented crops in one call;
a crop that drew none is read from the stored features.

From a shard dir (:mod:`vib.data.shards`) the same batches are made by
:class:`ShardCropStream`: shards are read front to back by each worker and the plans
drawn there, per batch (see the class).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from lhotse import RecordingSet
from lhotse.utils import compute_num_samples
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, get_worker_info

from vib.data.audio import read_samples
from vib.data.augment import (AugmentConfig, add_at_snr, band_limit, g711, parse_augment_config, reverberate,
                               speed_perturb)
from vib.data.cut_index import CutIndex
from vib.data.features import fbank_extractor, read_fbank_config
from vib.data.manifests import iter_cuts
from vib.data.shards import Shard, is_shard_dir, iter_shard, read_shard_dir
from vib.errors import VibError
from vib.io.tables import atomic_output

log = logging.getLogger(__name__)

SHORT_LIST_NAME = "too_short_for_crop{frames}"


def speed_class(speaker: str, factor: float) -> str:
    """Class name of a speaker's speed-perturbed copy, e.g. ``id10001_sp1.1``."""
    return f"{speaker}_sp{factor:g}"


def _speakers(index: CutIndex, cuts_path: str) -> list[str]:
    out = []
    for i in range(len(index)):
        speaker = index.speakers[i]
        if not speaker:
            raise VibError(f"{cuts_path}: cut '{index.ids[i]}' has no supervision with a speaker")
        out.append(speaker)
    return out


def _class_labels(speakers: list[str], spk2id: dict[str, int], factors: tuple[float, ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Class indices of speakers ``[N]`` and of their speed copies ``[len(factors), N]`` (int64)."""
    labels = np.array([spk2id[s] for s in speakers], dtype=np.int64)
    speed = np.array([[spk2id[speed_class(s, f)] for s in speakers] for f in factors],
                     dtype=np.int64).reshape(len(factors), len(speakers))
    return labels, speed


def _speed_factors(aug: AugmentConfig | None) -> tuple[float, ...]:
    return aug.speed_factors if aug is not None and aug.speed_prob > 0 else ()


def speed_factors_of(augment: dict[str, Any] | None) -> tuple[float, ...]:
    """The speed factors that an augmentation config (YAML dict) turns into new classes."""
    return _speed_factors(parse_augment_config(augment) if augment is not None else None)


def build_spk2id(source: str, speed_factors: tuple[float, ...] | list[float] = ()) -> dict[str, int]:
    """Speaker id -> class index for a cut manifest or shard dir: the speakers sorted (C order)
    take 0..S-1, then for each speed factor in the order given its copies ``<spk>_sp<factor>``
    take the next S."""
    if is_shard_dir(source):
        found = read_shard_dir(source).utt2spk.values()
    elif Path(source).is_file():
        found = _speakers(_cut_index(source), source)
    else:
        raise VibError(f"missing cut manifest or shard dir '{source}'")
    speakers = sorted(set(found), key=lambda s: s.encode())
    names = speakers + [speed_class(s, f) for f in speed_factors for s in speakers]
    return {name: index for index, name in enumerate(names)}


@dataclass(frozen=True)
class CropLengths:
    """Crop lengths in frames: each batch's drawn uniformly from ``shortest..longest`` (equal:
    one length); ``unit``: what a frame is in the cuts' lengths (1 for stored features, the hop
    in samples for audio)."""

    shortest: int
    longest: int
    unit: int = 1

    @classmethod
    def of(cls, crop_frames: int | Sequence[int]) -> "CropLengths":
        """From ``train.crop_frames``: N or [MIN, MAX]; anything else is an error naming it."""
        value = [crop_frames] if isinstance(crop_frames, int) else list(crop_frames)
        if len(value) not in (1, 2) or not all(isinstance(v, int) and v >= 1 for v in value) or value[0] > value[-1]:
            raise VibError(f"crop_frames must be a positive number of frames or [MIN, MAX] with 1 <= MIN <= MAX, "
                           f"got {crop_frames!r}")
        return cls(value[0], value[-1])

    @property
    def need(self) -> int:
        """The length the longest crop consumes at speed 1, in the cuts' unit."""
        return self.longest * self.unit

    def per_batch(self, seed: int, epoch: int, count: int) -> np.ndarray:
        """Frames of each of ``count`` batches ``[count]`` int64, the same on every rank and worker
        (a generator of its own, so one length draws nothing from the others)."""
        if self.shortest == self.longest:
            return np.full(count, self.longest, dtype=np.int64)
        return np.random.default_rng([seed, epoch, 3]).integers(self.shortest, self.longest + 1, size=count)


@dataclass
class BatchPlan:
    """Every random choice for one batch of B crops (arrays of length B unless stated);
    ``frames``: the batch's crop length (None: the maker's longest)."""

    cut: np.ndarray          # index into the dataset's cuts
    label: np.ndarray        # class index (speed copies are their own classes)
    speed: np.ndarray        # speed factor, 1.0 = none
    start: np.ndarray        # crop start: frame (stored features) or sample (audio)
    reverb: np.ndarray       # RIR index, -1 = none
    additive: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # kind -> (idx [B, K] -1 = unused, offset
    # fraction [B, K], snr dB [B]); a row with idx[:, 0] == -1 gets none of that kind
    frames: int | None = None
    channel: np.ndarray | None = None  # index into the channel codecs, -1 = none (None: no channel at all)


def draw_plan(rng: np.random.Generator, lengths: np.ndarray, labels: np.ndarray, speed_labels: np.ndarray,
              need: int | np.ndarray, aug: AugmentConfig | None, aug_sizes: dict[str, int]) -> dict[str, Any]:
    """The random choices for n crops of cuts of ``lengths`` [n] (frames or samples) with class
    ``labels`` [n] and speed-copy classes ``speed_labels`` [factors, n], each consuming ``need``
    (one or [n]) at speed 1: the :class:`BatchPlan` fields but ``cut`` and ``frames`` (label, speed,
    start, reverb, additive, channel), drawn from ``rng`` in a fixed order."""
    n = len(lengths)
    speed = np.ones(n)
    label = labels
    if aug is not None and aug.speed_prob > 0:
        which = rng.integers(len(aug.speed_factors), size=n)
        on = rng.random(n) < aug.speed_prob
        speed = np.where(on, np.asarray(aug.speed_factors)[which], 1.0)
        label = np.where(on, speed_labels[which, np.arange(n)], label)
    need_n = np.ceil(need * speed).astype(np.int64)
    start = np.floor(rng.random(n) * (lengths - need_n + 1)).astype(np.int64)
    reverb = np.full(n, -1)
    if aug is not None and aug.reverb_prob > 0:
        reverb = np.where(rng.random(n) < aug.reverb_prob, rng.integers(aug_sizes["reverb"], size=n), -1)
    additive = {}
    for kind, source in (aug.additive if aug is not None else ()):
        k_max = source.speakers[1]
        count = rng.integers(source.speakers[0], k_max + 1, size=n)
        count[rng.random(n) >= source.prob] = 0
        idx = rng.integers(aug_sizes[kind], size=(n, k_max))
        idx[np.arange(k_max)[None, :] >= count[:, None]] = -1
        additive[kind] = (idx, rng.random((n, k_max)), rng.uniform(*source.snr, size=n))
    channel = np.full(n, -1)
    if aug is not None and aug.channel_prob > 0:  # drawn last: a config without it draws what it did before
        channel = np.where(rng.random(n) < aug.channel_prob, rng.integers(len(aug.channel_codecs), size=n), -1)
    return dict(label=label, speed=speed, start=start, reverb=reverb, additive=additive, channel=channel)


class _EpochShare:
    """One rank's share of an epoch: ``per_rank`` crops in ``len()`` whole batches (the same
    for every rank, as DDP needs); ``set_epoch`` makes the next pass that epoch (a loader with
    persistent workers is reused across epochs)."""

    epoch: int

    def _share(self, epoch_size: int, world_size: int, batch_size: int) -> None:
        self.world_size, self.batch_size, self.per_rank = world_size, batch_size, epoch_size // world_size
        if self.per_rank < batch_size:
            raise VibError(f"epoch of {epoch_size} crops over {world_size} rank(s) gives fewer than one batch of "
                           f"{batch_size} per rank")

    def __len__(self) -> int:
        return self.per_rank // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class CropSampler(_EpochShare, Sampler[BatchPlan]):
    """Yields the batch plans of one epoch for one rank (see the module docstring).

    lengths: usable length of each cut in frames (stored) or samples (audio), in ``crop.unit``;
    crop: the crop lengths (every cut is at least ``crop.need`` long)."""

    def __init__(self, lengths: np.ndarray, labels: np.ndarray, speed_labels: np.ndarray, batch_size: int,
                 crop: CropLengths, augment: AugmentConfig | None, aug_sizes: dict[str, int], epoch_size: int | None,
                 seed: int, epoch: int, rank: int, world_size: int):
        self.lengths, self.labels, self.speed_labels = lengths, labels, speed_labels
        self.crop, self.augment, self.aug_sizes = crop, augment, aug_sizes
        self.seed, self.epoch, self.rank = seed, epoch, rank
        self._share(epoch_size if epoch_size is not None else len(lengths), world_size, batch_size)

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        passes = math.ceil(self.per_rank * self.world_size / len(self.lengths))
        order = np.concatenate([rng.permutation(len(self.lengths)) for _ in range(passes)])
        return order[: self.per_rank * self.world_size][self.rank:: self.world_size]

    def _plan_epoch(self) -> dict[str, Any]:
        cut = self._order()
        frames = self.crop.per_batch(self.seed, self.epoch, len(self))
        need = frames[np.minimum(np.arange(len(cut)) // self.batch_size, len(self) - 1)] * self.crop.unit
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 1])
        plan = draw_plan(rng, self.lengths[cut], self.labels[cut], self.speed_labels[:, cut], need,
                         self.augment, self.aug_sizes)
        return dict(cut=cut, frames=frames, **plan)

    def __iter__(self) -> Iterator[BatchPlan]:
        plan = self._plan_epoch()
        for b in range(len(self)):
            s = slice(b * self.batch_size, (b + 1) * self.batch_size)
            yield BatchPlan(plan["cut"][s], plan["label"][s], plan["speed"][s], plan["start"][s], plan["reverb"][s],
                            {k: (i[s], o[s], snr[s]) for k, (i, o, snr) in plan["additive"].items()},
                            int(plan["frames"][b]), plan["channel"][s])


class CropMaker:
    """Executes a :class:`BatchPlan` on the plan's cuts: ``make(plan, cuts)`` ->
    ``(feats [B, frames, F] float32 or a CropBatch, labels [B] int64)``, ``frames`` the plan's
    (default ``crop_frames``); ``plan.cut`` is not used (the caller resolved it into ``cuts``)."""

    def __init__(self, crop_frames: int, fbank_config: dict[str, Any], augment: AugmentConfig | None,
                 fbank_on_device: bool = False):
        self.crop_frames, self.augment, self.fbank_on_device = crop_frames, augment, fbank_on_device
        self.fbank_config = fbank_config
        self.hop = int(round(fbank_config["frame_shift"] * fbank_config["sampling_rate"]))
        self.sources: dict[str, list] = {}
        if augment is not None:
            if augment.rirs is not None:
                self.sources["reverb"] = list(RecordingSet.from_file(augment.rirs))
            for kind, source in augment.additive:
                self.sources[kind] = list(RecordingSet.from_file(source.recordings))
            for kind, recs in self.sources.items():
                if not recs:
                    raise VibError(f"augmentation '{kind}': its manifest has no recordings")

    def make(self, plan: BatchPlan, cuts: list) -> tuple[torch.Tensor | CropBatch, torch.Tensor]:
        frames = plan.frames or self.crop_frames
        feats = (self._stored_crops(cuts, plan.start, frames) if self.augment is None
                 else self._augmented(plan, cuts, frames))
        return feats, torch.from_numpy(plan.label.astype(np.int64))

    def _stored_crops(self, cuts: list, starts: np.ndarray, frames: int) -> torch.Tensor:
        """Stored-feature crops ``[len(cuts), frames, F]`` starting at frames ``starts``."""
        shift = self.fbank_config["frame_shift"]
        out = []
        for cut, start in zip(cuts, starts):
            crop = cut.truncate(offset=start * shift, duration=frames * shift, preserve_id=True)
            out.append(_fit(crop.load_features(), frames))
        return torch.from_numpy(np.stack(out).astype(np.float32))

    def _read(self, cut, start: int, length: int) -> np.ndarray:
        first = int(round(cut.start * cut.sampling_rate)) + start
        try:
            audio = read_samples(cut.recording, first, length)
        except Exception as err:  # audio backends raise many types; name the utterance
            where = cut.recording.sources[0].source
            where = where if isinstance(where, str) else "in memory"
            raise VibError(f"utterance '{cut.id}' (audio '{where}'): cannot read audio: {err}") from err
        return _fit(audio, length)

    def _segment(self, recording, offset_fraction: float, length: int) -> np.ndarray:
        """A ``length``-sample piece of an augmentation recording from a random offset, tiled if short."""
        if recording.num_samples <= length:
            return np.resize(read_samples(recording, 0), length)
        start = int(offset_fraction * (recording.num_samples - length))
        return _fit(read_samples(recording, start, length), length)

    def _augmented(self, plan: BatchPlan, cuts: list, frames: int) -> torch.Tensor | CropBatch:
        """Rows that drew no augmentation come from the stored features (no fbank to compute);
        the others are read as audio, augmented and turned into fbank in one call, here or,
        with ``fbank_on_device``, on the training device (a :class:`CropBatch`)."""
        clean = (plan.speed == 1.0) & (plan.reverb < 0)
        for idx, _, _ in plan.additive.values():
            clean &= idx[:, 0] < 0
        if plan.channel is not None:
            clean &= plan.channel < 0
        clean &= np.array([cut.has_features for cut in cuts])
        stored_rows, rows = np.flatnonzero(clean), np.flatnonzero(~clean)
        stored = (self._stored_crops([cuts[i] for i in stored_rows], plan.start[stored_rows] // self.hop, frames)
                  if len(stored_rows) else None)
        augmented = BatchPlan(plan.cut[rows], plan.label[rows], plan.speed[rows], plan.start[rows], plan.reverb[rows],
                              {k: (i[rows], o[rows], snr[rows]) for k, (i, o, snr) in plan.additive.items()}, frames,
                              None if plan.channel is None else plan.channel[rows])
        waves = self._augmented_waves(augmented, [cuts[i] for i in rows], frames * self.hop) if len(rows) else None
        batch = CropBatch(len(cuts), torch.from_numpy(stored_rows), stored, torch.from_numpy(rows),
                          None if waves is None else torch.from_numpy(waves), self.fbank_config, frames)
        return batch if self.fbank_on_device else batch.to("cpu")

    def _augmented_waves(self, plan: BatchPlan, cuts: list, n: int) -> np.ndarray:
        """The augmented audio crops ``[B, n]`` (samples) of ``plan`` on ``cuts``."""
        waves = np.empty((len(cuts), n), dtype=np.float32)
        for row, (cut, start, speed) in enumerate(zip(cuts, plan.start, plan.speed)):
            if speed == 1.0:
                wave = self._read(cut, start, n)
            else:
                wave = _fit(speed_perturb(self._read(cut, start, int(np.ceil(n * speed))), speed), n)
            if plan.reverb[row] >= 0:
                wave = reverberate(wave, read_samples(self.sources["reverb"][plan.reverb[row]], 0))
            waves[row] = wave
        for kind, (idx, offsets, snr) in plan.additive.items():
            rows = np.flatnonzero(idx[:, 0] >= 0)
            if len(rows) == 0:
                continue
            noise = np.zeros((len(rows), n), dtype=np.float32)
            recordings = self.sources[kind]
            for j, row in enumerate(rows):
                for k in np.flatnonzero(idx[row] >= 0):
                    noise[j] += self._segment(recordings[idx[row, k]], offsets[row, k], n)
            waves[rows] = add_at_snr(waves[rows], noise, snr[rows])
        for row in np.flatnonzero(plan.channel >= 0) if plan.channel is not None else ():
            wave = band_limit(waves[row], self.fbank_config["sampling_rate"], self.augment.channel_rate)
            codec = self.augment.channel_codecs[plan.channel[row]]
            waves[row] = wave if codec == "none" else g711(wave, codec)
        return waves


class CropDataset(Dataset):
    """Map-style: a :class:`BatchPlan` whose ``cut`` indexes ``rows`` of a compact cut index,
    turned into a batch by a :class:`CropMaker`."""

    def __init__(self, index: CutIndex, rows: np.ndarray, maker: CropMaker):
        self.index, self.rows, self.maker = index, rows, maker

    def __len__(self) -> int:
        return len(self.rows)

    def cut(self, i: int):
        """Cut ``i`` of the dataset (rebuilt from the compact index)."""
        return self.index.cut(self.rows[i])

    def __getitem__(self, plan: BatchPlan) -> tuple[torch.Tensor | CropBatch, torch.Tensor]:
        return self.maker.make(plan, [self.cut(i) for i in plan.cut])


@dataclass
class CropBatch:
    """A batch whose augmented rows are still audio: ``to(device)`` computes their fbank
    there (one call for the batch, the stored features' options) and returns the features
    ``[B, crop_frames, F]``, so that the trainer's ``feats.to(device)`` takes either."""

    size: int
    stored_rows: torch.Tensor            # [S] rows read from the stored features
    stored: torch.Tensor | None          # [S, crop_frames, F]
    wave_rows: torch.Tensor              # [K] rows to compute
    waves: torch.Tensor | None           # [K, crop_samples] float32
    fbank_config: dict[str, Any]
    crop_frames: int

    def pin_memory(self) -> "CropBatch":
        pin = (lambda t: None if t is None else t.pin_memory())
        return CropBatch(self.size, self.stored_rows, pin(self.stored), self.wave_rows, pin(self.waves),
                         self.fbank_config, self.crop_frames)

    def to(self, device: str | torch.device, non_blocking: bool = False) -> torch.Tensor:
        parts = []
        if self.stored is not None:
            parts.append((self.stored_rows, self.stored.to(device, non_blocking=non_blocking)))
        if self.waves is not None:
            module = _fbank_module(tuple(sorted(self.fbank_config.items())), str(torch.device(device)))
            with torch.no_grad(), torch.autocast(torch.device(device).type, enabled=False):
                fbank = module(self.waves.to(device, non_blocking=non_blocking))
            parts.append((self.wave_rows, _fit_frames(fbank, self.crop_frames)))
        first = parts[0][1]
        feats = torch.empty((self.size, *first.shape[1:]), dtype=first.dtype, device=first.device)
        for rows, values in parts:
            feats[rows.to(first.device)] = values
        return feats


@functools.lru_cache(maxsize=4)
def _fbank_module(config: tuple, device: str) -> torch.nn.Module:
    """Lhotse's fbank as a torch module on ``device`` (the same one the workers would run)."""
    return fbank_extractor(dict(config)).extractor.to(device).eval()


def _fit(array: np.ndarray, length: int) -> np.ndarray:
    """Trims or edge-pads axis 0 to ``length`` (absorbs one-sample/frame rounding)."""
    if len(array) >= length:
        return array[:length]
    pad = [(0, length - len(array))] + [(0, 0)] * (array.ndim - 1)
    return np.pad(array, pad, mode="edge")


def _fit_frames(feats: torch.Tensor, frames: int) -> torch.Tensor:
    if feats.shape[1] >= frames:
        return feats[:, :frames].contiguous()
    return torch.cat([feats, feats[:, -1:].expand(-1, frames - feats.shape[1], -1)], dim=1)


@functools.lru_cache(maxsize=2)
def _load_index(path: str, mtime_ns: int) -> CutIndex:
    """The compact index of a manifest (read once for spk2id and the loader), built while the
    manifest is read (never a whole CutSet in memory)."""
    return CutIndex(iter_cuts(path), path)


def _cut_index(cuts_path: str) -> CutIndex:
    return _load_index(str(Path(cuts_path).resolve()), Path(cuts_path).stat().st_mtime_ns)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def build_train_loader(source: str, spk2id: dict[str, int], *, batch_size: int,
                       crop_frames: int | Sequence[int] = 200,
                       augment: dict[str, Any] | None = None, epoch_size: int | None = None, num_workers: int = 0,
                       seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1,
                       pin_memory: bool = False, fbank_on_device: bool = False,
                       shuffle_buffer: int = 1000) -> DataLoader:
    """A DataLoader over ``source`` yielding ``(feats FloatTensor[B, T, F], labels LongTensor[B])``,
    T = ``crop_frames`` or, for ``crop_frames = [MIN, MAX]``, each batch's length drawn from MIN..MAX.

    ``source``: a cut manifest with stored fbank (e.g. ``fbank/train/cuts.jsonl.gz``), read at
    random through a compact index, or a shard dir (:mod:`vib.data.shards`), read front to back
    shard by shard with a shuffle buffer of ``shuffle_buffer`` cuts per worker.
    ``augment``: None reads stored features; a dict (see :mod:`vib.data.augment`) reads
    audio, augments it and computes fbank on the fly. ``epoch_size``: crops per epoch over
    all ranks (default: one per usable cut); the last partial batch is dropped. Cuts
    shorter than the longest crop (at the largest speed factor) are skipped, counted, and listed in
    ``<source dir>/too_short_for_crop<longest crop>``; ``spk2id`` must hold every speaker
    (and ``<spk>_sp<factor>`` for each speed factor). Call :func:`set_loader_epoch` before
    each epoch on the same loader (a manifest's workers persist across epochs). ``pin_memory``
    (CUDA training) makes host-to-GPU copies asynchronous. ``fbank_on_device``: workers hand
    augmented crops over as audio (:class:`CropBatch`) and ``batch.to(device)`` computes their
    fbank there, which takes the costliest per-crop step off the CPU workers."""
    sharded = is_shard_dir(source)
    if not sharded and not Path(source).is_file():
        raise VibError(f"missing cut manifest or shard dir '{source}'")
    if not 0 <= rank < world_size:
        raise VibError(f"rank {rank} is outside world size {world_size}")
    if batch_size < 1 or shuffle_buffer < 1:
        raise VibError(f"batch_size and shuffle_buffer must be positive, got {batch_size}, {shuffle_buffer}")
    crop = CropLengths.of(crop_frames)
    aug = parse_augment_config(augment) if augment is not None else None
    where = Path(source) if sharded else Path(source).parent
    fbank_config = read_fbank_config(where)
    hop = int(round(fbank_config["frame_shift"] * fbank_config["sampling_rate"]))
    shards = read_shard_dir(source) if sharded else None
    if shards is not None:
        if aug is not None and not shards.has_audio:
            raise VibError(f"{source}: the shards hold no audio, which online augmentation reads; make them "
                           f"with steps/make_shards.sh --audio true, or train without augmentation")
        ids, speakers = list(shards.utt2spk), list(shards.utt2spk.values())
        frames = np.array([shards.num_frames[u] for u in ids], dtype=np.int64)
        samples = np.array([compute_num_samples(shards.duration[u], fbank_config["sampling_rate"]) for u in ids],
                           dtype=np.int64)
        durations = np.array([shards.duration[u] for u in ids])
    else:
        index = _cut_index(source)
        speakers = _speakers(index, source)
        if aug is None and (index.feat_kinds.codes < 0).any():
            missing = int(np.flatnonzero(index.feat_kinds.codes < 0)[0])
            raise VibError(f"{source}: cut '{index.ids[missing]}' has no stored features; run "
                           f"steps/compute_fbank.sh or train with augmentation")
        ids, frames, samples, durations = index.ids, index.cut_frames, index.cut_samples, index.duration
    factors = _speed_factors(aug)
    for name in sorted({speed_class(s, f) for s in set(speakers) for f in factors} | set(speakers)):
        if name not in spk2id:
            raise VibError(f"class '{name}' of {source} is not in spk2id "
                           f"(build it with build_spk2id(source, speed_factors={list(factors)}))")
    if aug is None:
        lengths = frames
    else:
        lengths, crop = samples, dataclasses.replace(crop, unit=hop)
    min_length = int(np.ceil(crop.need * max((1.0, *factors))))
    usable = lengths >= min_length
    if not usable.all():
        _report_short(where, [(ids[int(i)], float(durations[i])) for i in np.flatnonzero(~usable)], crop.longest,
                      rank)
    if not usable.any():
        raise VibError(f"{source}: no cut is long enough for a crop of {crop.longest} frames")
    maker = CropMaker(crop.longest, fbank_config, aug, fbank_on_device)
    aug_sizes = {k: len(v) for k, v in maker.sources.items()}
    total = epoch_size if epoch_size is not None else int(usable.sum())
    workers = dict(num_workers=num_workers, worker_init_fn=_worker_init if num_workers > 0 else None,
                   pin_memory=pin_memory)
    if shards is not None:
        stream = ShardCropStream(shards.shards, spk2id, factors, maker, batch_size, crop, min_length, aug_sizes,
                                 total, min(shuffle_buffer, max(1, int(usable.sum()) // (world_size * max(1, num_workers)))),
                                 seed, epoch, rank, world_size)
        # workers start anew each epoch, so that they see the epoch that set_loader_epoch set
        return DataLoader(stream, batch_size=None, persistent_workers=False, **workers)
    rows = np.flatnonzero(usable)
    labels, speed_labels = _class_labels([s for s, ok in zip(speakers, usable) if ok], spk2id, factors)
    sampler = CropSampler(lengths[usable], labels, speed_labels, batch_size, crop, aug, aug_sizes, epoch_size,
                          seed, epoch, rank, world_size)
    return DataLoader(CropDataset(index, rows, maker), sampler=sampler, batch_size=None,
                      persistent_workers=num_workers > 0, **workers)


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Makes the next pass over ``loader`` (from :func:`build_train_loader`) epoch ``epoch``."""
    (loader.dataset if isinstance(loader.dataset, IterableDataset) else loader.sampler).set_epoch(epoch)


class ShardCropStream(_EpochShare, IterableDataset):
    """The batches of one epoch for one rank, read from shards (see :mod:`vib.data.shards`).

    Of the R x W reader slots (ranks x DataLoader workers), slot ``rank * W + worker`` reads
    positions slot, slot + R W, slot + 2 R W, ... of an endless sequence of shard permutations
    (seeded by seed, epoch and pass), skipping cuts shorter than ``min_length``, through a
    buffer of ``buffer`` cuts that is shuffled and emptied whenever it is full (seeded by seed,
    epoch, rank, worker). Each worker yields its share of the rank's batches (the same number
    for every rank, as DDP needs); the crop positions and augmentations of a batch are drawn
    as the manifest stream draws them (:func:`draw_plan`). The stream is a function of seed,
    epoch, world size and worker count (not the same stream for another worker count)."""

    def __init__(self, shards: list[Shard], spk2id: dict[str, int], factors: tuple[float, ...], maker: CropMaker,
                 batch_size: int, crop: CropLengths, min_length: int, aug_sizes: dict[str, int], epoch_size: int,
                 buffer: int, seed: int, epoch: int, rank: int, world_size: int):
        self.shards, self.spk2id, self.factors, self.maker = shards, spk2id, factors, maker
        self.crop, self.min_length, self.aug_sizes = crop, min_length, aug_sizes
        self.buffer, self.seed, self.epoch, self.rank = buffer, seed, epoch, rank
        self._share(epoch_size, world_size, batch_size)

    def _length(self, cut) -> int:
        return cut.num_frames if self.maker.augment is None else cut.num_samples

    def _cuts(self, slot: int, slots: int) -> Iterator:
        """Usable cuts of the shards at this slot's positions, endlessly."""
        n, position, empty, perm = len(self.shards), slot, 0, None
        while True:
            if perm is None or position // n != perm[0]:
                perm = (position // n, np.random.default_rng([self.seed, self.epoch, position // n]).permutation(n))
            found = False
            for cut in iter_shard(self.shards[perm[1][position % n]]):
                if self._length(cut) >= self.min_length:
                    found = True
                    yield cut
            empty = 0 if found else empty + 1
            if empty > 4 * n:
                raise VibError(f"{self.shards[0].cuts.parent}: reader slot {slot} found no cut long enough for a "
                               f"crop in {empty} shards in a row")
            position += slots

    def _shuffled(self, cuts: Iterator, rng: np.random.Generator) -> Iterator:
        buffer = []
        for cut in cuts:
            buffer.append(cut)
            if len(buffer) == self.buffer:
                for i in rng.permutation(len(buffer)):
                    yield buffer[i]
                buffer = []

    def _labels(self, cuts: list) -> tuple[np.ndarray, np.ndarray]:
        speakers = []
        for cut in cuts:
            speaker = cut.supervisions[0].speaker if cut.supervisions else None
            if speaker not in self.spk2id:
                raise VibError(f"{cut.shard_origin}: cut '{cut.id}' has speaker {speaker!r}, which is not a class "
                               f"of the shard dir's utt2spk")
            speakers.append(speaker)
        return _class_labels(speakers, self.spk2id, self.factors)

    def __iter__(self) -> Iterator[tuple[torch.Tensor | CropBatch, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        cuts = self._shuffled(self._cuts(self.rank * workers + worker, self.world_size * workers),
                              np.random.default_rng([self.seed, self.epoch, self.rank, worker, 2]))
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker, 1])
        frames = self.crop.per_batch(self.seed, self.epoch, len(self))
        for b in range(worker, len(self), workers):
            batch = list(itertools.islice(cuts, self.batch_size))
            labels, speed_labels = self._labels(batch)
            lengths = np.array([self._length(cut) for cut in batch], dtype=np.int64)
            plan = draw_plan(rng, lengths, labels, speed_labels, int(frames[b]) * self.crop.unit, self.maker.augment,
                             self.aug_sizes)
            yield self.maker.make(BatchPlan(cut=np.arange(len(batch)), frames=int(frames[b]), **plan), batch)


def _report_short(where: Path, short: list, crop_frames: int, rank: int) -> None:
    listing = where / SHORT_LIST_NAME.format(frames=crop_frames)
    if rank == 0:
        with atomic_output(str(listing)) as f:
            f.writelines(f"{cut_id}\t{duration:.3f}\n" for cut_id, duration in short)
    log.warning("%s: skipped %d cut(s) shorter than a %d-frame crop; listed in %s", where, len(short),
                crop_frames, listing)
