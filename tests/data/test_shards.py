"""Lhotse Shar shards: writing, reading back the manifest's features and audio, the shard-fed
training stream (label distribution, rank/worker shares, epochs), and shards from elsewhere."""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from lhotse import CutSet

from tests.conftest import REPO
from tests.data.conftest import corpus_with_speakers
from vib.data.features import FBANK_DEFAULTS, write_fbank_config
from vib.data.loader import BatchPlan, build_spk2id, build_train_loader, set_loader_epoch
from vib.data.shards import iter_shard, read_shard_dir, write_shards
from vib.errors import VibError

SPEAKERS = 6
PER_SPEAKER = 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """48 utterances of 2.1-2.8 s over 6 speakers (plus one 1-s utterance) with stored fbank."""
    return corpus_with_speakers(tmp_path_factory.mktemp("shard_corpus"), SPEAKERS, PER_SPEAKER, 2.1, 0.1)


@pytest.fixture(scope="module")
def shards(corpus) -> Path:
    write_shards(corpus / "fbank" / "cuts.jsonl.gz", corpus / "shards", shard_size=7, audio=True, seed=3)
    return corpus / "shards"


def _manifest(corpus: Path) -> str:
    return str(corpus / "fbank" / "cuts.jsonl.gz")


def test_shards_hold_every_cut_with_the_manifests_features_and_audio_in_a_mixed_order(corpus, shards):
    manifest = {c.id: c for c in CutSet.from_file(_manifest(corpus))}
    shard_set = read_shard_dir(shards)
    assert len(shard_set.shards) == 7 and shard_set.has_audio  # ceil(49 / 7)
    read = [cut for shard in shard_set.shards for cut in iter_shard(shard)]
    assert sorted(c.id for c in read) == sorted(manifest)
    for cut in read:
        ref = manifest[cut.id]
        # lilcom again at the same tick (2^-5): within half a tick of the stored values
        np.testing.assert_allclose(cut.load_features(), ref.load_features(), rtol=0, atol=2.0 ** -6 + 1e-6)
        np.testing.assert_array_equal(cut.load_audio(), ref.load_audio())  # FLAC: lossless
        assert cut.supervisions[0].speaker == ref.supervisions[0].speaker
        assert shard_set.num_frames[cut.id] == ref.num_frames and shard_set.duration[cut.id] == ref.duration
        assert shard_set.utt2spk[cut.id] == ref.supervisions[0].speaker
    first = [c.supervisions[0].speaker for c in iter_shard(shard_set.shards[0])]
    assert len(set(first)) >= 3  # shuffled before sharding: a shard mixes speakers
    assert (shards / "fbank.yaml").read_text() == (corpus / "fbank" / "fbank.yaml").read_text()


def test_write_replaces_atomically_and_removes_dead_writers_leftovers(corpus, tmp_path):
    out = tmp_path / "sh"
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"sh.tmp.{dead.pid}"
    stale.mkdir()
    (stale / "cuts.000000.jsonl.gz").write_bytes(b"half")
    assert write_shards(_manifest(corpus), out, shard_size=100) == 1
    assert not stale.exists() and not (out / "recording.000000.tar").exists()
    before = (out / "utt2spk").read_text()
    write_shards(_manifest(corpus), out, shard_size=20, seed=1)
    assert len(read_shard_dir(out).shards) == 3 and (out / "utt2spk").read_text() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sh"]


def test_cuts_without_features_or_speaker_are_refused_naming_the_cut(corpus, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_fbank_config(src, FBANK_DEFAULTS)
    (src / "cuts.jsonl.gz").write_bytes((corpus / "data" / "cuts.jsonl.gz").read_bytes())
    with pytest.raises(VibError, match=r"cut 'spk0-short' has no stored features"):
        write_shards(src / "cuts.jsonl.gz", tmp_path / "sh")
    cuts = list(CutSet.from_file(_manifest(corpus)))
    cuts[5].supervisions[0].speaker = None
    CutSet.from_cuts(cuts).to_file(src / "cuts.jsonl.gz")
    with pytest.raises(VibError, match=rf"cut '{cuts[5].id}' has no supervision with a speaker"):
        write_shards(src / "cuts.jsonl.gz", tmp_path / "sh")
    (src / "fbank.yaml").unlink()
    with pytest.raises(VibError, match=r"missing '.*src/fbank.yaml'"):
        write_shards(src / "cuts.jsonl.gz", tmp_path / "sh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def _epoch_labels(source: str, spk2id: dict, **kwargs) -> list[int]:
    loader = build_train_loader(source, spk2id, batch_size=6, crop_frames=200, seed=0, **kwargs)
    return [int(v) for _, y in loader for v in y]


def test_shard_fed_epoch_draws_the_manifest_fed_label_distribution(corpus, shards):
    """One crop per usable cut (48): fed from shards with one reader, exactly the manifest's
    labels; with 2 ranks x 2 workers (4 reader slots over 7 shards) the same distribution
    within a total-variation distance of 0.1, every rank the same number of batches."""
    spk2id = build_spk2id(str(shards))
    assert spk2id == build_spk2id(_manifest(corpus))
    manifest = Counter(_epoch_labels(_manifest(corpus), spk2id))
    assert sum(manifest.values()) == 48 and set(manifest.values()) == {PER_SPEAKER}
    assert Counter(_epoch_labels(str(shards), spk2id, shuffle_buffer=8)) == manifest
    ranks = [_epoch_labels(str(shards), spk2id, rank=r, world_size=2, num_workers=2) for r in range(2)]
    assert [len(r) for r in ranks] == [24, 24]
    both = Counter(ranks[0] + ranks[1])
    tv = 0.5 * sum(abs(both[k] - manifest[k]) for k in manifest) / 48
    assert tv <= 0.1, (both, manifest)


def test_shard_stream_is_a_function_of_seed_and_epoch(corpus, shards):
    spk2id = build_spk2id(str(shards))
    loader = build_train_loader(str(shards), spk2id, batch_size=4, crop_frames=150, epoch_size=16, num_workers=2,
                                seed=2)
    first = [(x.clone(), y.clone()) for x, y in loader]
    set_loader_epoch(loader, 1)
    second = [(x.clone(), y.clone()) for x, y in loader]
    again = [(x, y) for x, y in build_train_loader(str(shards), spk2id, batch_size=4, crop_frames=150, epoch_size=16,
                                                    num_workers=2, seed=2, epoch=1)]
    assert len(first) == len(second) == 4
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(first, second))
    for (x1, y1), (x2, y2) in zip(second, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    for x, _ in first:
        assert x.shape == (4, 150, 80) and torch.isfinite(x).all()
    # crop lengths drawn per batch: the manifest stream's lengths, whichever worker makes the batch
    varied = [x.shape[1] for x, _ in build_train_loader(str(shards), spk2id, batch_size=4, crop_frames=[60, 150],
                                                        epoch_size=16, num_workers=2, seed=2)]
    manifest = build_train_loader(str(corpus / "fbank" / "cuts.jsonl.gz"), spk2id, batch_size=4,
                                  crop_frames=[60, 150], epoch_size=16, seed=2)
    assert varied == [plan.frames for plan in manifest.sampler] and len(set(varied)) > 1


def test_shard_crops_are_the_manifest_crops_of_the_same_plan(corpus, shards):
    """The crops of one plan are the same whether the cuts come from the manifest or from the
    shards: identical for augmented (speed-perturbed audio) rows, within half a lilcom tick
    for stored-feature rows."""
    from vib.data.loader import CropMaker
    from vib.data.manifests import load_cuts

    aug = {"speed": {"prob": 1.0, "factors": [1.1]}}
    spk2id = build_spk2id(str(shards), speed_factors=(1.1,))
    maker = build_train_loader(str(shards), spk2id, batch_size=2, augment=aug).dataset.maker
    assert isinstance(maker, CropMaker)
    by_id = {c.id: c for shard in read_shard_dir(shards).shards for c in iter_shard(shard)}
    manifest = [c for c in load_cuts(_manifest(corpus)) if c.id in ("spk1-u3", "spk4-u7")]
    plan = BatchPlan(cut=np.arange(2), label=np.array([0, 1]), speed=np.array([1.0, 1.1]),
                     start=np.array([1600, 333]), reverb=np.array([-1, -1]), additive={})
    want, _ = maker.make(plan, manifest)
    got, _ = maker.make(plan, [by_id[c.id] for c in manifest])
    assert torch.equal(got[1], want[1])
    assert (got[0] - want[0]).abs().max() <= 2.0 ** -6 + 1e-6 and not torch.equal(got[0], want[1])


def test_augmentation_needs_shards_with_audio(corpus, tmp_path):
    write_shards(_manifest(corpus), tmp_path / "sh", shard_size=50)
    spk2id = build_spk2id(str(tmp_path / "sh"), speed_factors=(1.1,))
    with pytest.raises(VibError, match=r"hold no audio.*--audio true"):
        build_train_loader(str(tmp_path / "sh"), spk2id, batch_size=2, augment={"speed": {"prob": 0.5,
                                                                                        "factors": [1.1]}})


def _rewrite_member(tar_path: Path, suffix: str, data: bytes) -> None:
    """Replaces the data of the first member ending in ``suffix`` of a shard tar."""
    with tarfile.open(tar_path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(tar_path, "w") as tar:
        for member, payload in members:
            if member.name.endswith(suffix) and data is not None:
                payload, data = data, None
                member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))


def _copy(shards: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    for p in shards.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    return out


def test_shards_from_elsewhere_are_data(shards, tmp_path):
    """A cut whose recording the shards do not hold keeps what the manifest says, and a URL
    is refused naming shard and cut; a pickled .npy member is refused by NumPy, never loaded."""
    copy = _copy(shards, tmp_path / "a")
    for p in copy.glob("recording.*.tar"):
        p.unlink()
    cuts = copy / "cuts.000000.jsonl.gz"
    lines = [json.loads(line) for line in gzip.open(cuts, "rt")]
    lines[0]["recording"]["sources"][0].update(type="url", source="http://example.com/a.wav")
    with gzip.open(cuts, "wt") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    shard = read_shard_dir(copy).shards[0]
    with pytest.raises(VibError, match=rf"cuts.000000.jsonl.gz: cut '{lines[0]['id']}' has audio of source type 'url'"):
        list(iter_shard(shard))

    copy2 = _copy(shards, tmp_path / "b")
    tar = copy2 / "features.000000.tar"
    with tarfile.open(tar) as t:
        llc = next(m.name for m in t.getmembers() if m.name.endswith(".llc"))
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    _rewrite_member(tar, ".llc", buf.getvalue())
    renamed = tmp_path / "renamed.tar"
    with tarfile.open(tar) as src, tarfile.open(renamed, "w") as dst:
        for m in src.getmembers():
            payload = src.extractfile(m).read()
            if m.name == llc:
                m.name = llc[:-4] + ".npy"
            dst.addfile(m, io.BytesIO(payload))
    os.replace(renamed, tar)
    cut = next(iter_shard(read_shard_dir(copy2).shards[0]))
    assert cut.features.storage_type == "memory_npy"
    with pytest.raises(ValueError, match="allow_pickle"):
        cut.load_features()


def test_broken_shard_dirs_name_the_file(shards, tmp_path):
    copy = _copy(shards, tmp_path / "a")
    (copy / "features.000003.tar").unlink()
    with pytest.raises(VibError, match=r"missing shard file 'features.000003.tar'"):
        read_shard_dir(copy)
    copy = _copy(shards, tmp_path / "b")
    (copy / "utt2num_frames").write_text("spk0-u0 12\n")
    with pytest.raises(VibError, match=r"utt2num_frames: its utterances differ from utt2spk's"):
        read_shard_dir(copy)


def test_make_shards_step_then_train_from_shards(corpus, tmp_path):
    """steps/make_shards.sh (skips when up to date), then vib-train on the shard dir."""
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    step = [str(REPO / "steps" / "make_shards.sh"), "--shard-size", "10", str(corpus / "fbank"), str(tmp_path / "sh")]
    first = subprocess.run(step, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(step, env=env, capture_output=True, text=True)
    assert "is up to date" in again.stderr
    config = tmp_path / "c.yaml"
    config.write_text("model: {type: resnet, channels: 4, layers: [1, 1, 1, 1], stem_stride: 2, embed_dim: 16}\n"
                      "head: {type: softmax}\n"
                      "optim: {name: sgd, lr: 0.05}\n"
                      "train: {epochs: 1, batch_size: 8, crop_frames: 100, num_workers: 2, device: cpu,"
                      " amp: false, progress: false}\n")
    run = subprocess.run(["vib-train", str(config), str(tmp_path / "sh"), str(tmp_path / "exp")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "exp" / "final.pt").is_file()
    rows = [json.loads(line) for line in (tmp_path / "exp" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["epoch"] == 1


def test_audio_of_wav_scp_commands_is_read_checked_and_jobs_write_the_same_shards(corpus, shards, tmp_path):
    """Audio behind ``cmd |`` sources goes into the shards as training reads it (exit status
    checked); two writer jobs give the same shards as one; a failing command names the utterance."""
    src = tmp_path / "src"
    src.mkdir()
    write_fbank_config(src, FBANK_DEFAULTS)
    cuts = list(CutSet.from_file(_manifest(corpus)))
    for cut in cuts:
        source = cut.recording.sources[0]
        source.type, source.source = "command", f"cat {source.source}"
    CutSet.from_cuts(cuts).to_file(src / "cuts.jsonl.gz")
    assert write_shards(src / "cuts.jsonl.gz", tmp_path / "sh", shard_size=7, audio=True, seed=3, num_jobs=2) == 7
    for mine, ref in zip(read_shard_dir(tmp_path / "sh").shards, read_shard_dir(shards).shards):
        for a, b in zip(iter_shard(mine), iter_shard(ref)):
            assert a.id == b.id
            np.testing.assert_array_equal(a.load_audio(), b.load_audio())
            np.testing.assert_array_equal(a.load_features(), b.load_features())
    cuts[4].recording.sources[0].source = "exit 3"
    CutSet.from_cuts(cuts).to_file(src / "cuts.jsonl.gz")
    with pytest.raises(VibError, match=rf"utterance '{cuts[4].id}' \(audio 'exit 3'\): command failed with status 3"):
        write_shards(src / "cuts.jsonl.gz", tmp_path / "sh2", audio=True)
    assert not (tmp_path / "sh2").exists()
