"""Training stream: random fixed-length crops with integer speaker labels.

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
"""
from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from lhotse import RecordingSet
from torch.utils.data import DataLoader, Dataset, Sampler

from vib.cli import VibError
from vib.data.audio import read_samples
from vib.data.augment import AugmentConfig, add_at_snr, parse_augment_config, reverberate, speed_perturb
from vib.data.cut_index import CutIndex
from vib.data.features import fbank_extractor, read_fbank_config
from vib.data.manifests import load_cuts
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


def _speed_factors(aug: AugmentConfig | None) -> tuple[float, ...]:
    return aug.speed_factors if aug is not None and aug.speed_prob > 0 else ()


def speed_factors_of(augment: dict[str, Any] | None) -> tuple[float, ...]:
    """The speed factors that an augmentation config (YAML dict) turns into new classes."""
    return _speed_factors(parse_augment_config(augment) if augment is not None else None)


def build_spk2id(cuts_path: str, speed_factors: tuple[float, ...] | list[float] = ()) -> dict[str, int]:
    """Speaker id -> class index: the speakers sorted (C order) take 0..S-1, then for each
    speed factor in the order given its copies ``<spk>_sp<factor>`` take the next S."""
    if not Path(cuts_path).is_file():
        raise VibError(f"missing cut manifest '{cuts_path}'")
    speakers = sorted(set(_speakers(_cut_index(cuts_path), cuts_path)), key=lambda s: s.encode())
    names = speakers + [speed_class(s, f) for f in speed_factors for s in speakers]
    return {name: index for index, name in enumerate(names)}


@dataclass
class BatchPlan:
    """Every random choice for one batch of B crops (arrays of length B unless stated)."""

    cut: np.ndarray          # index into the dataset's cuts
    label: np.ndarray        # class index (speed copies are their own classes)
    speed: np.ndarray        # speed factor, 1.0 = none
    start: np.ndarray        # crop start: frame (stored features) or sample (audio)
    reverb: np.ndarray       # RIR index, -1 = none
    additive: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # kind -> (idx [B, K] -1 = unused, offset
    # fraction [B, K], snr dB [B]); a row with idx[:, 0] == -1 gets none of that kind


class CropSampler(Sampler[BatchPlan]):
    """Yields the batch plans of one epoch for one rank (see the module docstring).

    lengths: usable length of each cut in frames (stored) or samples (audio);
    need: the length a crop consumes at speed 1."""

    def __init__(self, lengths: np.ndarray, labels: np.ndarray, speed_labels: np.ndarray, batch_size: int,
                 need: int, augment: AugmentConfig | None, aug_sizes: dict[str, int], epoch_size: int | None,
                 seed: int, epoch: int, rank: int, world_size: int):
        self.lengths, self.labels, self.speed_labels = lengths, labels, speed_labels
        self.batch_size, self.need, self.augment, self.aug_sizes = batch_size, need, augment, aug_sizes
        self.seed, self.epoch, self.rank, self.world_size = seed, epoch, rank, world_size
        total = epoch_size if epoch_size is not None else len(lengths)
        self.per_rank = total // world_size
        if self.per_rank < batch_size:
            raise VibError(f"epoch of {total} crops over {world_size} rank(s) gives fewer than one batch of "
                           f"{batch_size} per rank")

    def __len__(self) -> int:
        return self.per_rank // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Plans ``epoch`` next (a loader with persistent workers is reused across epochs)."""
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        passes = math.ceil(self.per_rank * self.world_size / len(self.lengths))
        order = np.concatenate([rng.permutation(len(self.lengths)) for _ in range(passes)])
        return order[: self.per_rank * self.world_size][self.rank:: self.world_size]

    def _plan_epoch(self) -> dict[str, Any]:
        n = self.per_rank
        cut = self._order()
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 1])
        aug = self.augment
        speed = np.ones(n)
        label = self.labels[cut]
        if aug is not None and aug.speed_prob > 0:
            which = rng.integers(len(aug.speed_factors), size=n)
            on = rng.random(n) < aug.speed_prob
            speed = np.where(on, np.asarray(aug.speed_factors)[which], 1.0)
            label = np.where(on, self.speed_labels[which, cut], label)
        need = np.ceil(self.need * speed).astype(np.int64)
        start = np.floor(rng.random(n) * (self.lengths[cut] - need + 1)).astype(np.int64)
        reverb = np.full(n, -1)
        if aug is not None and aug.reverb_prob > 0:
            reverb = np.where(rng.random(n) < aug.reverb_prob, rng.integers(self.aug_sizes["reverb"], size=n), -1)
        additive = {}
        for kind, source in (aug.additive if aug is not None else ()):
            k_max = source.speakers[1]
            count = rng.integers(source.speakers[0], k_max + 1, size=n)
            count[rng.random(n) >= source.prob] = 0
            idx = rng.integers(self.aug_sizes[kind], size=(n, k_max))
            idx[np.arange(k_max)[None, :] >= count[:, None]] = -1
            additive[kind] = (idx, rng.random((n, k_max)), rng.uniform(*source.snr, size=n))
        return dict(cut=cut, label=label, speed=speed, start=start, reverb=reverb, additive=additive)

    def __iter__(self) -> Iterator[BatchPlan]:
        plan = self._plan_epoch()
        for b in range(len(self)):
            s = slice(b * self.batch_size, (b + 1) * self.batch_size)
            yield BatchPlan(plan["cut"][s], plan["label"][s], plan["speed"][s], plan["start"][s], plan["reverb"][s],
                            {k: (i[s], o[s], snr[s]) for k, (i, o, snr) in plan["additive"].items()})


class CropDataset(Dataset):
    """Turns a :class:`BatchPlan` into ``(feats [B, crop_frames, F] float32, labels [B] int64)``."""

    def __init__(self, index: CutIndex, rows: np.ndarray, crop_frames: int, fbank_config: dict[str, Any],
                 augment: AugmentConfig | None, fbank_on_device: bool = False):
        self.index, self.rows, self.crop_frames, self.augment = index, rows, crop_frames, augment
        self.fbank_on_device = fbank_on_device
        self.fbank_config = fbank_config
        self.hop = int(round(fbank_config["frame_shift"] * fbank_config["sampling_rate"]))
        self.crop_samples = crop_frames * self.hop
        self.sources: dict[str, list] = {}
        if augment is not None:
            if augment.rirs is not None:
                self.sources["reverb"] = list(RecordingSet.from_file(augment.rirs))
            for kind, source in augment.additive:
                self.sources[kind] = list(RecordingSet.from_file(source.recordings))
            for kind, recs in self.sources.items():
                if not recs:
                    raise VibError(f"augmentation '{kind}': its manifest has no recordings")

    def __len__(self) -> int:
        return len(self.rows)

    def cut(self, i: int):
        """Cut ``i`` of the dataset (rebuilt from the compact index)."""
        return self.index.cut(self.rows[i])

    def __getitem__(self, plan: BatchPlan) -> tuple[torch.Tensor | CropBatch, torch.Tensor]:
        feats = self._stored(plan) if self.augment is None else self._augmented(plan)
        return feats, torch.from_numpy(plan.label.astype(np.int64))

    def _stored(self, plan: BatchPlan) -> torch.Tensor:
        return self._stored_crops(plan.cut, plan.start)

    def _stored_crops(self, cuts: np.ndarray, starts: np.ndarray) -> torch.Tensor:
        """Stored-feature crops ``[len(cuts), crop_frames, F]`` starting at frames ``starts``."""
        shift = self.fbank_config["frame_shift"]
        out = []
        for index, start in zip(cuts, starts):
            cut = self.cut(index)
            crop = cut.truncate(offset=start * shift, duration=self.crop_frames * shift, preserve_id=True)
            out.append(_fit(crop.load_features(), self.crop_frames))
        return torch.from_numpy(np.stack(out).astype(np.float32))

    def _read(self, cut, start: int, length: int) -> np.ndarray:
        first = int(round(cut.start * cut.sampling_rate)) + start
        try:
            audio = read_samples(cut.recording, first, length)
        except Exception as err:  # audio backends raise many types; name the utterance
            raise VibError(f"utterance '{cut.id}' (audio '{cut.recording.sources[0].source}'): "
                           f"cannot read audio: {err}") from err
        return _fit(audio, length)

    def _segment(self, recording, offset_fraction: float, length: int) -> np.ndarray:
        """A ``length``-sample piece of an augmentation recording from a random offset, tiled if short."""
        if recording.num_samples <= length:
            return np.resize(read_samples(recording, 0), length)
        start = int(offset_fraction * (recording.num_samples - length))
        return _fit(read_samples(recording, start, length), length)

    def _augmented(self, plan: BatchPlan) -> torch.Tensor | CropBatch:
        """Rows that drew no augmentation come from the stored features (no fbank to compute);
        the others are read as audio, augmented and turned into fbank in one call, here or,
        with ``fbank_on_device``, on the training device (a :class:`CropBatch`)."""
        clean = (plan.speed == 1.0) & (plan.reverb < 0)
        for idx, _, _ in plan.additive.values():
            clean &= idx[:, 0] < 0
        clean &= self.index.feat_kinds.codes[self.rows[plan.cut]] >= 0
        stored = self._stored_crops(plan.cut[clean], plan.start[clean] // self.hop) if clean.any() else None
        rows = ~clean
        waves = self._augmented_waves(BatchPlan(
            plan.cut[rows], plan.label[rows], plan.speed[rows], plan.start[rows], plan.reverb[rows],
            {k: (i[rows], o[rows], snr[rows]) for k, (i, o, snr) in plan.additive.items()})) if rows.any() else None
        batch = CropBatch(len(plan.cut), torch.from_numpy(np.flatnonzero(clean)), stored,
                          torch.from_numpy(np.flatnonzero(rows)), None if waves is None else torch.from_numpy(waves),
                          self.fbank_config, self.crop_frames)
        return batch if self.fbank_on_device else batch.to("cpu")

    def _augmented_waves(self, plan: BatchPlan) -> np.ndarray:
        """The augmented audio crops ``[B, crop_samples]`` of ``plan``."""
        n = self.crop_samples
        waves = np.empty((len(plan.cut), n), dtype=np.float32)
        for row, (index, start, speed) in enumerate(zip(plan.cut, plan.start, plan.speed)):
            cut = self.cut(index)
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
        return waves


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
    """The compact index of a manifest (read once for spk2id and the loader)."""
    return CutIndex(load_cuts(path), path)


def _cut_index(cuts_path: str) -> CutIndex:
    return _load_index(str(Path(cuts_path).resolve()), Path(cuts_path).stat().st_mtime_ns)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def build_train_loader(cuts_path: str, spk2id: dict[str, int], *, batch_size: int, crop_frames: int = 200,
                       augment: dict[str, Any] | None = None, epoch_size: int | None = None, num_workers: int = 0,
                       seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1,
                       pin_memory: bool = False, fbank_on_device: bool = False) -> DataLoader:
    """A DataLoader over ``cuts_path`` (cuts with stored fbank, e.g. ``fbank/train/cuts.jsonl.gz``)
    yielding ``(feats FloatTensor[B, crop_frames, F], labels LongTensor[B])``.

    ``augment``: None reads stored features; a dict (see :mod:`vib.data.augment`) reads
    audio, augments it and computes fbank on the fly. ``epoch_size``: crops per epoch over
    all ranks (default: one per usable cut); the last partial batch is dropped. Cuts
    shorter than a crop (at the largest speed factor) are skipped, counted, and listed in
    ``<cuts dir>/too_short_for_crop<crop_frames>``; ``spk2id`` must hold every speaker
    (and ``<spk>_sp<factor>`` for each speed factor). Workers persist: for the next epoch
    call ``loader.sampler.set_epoch(e)`` on the same loader. ``pin_memory`` (CUDA training)
    makes host-to-GPU copies asynchronous. ``fbank_on_device``: workers hand augmented
    crops over as audio (:class:`CropBatch`) and ``batch.to(device)`` computes their fbank
    there, which takes the costliest per-crop step off the CPU workers."""
    if not Path(cuts_path).is_file():
        raise VibError(f"missing cut manifest '{cuts_path}'")
    if not 0 <= rank < world_size:
        raise VibError(f"rank {rank} is outside world size {world_size}")
    if batch_size < 1 or crop_frames < 1:
        raise VibError(f"batch_size and crop_frames must be positive, got {batch_size}, {crop_frames}")
    aug = parse_augment_config(augment) if augment is not None else None
    fbank_config = read_fbank_config(Path(cuts_path).parent)
    index = _cut_index(cuts_path)
    speakers = _speakers(index, cuts_path)
    factors = _speed_factors(aug)
    for name in sorted({speed_class(s, f) for s in set(speakers) for f in factors} | set(speakers)):
        if name not in spk2id:
            raise VibError(f"class '{name}' of {cuts_path} is not in spk2id "
                           f"(build it with build_spk2id(cuts_path, speed_factors={list(factors)}))")
    hop = int(round(fbank_config["frame_shift"] * fbank_config["sampling_rate"]))
    if aug is None:
        missing = np.flatnonzero(index.feat_kinds.codes < 0)
        if missing.size:
            raise VibError(f"{cuts_path}: cut '{index.ids[int(missing[0])]}' has no stored features; run "
                           f"steps/compute_fbank.sh or train with augmentation")
        lengths = index.cut_frames
        need = crop_frames
    else:
        lengths = index.cut_samples
        need = crop_frames * hop
    longest = max((1.0, *factors))
    usable = lengths >= int(np.ceil(need * longest))
    if not usable.all():
        _report_short(cuts_path, [(index.ids[int(i)], float(index.duration[i])) for i in np.flatnonzero(~usable)],
                      crop_frames, rank)
    if not usable.any():
        raise VibError(f"{cuts_path}: no cut is long enough for a crop of {crop_frames} frames")
    rows = np.flatnonzero(usable)
    kept_speakers = [s for s, ok in zip(speakers, usable) if ok]
    labels = np.array([spk2id[s] for s in kept_speakers], dtype=np.int64)
    speed_labels = np.array([[spk2id[speed_class(s, f)] for s in kept_speakers] for f in factors],
                            dtype=np.int64).reshape(len(factors), len(rows))
    dataset = CropDataset(index, rows, crop_frames, fbank_config, aug, fbank_on_device)
    sampler = CropSampler(lengths[usable], labels, speed_labels, batch_size, need, aug,
                          {k: len(v) for k, v in dataset.sources.items()}, epoch_size, seed, epoch, rank, world_size)
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers,
                      worker_init_fn=_worker_init if num_workers > 0 else None, persistent_workers=num_workers > 0,
                      pin_memory=pin_memory)


def _report_short(cuts_path: str, short: list, crop_frames: int, rank: int) -> None:
    listing = Path(cuts_path).parent / SHORT_LIST_NAME.format(frames=crop_frames)
    if rank == 0:
        with atomic_output(str(listing)) as f:
            f.writelines(f"{cut_id}\t{duration:.3f}\n" for cut_id, duration in short)
    log.warning("%s: skipped %d cut(s) shorter than a %d-frame crop; listed in %s", cuts_path, len(short),
                crop_frames, listing)
