"""The training loader: crops, labels, augmentation path, determinism, rank shares, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from lhotse import AudioSource, CutSet, RecordingSet
from lhotse.utils import fastcopy

from tests.data.conftest import SPEAKERS
from vib.data.loader import BatchPlan, build_spk2id, build_train_loader
from vib.errors import VibError


def _cuts(corpus):
    return str(corpus / "fbank" / "cuts.jsonl.gz")


def _batches(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def _full_aug(manifests):
    return {"speed": {"prob": 0.5, "factors": [0.9, 1.1]},
            "reverb": {"prob": 0.5, "rirs": str(manifests / "rir.jsonl.gz")},
            "noise": {"prob": 0.5, "recordings": str(manifests / "noise.jsonl.gz"), "snr": [0, 15]},
            "music": {"prob": 0.3, "recordings": str(manifests / "music.jsonl.gz"), "snr": [5, 15]},
            "babble": {"prob": 0.5, "recordings": str(manifests / "speech.jsonl.gz"), "snr": [13, 20],
                       "speakers": [2, 3]}}


def test_build_spk2id_sorted_with_speed_classes(fbank_corpus):
    assert build_spk2id(_cuts(fbank_corpus)) == {s: i for i, s in enumerate(SPEAKERS)}
    spk2id = build_spk2id(_cuts(fbank_corpus), speed_factors=(0.9, 1.1))
    assert spk2id["spkD"] == 3 and spk2id["spkA_sp0.9"] == 4 and spk2id["spkD_sp1.1"] == 11 and len(spk2id) == 12


def test_stored_crops_are_slices_of_the_stored_features(fbank_corpus):
    spk2id = build_spk2id(_cuts(fbank_corpus))
    loader = build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=4, epoch_size=12, seed=1)
    manifest = list(CutSet.from_file(_cuts(fbank_corpus)))  # the reference: the manifest's own cuts
    cuts = [manifest[i] for i in loader.dataset.rows]
    batches = 0
    for plan, (feats, labels) in zip(loader.sampler, loader):
        assert feats.shape == (4, 200, 80) and feats.dtype == torch.float32 and labels.dtype == torch.int64
        for row, (index, start) in enumerate(zip(plan.cut, plan.start)):
            full = cuts[index].load_features()
            np.testing.assert_allclose(feats[row].numpy(), full[start:start + 200], atol=1e-5)
            assert labels[row] == spk2id[cuts[index].supervisions[0].speaker]
        batches += 1
    assert batches == 3


def test_on_the_fly_fbank_matches_stored_features(fbank_corpus):
    """With augmentation on but nothing drawn, on-the-fly fbank equals the stored one."""
    spk2id = build_spk2id(_cuts(fbank_corpus))
    dataset = build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2, augment={}).dataset
    plan = BatchPlan(cut=np.array([0, 5]), label=np.array([0, 1]), speed=np.ones(2), start=np.array([160 * 7, 0]),
                     reverb=np.array([-1, -1]), additive={})
    feats, _ = dataset[plan]
    for row, frame in enumerate((7, 0)):
        stored = dataset.cut(plan.cut[row]).load_features()[frame:frame + 200]
        # interior frames: the crop's first/last frames see padding instead of neighbouring audio
        np.testing.assert_allclose(feats[row, 2:-2].numpy(), stored[2:-2], atol=0.02)


def test_deterministic_for_seed_epoch_rank_and_any_worker_count(fbank_corpus, augment_manifests):
    spk2id = build_spk2id(_cuts(fbank_corpus), speed_factors=(0.9, 1.1))
    kwargs = dict(batch_size=4, augment=_full_aug(augment_manifests), epoch_size=8, seed=5)
    first = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, **kwargs))
    again = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, num_workers=2, **kwargs))
    other = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, epoch=1, **kwargs))
    for (x1, y1), (x2, y2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(first, other))
    assert all(torch.isfinite(x).all() for x, _ in first)


def test_ranks_get_disjoint_shares(fbank_corpus):
    spk2id = build_spk2id(_cuts(fbank_corpus))
    shares = []
    for rank in range(3):
        loader = build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2, epoch_size=12, seed=3,
                                    rank=rank, world_size=3)
        shares.append({int(i) for plan in loader.sampler for i in plan.cut})
    assert all(len(s) == 4 for s in shares)
    assert set.union(*shares) == set(range(12)) and sum(len(s) for s in shares) == 12
    with pytest.raises(VibError, match="rank 3 is outside world size 3"):
        build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2, rank=3, world_size=3)


def test_speed_perturbed_crops_get_their_own_classes(fbank_corpus, augment_manifests):
    spk2id = build_spk2id(_cuts(fbank_corpus), speed_factors=(0.9, 1.1))
    aug = {"speed": {"prob": 1.0, "factors": [0.9, 1.1]}}
    loader = build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=4, augment=aug, epoch_size=12, seed=2)
    id2spk = {i: s for s, i in spk2id.items()}
    for plan, (_, labels) in zip(loader.sampler, loader):
        for index, speed, label in zip(plan.cut, plan.speed, labels.tolist()):
            speaker = loader.dataset.index.speakers[loader.dataset.rows[index]]
            assert id2spk[label] == f"{speaker}_sp{speed:g}"


def test_short_utterances_are_skipped_counted_and_listed(fbank_corpus, caplog):
    spk2id = build_spk2id(_cuts(fbank_corpus))
    loader = build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2)
    assert len(loader.dataset) == 12 and "skipped 1 cut(s)" in caplog.text
    assert (fbank_corpus / "fbank" / "too_short_for_crop200").read_text().startswith("spkA-short\t1.000")
    with pytest.raises(VibError, match="no cut is long enough for a crop of 400 frames"):
        build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2, crop_frames=400)


def test_crop_lengths_drawn_per_batch_within_the_range(fbank_corpus, augment_manifests):
    spk2id = build_spk2id(_cuts(fbank_corpus))
    kwargs = dict(batch_size=2, epoch_size=12, seed=4)
    loader = build_train_loader(_cuts(fbank_corpus), spk2id, crop_frames=[60, 150], **kwargs)
    manifest = list(CutSet.from_file(_cuts(fbank_corpus)))
    cuts = [manifest[i] for i in loader.dataset.rows]
    lengths = []
    for plan, (feats, _) in zip(loader.sampler, loader):
        assert 60 <= plan.frames <= 150 and feats.shape == (2, plan.frames, 80)
        for row, (index, start) in enumerate(zip(plan.cut, plan.start)):  # real frames, no padding
            full = cuts[index].load_features()
            assert start + plan.frames <= len(full)
            np.testing.assert_allclose(feats[row].numpy(), full[start:start + plan.frames], atol=1e-5)
        lengths.append(plan.frames)
    assert len(set(lengths)) > 1
    # every rank's k-th batch has the same length (DDP ranks step together); fixed = [N, N]
    ranks = [[p.frames for p in build_train_loader(_cuts(fbank_corpus), spk2id, crop_frames=[60, 150], rank=r,
                                                   world_size=2, **kwargs).sampler] for r in (0, 1)]
    assert ranks[0] == ranks[1] == lengths[:len(ranks[0])]
    fixed = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, crop_frames=120, **kwargs))
    pair = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, crop_frames=[120, 120], **kwargs))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(fixed, pair))
    # from audio with augmentation: the same lengths, whatever the worker count
    aug = dict(crop_frames=[60, 150], augment=_full_aug(augment_manifests), **kwargs)
    spk2id = build_spk2id(_cuts(fbank_corpus), speed_factors=(0.9, 1.1))
    one = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, **aug))
    two = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, num_workers=2, **aug))
    assert [x.shape[1] for x, _ in one] == [x.shape[1] for x, _ in two] == lengths
    assert all(torch.equal(a[0], b[0]) for a, b in zip(one, two))
    for bad in ([150, 60], [0, 10], [1, 2, 3], "200"):
        with pytest.raises(VibError, match="crop_frames must be a positive number of frames or"):
            build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2, crop_frames=bad)


def test_bad_loader_inputs(fbank_corpus, augment_manifests, tmp_path):
    with pytest.raises(VibError, match="class 'spkD' .* is not in spk2id"):
        build_train_loader(_cuts(fbank_corpus), {"spkA": 0, "spkB": 1, "spkC": 2}, batch_size=2)
    with pytest.raises(VibError, match="class 'spkA_sp1.1'"):
        build_train_loader(_cuts(fbank_corpus), build_spk2id(_cuts(fbank_corpus)), batch_size=2,
                           augment={"speed": {"prob": 0.5, "factors": [1.1]}})
    with pytest.raises(VibError, match="fewer than one batch"):
        build_train_loader(_cuts(fbank_corpus), build_spk2id(_cuts(fbank_corpus)), batch_size=64)
    with pytest.raises(VibError, match="missing cut manifest"):
        build_train_loader(str(tmp_path / "none.jsonl.gz"), {}, batch_size=2)
    # audio that disappeared after feature extraction: the error names utterance and file
    cuts = CutSet.from_file(_cuts(fbank_corpus)).to_eager()
    cut = cuts[0] if cuts[0].duration > 2 else cuts[1]
    gone = AudioSource(type="file", channels=[0], source=str(tmp_path / "gone.wav"))
    moved = fastcopy(cut, recording=fastcopy(cut.recording, sources=[gone]))
    (tmp_path / "fbank").mkdir()
    CutSet.from_cuts(moved if c.id == cut.id else c for c in cuts).to_file(tmp_path / "fbank" / "cuts.jsonl.gz")
    loader = build_train_loader(str(tmp_path / "fbank" / "cuts.jsonl.gz"), build_spk2id(_cuts(fbank_corpus)),
                                batch_size=12, augment={"reverb": {"prob": 1.0, "rirs": str(augment_manifests / "rir.jsonl.gz")}})
    with pytest.raises(VibError, match=f"utterance '{cut.id}' .*gone.wav"):
        next(iter(loader))


def test_augmentation_manifests_from_musan_and_rirs_trees(augment_manifests):
    counts = {k: len(RecordingSet.from_file(augment_manifests / f"{k}.jsonl.gz"))
              for k in ("noise", "music", "speech", "rir")}
    assert counts == {"noise": 2, "music": 2, "speech": 2, "rir": 6}
    rir_ids = {r.id for r in RecordingSet.from_file(augment_manifests / "rir.jsonl.gz")}
    assert "mediumroom-Room001-00002" in rir_ids


def test_speed_factors_of_config():
    from vib.data.loader import speed_factors_of
    assert speed_factors_of(None) == ()
    assert speed_factors_of({"speed": {"prob": 0.3, "factors": [0.9, 1.1]}}) == (0.9, 1.1)
    assert speed_factors_of({"speed": {"prob": 0.0, "factors": [0.9]}}) == ()


def test_unaugmented_crops_of_an_augmented_stream_are_the_stored_features(fbank_corpus, augment_manifests):
    """A crop that drew no augmentation needs no fbank: it is read from the stored features
    (the crop's frame = its sample start // hop); augmented rows are computed from audio."""
    spk2id = build_spk2id(_cuts(fbank_corpus))
    aug = _full_aug(augment_manifests)
    aug.pop("speed")
    dataset = build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2, augment=aug).dataset
    reverb = np.array([-1, 0])
    plan = BatchPlan(cut=np.array([0, 5]), label=np.array([0, 1]), speed=np.ones(2), start=np.array([160 * 7 + 5, 0]),
                     reverb=reverb, additive={})
    feats, _ = dataset[plan]
    np.testing.assert_array_equal(feats[0].numpy(), dataset.cut(0).load_features()[7:207])
    stored = dataset.cut(5).load_features()[:200]
    assert not np.allclose(feats[1].numpy(), stored, atol=0.02)  # reverberated: computed from audio


def test_the_channel_is_drawn_last_and_applied_after_the_noise(fbank_corpus, augment_manifests):
    """A config without the channel draws the plan it drew before (the channel comes last); a
    crop that drew it is the band-limited, G.711-coded audio (its fbank: computed from it)."""
    from vib.data.augment import band_limit, g711, parse_augment_config
    from vib.data.loader import draw_plan
    rng_args = dict(lengths=np.full(50, 40000), labels=np.arange(50), speed_labels=np.zeros((0, 50), int),
                    need=32000, aug_sizes={"reverb": 3, "noise": 4})
    aug = _full_aug(augment_manifests)
    for kind in ("speed", "music", "babble"):
        aug.pop(kind)
    before = draw_plan(np.random.default_rng(0), aug=parse_augment_config(aug), **rng_args)
    channel = {"prob": 0.5, "codecs": ["mulaw", "alaw", "none"]}
    after = draw_plan(np.random.default_rng(0), aug=parse_augment_config({**aug, "channel": channel}), **rng_args)
    for key in ("label", "speed", "start", "reverb"):
        np.testing.assert_array_equal(before[key], after[key])
    np.testing.assert_array_equal(before["additive"]["noise"][0], after["additive"]["noise"][0])
    assert np.all(before["channel"] == -1) and set(after["channel"]) == {-1, 0, 1, 2}
    spk2id = build_spk2id(_cuts(fbank_corpus))
    dataset = build_train_loader(_cuts(fbank_corpus), spk2id, batch_size=2,
                                 augment={"channel": {"prob": 1.0, "codecs": ["alaw"]}}).dataset
    plan = BatchPlan(cut=np.array([0, 5]), label=np.array([0, 1]), speed=np.ones(2), start=np.array([0, 160 * 3]),
                     reverb=np.array([-1, -1]), additive={}, channel=np.array([-1, 0]))
    feats, _ = dataset[plan]
    np.testing.assert_array_equal(feats[0].numpy(), dataset.cut(0).load_features()[:200])  # no channel: stored
    assert not np.allclose(feats[1].numpy(), dataset.cut(5).load_features()[3:203], atol=0.05)
    maker, n = dataset.maker, 200 * dataset.maker.hop
    one = BatchPlan(cut=np.array([5]), label=np.array([1]), speed=np.ones(1), start=np.array([160 * 3]),
                    reverb=np.array([-1]), additive={}, channel=np.array([0]))
    expected = g711(band_limit(maker._read(dataset.cut(5), 160 * 3, n), 16000, 8000), "alaw")
    np.testing.assert_array_equal(maker._augmented_waves(one, [dataset.cut(5)], n)[0], expected)


def test_persistent_workers_reused_across_epochs_equal_fresh_loaders(fbank_corpus, augment_manifests):
    spk2id = build_spk2id(_cuts(fbank_corpus), speed_factors=(0.9, 1.1))
    kwargs = dict(batch_size=4, augment=_full_aug(augment_manifests), epoch_size=8, seed=5, num_workers=2)
    reused = build_train_loader(_cuts(fbank_corpus), spk2id, **kwargs)
    assert reused.persistent_workers
    _batches(reused)
    reused.sampler.set_epoch(1)
    fresh = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, epoch=1, **kwargs))
    for (x1, y1), (x2, y2) in zip(_batches(reused), fresh):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_cut_index_rebuilds_the_manifest_cuts_in_a_fraction_of_the_memory(fbank_corpus):
    """The training stream holds a compact index (arrays and blobs), not ~1.3 KB of Python
    objects per cut; every cut it rebuilds has the manifest's features, recording and lengths."""
    from vib.data.cut_index import CutIndex

    manifest = list(CutSet.from_file(_cuts(fbank_corpus)))
    index = CutIndex(manifest)
    for i, cut in enumerate(manifest):
        rebuilt = index.cut(i)
        assert (rebuilt.id, rebuilt.start, rebuilt.duration, rebuilt.channel) == (cut.id, cut.start, cut.duration,
                                                                                cut.channel)
        assert rebuilt.features == cut.features and rebuilt.recording == cut.recording
        assert (index.cut_frames[i], index.cut_samples[i]) == (cut.num_frames, cut.num_samples)
        assert index.speakers[i] == cut.supervisions[0].speaker
        np.testing.assert_array_equal(rebuilt.load_features(), cut.load_features())
    many = CutIndex(manifest * 500)
    arrays = [v for v in vars(many).values() if isinstance(v, np.ndarray)]
    held = sum(a.nbytes for a in arrays) + sum(
        len(v.blob) + v.offsets.nbytes for v in vars(many).values() if hasattr(v, "blob")) + sum(
        v.codes.nbytes for v in vars(many).values() if hasattr(v, "codes"))
    assert held / len(many) < 400  # bytes per cut (a MonoCut with features and recording: ~1.3 KB of heap)


def test_fbank_on_the_training_device_equals_fbank_in_the_workers(fbank_corpus, augment_manifests):
    """With fbank_on_device, workers hand augmented crops over as audio and ``batch.to(device)``
    computes their fbank there: the same batches (run here on the CPU as the device)."""
    from vib.data.loader import CropBatch

    spk2id = build_spk2id(_cuts(fbank_corpus), speed_factors=(0.9, 1.1))
    kwargs = dict(batch_size=4, augment=_full_aug(augment_manifests), epoch_size=12, seed=4)
    workers = _batches(build_train_loader(_cuts(fbank_corpus), spk2id, **kwargs))
    loader = build_train_loader(_cuts(fbank_corpus), spk2id, num_workers=2, fbank_on_device=True, pin_memory=False,
                                **kwargs)
    kinds = set()
    for (x, y), (batch, labels) in zip(workers, loader):
        kinds.add(type(batch))
        assert torch.equal(batch.to("cpu"), x) and torch.equal(labels, y)
    assert kinds == {CropBatch}
