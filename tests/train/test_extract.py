"""vib-extract on cuts with stored features made by Lhotse from generated audio."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

import kaldiio
from tests.conftest import run_bash
from vib import checkpoint as ckpt
from vib.bin.extract import main as extract_main
from vib.errors import VibError
from vib.extract import ExtractOptions, extract, load_network, piece_bounds
from vib.train import merge_config

SR = 16000
# (utterance, speaker, seconds); the last one is long enough to be chunked at 100 frames.
UTTS = [("spkA-u1", "spkA", 0.6), ("spkA-u2", "spkA", 1.1), ("spkB-u1", "spkB", 0.8),
        ("spkB-u2", "spkB", 0.65), ("spkC-u1", "spkC", 1.0), ("spkC-long", "spkC", 4.2)]


@pytest.fixture(scope="module")
def fbank_dir(tmp_path_factory):
    from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter, Recording, RecordingSet
    from lhotse import SupervisionSegment, SupervisionSet

    root = tmp_path_factory.mktemp("extract")
    rng = np.random.default_rng(0)
    recordings, supervisions = [], []
    for utt, spk, seconds in UTTS:
        t = np.arange(int(seconds * SR)) / SR
        pitch = {"spkA": 140.0, "spkB": 220.0, "spkC": 310.0}[spk]
        audio = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(t.shape)
        path = root / f"{utt}.wav"
        sf.write(path, audio.astype(np.float32), SR, subtype="PCM_16")
        recordings.append(Recording.from_file(path, recording_id=utt))
        supervisions.append(SupervisionSegment(utt, utt, 0.0, recordings[-1].duration, speaker=spk))
    cuts = CutSet.from_manifests(RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions))
    cuts = cuts.compute_and_store_features(Fbank(FbankConfig(num_mel_bins=80)), root / "feats",
                                           storage_type=LilcomChunkyWriter, num_jobs=1)
    cuts.to_file(root / "cuts.jsonl.gz")
    return root


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    config = merge_config({"model": {"channels": 4, "layers": [1, 1], "embed_dim": 10},
                           "head": {"type": "vib", "beta": 1e-3}})
    from vib.train import build_net
    net = build_net(config, 3)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("model") / "final.pt"
    ckpt.save_atomic({"model": net.extractor.state_dict(), "config": config, "num_classes": 3}, path)
    return path


def _reference(model_path, fbank_dir, utt, chunk_frames=0):
    """Slow reference: the utterance alone, chunk by chunk, averaged."""
    from lhotse import CutSet
    cut = next(c for c in CutSet.from_file(fbank_dir / "cuts.jsonl.gz") if c.supervisions[0].id == utt)
    feats = torch.from_numpy(cut.load_features())
    model = load_network(model_path)
    with torch.no_grad():
        mus = [model(feats[s:e][None])[0][0] for s, e in piece_bounds(len(feats), chunk_frames)]
    return torch.stack(mus).mean(0).numpy()


def test_piece_bounds():
    assert piece_bounds(50, 0) == [(0, 50)]
    assert piece_bounds(50, 100) == [(0, 50)]
    assert piece_bounds(250, 100) == [(0, 100), (100, 200), (150, 250)]
    assert piece_bounds(200, 100) == [(0, 100), (100, 200)]


def test_extraction_writes_kaldi_binary_vectors_for_every_utterance(fbank_dir, model_path, tmp_path):
    out = tmp_path / "xv"
    assert extract(model_path, fbank_dir / "cuts.jsonl.gz", out, opts=ExtractOptions(chunk_frames=100,
                   batch_size=4, write_var=True), progress=False) == len(UTTS)
    table = kaldiio.load_scp(str(out / "xvector.scp"))
    assert sorted(table) == sorted(u for u, _, _ in UTTS)
    assert [line.split()[0] for line in (out / "xvector.scp").read_text().splitlines()] == sorted(table)
    data = (out / "xvector.ark").read_bytes()
    for utt, _, _ in UTTS:  # each record: key, space, binary marker, FV header, int32 dim 10
        assert data.count(utt.encode() + b" \x00BFV \x04" + np.int32(10).tobytes()) == 1
    ark = dict(kaldiio.load_ark(str(out / "xvector.ark")))
    for utt, _, _ in UTTS:
        assert ark[utt].dtype == np.float32 and ark[utt].shape == (10,)
        np.testing.assert_allclose(table[utt], _reference(model_path, fbank_dir, utt, 100), atol=1e-4)
    var = kaldiio.load_scp(str(out / "xvector_var.scp"))
    assert sorted(var) == sorted(table) and all((v > 0).all() for v in var.values())
    assert (out / "spk2utt").read_text().splitlines()[0] == "spkA spkA-u1 spkA-u2"
    assert (out / "utt2spk").read_text().count("\n") == len(UTTS)
    assert not list(out.glob("*.tmp.*")) and not list(out.glob("xvector.1.*"))


def test_long_utterance_is_chunked_and_whole_mode_differs(fbank_dir, model_path, tmp_path):
    whole = tmp_path / "whole"
    extract(model_path, fbank_dir / "cuts.jsonl.gz", whole, opts=ExtractOptions(chunk_frames=0), progress=False)
    long_whole = kaldiio.load_scp(str(whole / "xvector.scp"))["spkC-long"]
    np.testing.assert_allclose(long_whole, _reference(model_path, fbank_dir, "spkC-long", 0), atol=1e-4)
    chunked = _reference(model_path, fbank_dir, "spkC-long", 100)
    assert np.abs(long_whole - chunked).max() > 1e-3  # the chunk path really was taken above


def test_nj_merge_equals_single_job(fbank_dir, model_path, tmp_path):
    argv = [str(model_path), str(fbank_dir), "--chunk-frames=100", "--progress=false"]
    assert extract_main(argv[:2] + [str(tmp_path / "one")] + argv[2:]) == 0
    assert extract_main(argv[:2] + [str(tmp_path / "two"), "--nj", "2"] + argv[2:]) == 0
    one = kaldiio.load_scp(str(tmp_path / "one" / "xvector.scp"))
    two = kaldiio.load_scp(str(tmp_path / "two" / "xvector.scp"))
    assert sorted(one) == sorted(two)
    for key in one:
        np.testing.assert_allclose(one[key], two[key], atol=1e-5)
    assert all(":" in line and "xvector.ark:" in line for line in (tmp_path / "two" / "xvector.scp").read_text().splitlines())


def test_an_extraction_job_that_dies_is_an_error_not_a_hang(fbank_dir, model_path, tmp_path, monkeypatch):
    """A job killed mid-run (out of memory, a cluster's limit) stops extraction with one error
    and nothing merged; jobs are forked here so that they see the patched extract_job."""
    import multiprocessing
    import os

    import vib.extract as extraction

    fork = multiprocessing.get_context("fork")
    real = extraction.extract_job
    monkeypatch.setattr(extraction.multiprocessing, "get_context", lambda method: fork)
    monkeypatch.setattr(extraction, "extract_job",
                        lambda model, cuts, ark, *rest: os._exit(9) if str(ark).endswith(".2.ark")
                        else real(model, cuts, ark, *rest))
    with pytest.raises(VibError, match="an extraction job died .*nothing was merged into .*run again"):
        extract(model_path, fbank_dir / "cuts.jsonl.gz", tmp_path / "out", nj=2, progress=False)
    assert not (tmp_path / "out" / "xvector.scp").exists()


def test_quality_tables_hold_log_duration_and_mean_log_variance_with_any_nj(fbank_dir, model_path, tmp_path):
    argv = [str(model_path), str(fbank_dir), "--chunk-frames=100", "--progress=false", "--write-quality",
            "--write-var"]
    assert extract_main(argv[:2] + [str(tmp_path / "one")] + argv[2:]) == 0
    assert extract_main(argv[:2] + [str(tmp_path / "two"), "--nj", "2"] + argv[2:]) == 0
    from lhotse import CutSet

    duration = {c.supervisions[0].id: c.num_frames * c.frame_shift for c in CutSet.from_file(fbank_dir / "cuts.jsonl.gz")}
    for out in ("one", "two"):
        quality = kaldiio.load_scp(str(tmp_path / out / "quality.scp"))
        var = kaldiio.load_scp(str(tmp_path / out / "xvector_var.scp"))
        assert sorted(quality) == sorted(duration)
        for utt, q in quality.items():
            np.testing.assert_allclose(q, [np.log(duration[utt]), np.log(var[utt]).mean()], rtol=1e-5, atol=1e-5)
    assert not list((tmp_path / "two").glob("quality.[0-9]*"))


def test_cli_errors_are_one_line(tmp_path, model_path):
    proc = run_bash(f"vib-extract {model_path} {tmp_path}/nothing {tmp_path}/out")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("vib-extract: ERROR: no cut manifest at") and proc.stderr.count("\n") == 1
    proc = run_bash(f"vib-extract {tmp_path}/missing.pt {tmp_path} {tmp_path}/out")
    assert proc.returncode == 1 and "no checkpoint at" in proc.stderr


def test_write_var_needs_a_vib_model(fbank_dir, tmp_path):
    config = merge_config({"model": {"channels": 4, "layers": [1], "embed_dim": 6}, "head": {"type": "aam"}})
    from vib.models import build_model
    path = tmp_path / "aam.pt"
    ckpt.save_atomic({"model": build_model(config["model"], False).state_dict(), "config": config,
                      "num_classes": 3}, path)
    with pytest.raises(VibError, match="--write-var needs a VIB model"):
        extract(path, fbank_dir / "cuts.jsonl.gz", tmp_path / "out", opts=ExtractOptions(write_var=True))


def test_model_info_says_what_the_extractor_is_and_whether_it_has_a_variance(model_path, tmp_path, capsys):
    from vib.bin.model_info import main as info_main
    from vib.models import count_parameters

    assert info_main([str(model_path.parent)]) == 0  # a dir: its final.pt
    assert capsys.readouterr().out.splitlines() == [
        "trunk resnet", "embedding-dim 10", "head vib", "variance true",
        f"parameters {count_parameters(load_network(model_path))}"]
    config = merge_config({"model": {"channels": 4, "layers": [1], "embed_dim": 6}, "head": {"type": "aam"}})
    from vib.models import build_model
    path = tmp_path / "aam.pt"
    ckpt.save_atomic({"model": build_model(config["model"], False).state_dict(), "config": config,
                      "num_classes": 3}, path)
    assert info_main(["--field", "variance", str(path)]) == 0 and capsys.readouterr().out == "false\n"
    with pytest.raises(VibError, match="no checkpoint at"):
        info_main([str(tmp_path / "absent.pt")])


def test_cuda_jobs_spread_over_the_visible_gpus(monkeypatch):
    from vib.extract import job_device

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [job_device("cuda", j) for j in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert job_device("cuda:1", 0) == "cuda:1" and job_device("cpu", 3) == "cpu"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert job_device("cuda", 3) == "cuda"
