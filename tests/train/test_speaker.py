"""The one-call API (vib.load_extractor) and vib-embed / vib-verify, on a small model dir."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import run_bash
from tests.train.test_extract import UTTS, fbank_dir, model_path  # noqa: F401  (fixtures)
from vib.data.features import FBANK_DEFAULTS, write_fbank_config
from vib.errors import VibError
from vib.io.kaldi_objects import read_kaldi_vector, write_kaldi_matrix, write_kaldi_vector, write_plda
from vib.io.tables import read_table_dict, write_table


@pytest.fixture(scope="module")
def model_dir(model_path, tmp_path_factory):  # noqa: F811
    """final.pt + fbank.yaml + backend/{mean.vec, transform.mat (LDA 10 -> 4), plda}."""
    from vib.backend.plda import estimate_plda, plda_stats

    out = tmp_path_factory.mktemp("model_dir")
    shutil.copy(model_path, out / "final.pt")
    write_fbank_config(out, FBANK_DEFAULTS)
    rng = np.random.default_rng(3)
    (out / "backend").mkdir()
    write_kaldi_vector(str(out / "backend" / "mean.vec"), rng.normal(size=10))
    write_kaldi_matrix(str(out / "backend" / "transform.mat"), rng.normal(size=(4, 11)))
    labels = np.repeat(np.arange(20), 5)
    vectors = rng.normal(size=(20, 4))[labels] + 0.5 * rng.normal(size=(100, 4))
    write_plda(str(out / "backend" / "plda"), estimate_plda(plda_stats(vectors.astype(np.float32), labels)))
    return out


def _wav(fbank_dir, utt):  # noqa: F811
    return str(fbank_dir / f"{utt}.wav")


def test_embed_is_vib_extract_on_the_same_features(model_dir, fbank_dir, tmp_path):  # noqa: F811
    """On-the-fly fbank equals the stored (lilcom) fbank within its quantisation, and the
    embedding of given features is exactly vib-extract's (same chunking, batching, model)."""
    from lhotse import CutSet

    from vib import load_extractor

    ex = load_extractor(model_dir)
    run_bash(f"vib-extract --chunk-frames 6000 {model_dir}/final.pt {fbank_dir} {tmp_path}/x", check=True)
    extracted = read_table_dict(f"scp:{tmp_path}/x/xvector.scp")
    cuts = {c.supervisions[0].id: c for c in CutSet.from_file(fbank_dir / "cuts.jsonl.gz")}
    stored = [cuts[u].load_features() for u, _, _ in UTTS]
    for (utt, _, _), feats in zip(UTTS, stored):
        np.testing.assert_allclose(ex.features(_wav(fbank_dir, utt)), feats, atol=0.02)
    np.testing.assert_array_equal(ex.embed_features(stored), np.stack([extracted[u] for u, _, _ in UTTS]))
    batch = ex.embed_batch([_wav(fbank_dir, u) for u, _, _ in UTTS])
    assert batch.shape == (len(UTTS), 10) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[1], ex.embed(_wav(fbank_dir, UTTS[1][0])), rtol=1e-5, atol=1e-6)


def test_arrays_rates_and_channels(model_dir, fbank_dir):  # noqa: F811
    from scipy.signal import resample_poly

    from vib import load_extractor

    ex = load_extractor(model_dir)
    audio, rate = sf.read(_wav(fbank_dir, "spkA-u2"), dtype="float32")
    narrow = resample_poly(audio, 1, 2).astype(np.float32)
    np.testing.assert_allclose(ex.embed(narrow, sample_rate=8000),
                               ex.embed(resample_poly(narrow, 2, 1).astype(np.float32), sample_rate=rate),
                               rtol=1e-5, atol=1e-6)
    stereo = np.stack([np.zeros_like(audio) + 0.1 * np.sign(audio), audio], axis=1)
    with pytest.raises(VibError, match="2 channels; choose one with channel="):
        ex.embed(stereo, sample_rate=rate)
    np.testing.assert_array_equal(ex.embed(stereo, sample_rate=rate, channel=1), ex.embed(audio, sample_rate=rate))
    with pytest.raises(VibError, match=r"audio array: 0\.100 s of audio; at least 0\.25 s"):
        ex.embed(audio[:1600], sample_rate=rate)
    with pytest.raises(VibError, match="silent"):
        ex.embed(np.zeros(16000, np.float32), sample_rate=16000)
    with pytest.raises(VibError, match="needs its sample_rate"):
        ex.embed(audio)


def test_scores_follow_the_recipes_back_end_chain(model_dir, fbank_dir, tmp_path):  # noqa: F811
    """PLDA: the Kaldi chain of steps/score_plda.sh (mean, transform-vec, normalize-length,
    plda-scoring) on the same vectors; cosine: after the training mean."""
    from vib import load_extractor

    ex = load_extractor(model_dir)
    a, b = _wav(fbank_dir, "spkA-u1"), _wav(fbank_dir, "spkB-u1")
    emb = {"a": ex.embed(a), "b": ex.embed(b)}
    write_table(f"ark:{tmp_path}/emb.ark", emb.items())
    (tmp_path / "trials").write_text("a b\n")
    m = f"{model_dir}/backend"
    run_bash(f"vib-plda-scoring {m}/plda 'ark:vib-ivector-subtract-global-mean {m}/mean.vec ark:{tmp_path}/emb.ark "
             f"ark:- | vib-transform-vec {m}/transform.mat ark:- ark:- | vib-ivector-normalize-length ark:- ark:- |' "
             f"'ark:vib-ivector-subtract-global-mean {m}/mean.vec ark:{tmp_path}/emb.ark ark:- | vib-transform-vec "
             f"{m}/transform.mat ark:- ark:- | vib-ivector-normalize-length ark:- ark:- |' {tmp_path}/trials "
             f"{tmp_path}/scores", check=True)
    want = float((tmp_path / "scores").read_text().split()[2])
    assert ex.score(a, b, backend="plda") == pytest.approx(want, rel=1e-5, abs=1e-5)
    mu = read_kaldi_vector(f"{m}/mean.vec")
    x, y = emb["a"] - mu, emb["b"] - mu
    assert ex.score(a, b) == pytest.approx(float(x @ y / np.linalg.norm(x) / np.linalg.norm(y)), rel=1e-5)


def test_verify_decides_on_the_llr_at_the_prior(model_dir, fbank_dir, tmp_path):  # noqa: F811
    from vib import load_extractor

    ex = load_extractor(model_dir)
    a, b = _wav(fbank_dir, "spkA-u1"), _wav(fbank_dir, "spkA-u2")
    plda = ex.verify(a, b, p_target=0.5)
    assert plda.llr == plda.score == pytest.approx(ex.score(a, b, "plda"))
    assert plda.threshold == 0.0 and plda.accept == (plda.llr > 0)
    assert ex.verify(a, b, p_target=0.01).threshold == pytest.approx(np.log(99))
    with pytest.raises(VibError, match="backend 'cosine' has no calibration"):
        ex.verify(a, b, backend="cosine")
    calibrated = tmp_path / "m"
    shutil.copytree(model_dir, calibrated)
    (calibrated / "backend" / "calibration_cosine.json").write_text(json.dumps({"a": 10.0, "b": -2.0}))
    v = load_extractor(calibrated).verify(a, b, backend="cosine")
    assert v.llr == pytest.approx(10.0 * v.score - 2.0)


def test_model_dir_must_be_complete(model_dir, tmp_path):
    shutil.copy(model_dir / "final.pt", tmp_path / "final.pt")
    from vib import load_extractor

    with pytest.raises(VibError, match=r"lacks fbank.yaml"):
        load_extractor(tmp_path)
    write_fbank_config(tmp_path, FBANK_DEFAULTS)
    ex = load_extractor(tmp_path / "final.pt")
    with pytest.raises(VibError, match=r"backend 'plda' needs .*backend/mean.vec"):
        ex.score_embeddings(np.ones((1, 10), np.float32), np.ones((1, 10), np.float32), "plda")


def test_embed_and_verify_commands(model_dir, fbank_dir, tmp_path):  # noqa: F811
    from vib import load_extractor

    ex = load_extractor(model_dir)
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(f"{u} {_wav(fbank_dir, u)}\n" for u, _, _ in UTTS[:3]) +
                   f"piped cat {_wav(fbank_dir, UTTS[3][0])} |\n")
    run_bash(f"vib-embed {model_dir} {scp} ark,scp:{tmp_path}/e.ark,{tmp_path}/e.scp", check=True)
    table = read_table_dict(f"scp:{tmp_path}/e.scp")
    assert sorted(table) == sorted([u for u, _, _ in UTTS[:3]] + ["piped"])
    np.testing.assert_allclose(table["piped"], ex.embed(_wav(fbank_dir, UTTS[3][0])), rtol=1e-5, atol=1e-6)
    run_bash(f"vib-embed {model_dir} {_wav(fbank_dir, 'spkA-u1')} {_wav(fbank_dir, 'spkB-u1')} {tmp_path}/e.npy",
             check=True)
    assert np.load(tmp_path / "e.npy").shape == (2, 10)
    a, b = _wav(fbank_dir, "spkA-u1"), _wav(fbank_dir, "spkB-u1")
    line = run_bash(f"vib-verify --p-target 0.5 {model_dir} {a} {b}", check=True).stdout.split()
    assert line[:2] == [a, b] and float(line[2]) == pytest.approx(ex.score(a, b, "plda"), rel=1e-5)
    assert line[4] == ("accept" if float(line[3]) > 0 else "reject")
    (tmp_path / "trials").write_text("spkA-u1 spkA-u2 target\nspkA-u1 piped nontarget\n")
    run_bash(f"vib-verify --trials {tmp_path}/trials --wav-scp {scp} {model_dir} {tmp_path}/out", check=True)
    rows = [r.split() for r in (tmp_path / "out").read_text().splitlines()]
    assert [r[:2] for r in rows] == [["spkA-u1", "spkA-u2"], ["spkA-u1", "piped"]]
    bad = run_bash(f"vib-verify {model_dir} {a}")
    assert bad.returncode == 1 and "give two audio files" in bad.stderr
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    proc = run_bash(f"vib-embed {model_dir} {silent} ark,t:-")
    assert proc.returncode == 1 and "silent" in proc.stderr and proc.stderr.count("\n") == 1


def test_torchscript_export_equals_pytorch_on_every_utterance(model_dir, fbank_dir, tmp_path):  # noqa: F811
    """vib-export: the traced graph, any number of frames, against the PyTorch model
    (max abs difference <= 1e-4, fp32); the archive states its front-end options."""
    import torch
    from lhotse import CutSet

    from vib import load_extractor
    from vib.export import load_torchscript

    run_bash(f"vib-export {model_dir} {tmp_path}/x.ts", check=True)
    module, fbank = load_torchscript(tmp_path / "x.ts")
    assert fbank == FBANK_DEFAULTS
    ex = load_extractor(model_dir)
    for cut in CutSet.from_file(fbank_dir / "cuts.jsonl.gz"):
        feats = torch.from_numpy(cut.load_features())[None]
        with torch.no_grad():
            want = ex.network(feats)[0]
        assert (module(feats) - want).abs().max().item() <= 1e-4, cut.id
    proc = run_bash(f"vib-export --format tflite {model_dir} {tmp_path}/x.bin")
    assert proc.returncode == 1 and "unknown export format 'tflite'" in proc.stderr


def test_onnx_export_equals_pytorch(model_dir, fbank_dir, tmp_path):  # noqa: F811
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (the optional 'export' extra) is not installed")
    pytest.importorskip("onnx", reason="onnx (the optional 'export' extra) is not installed")
    import torch

    from vib import load_extractor

    run_bash(f"vib-export --format onnx {model_dir} {tmp_path}/x.onnx", check=True)
    session = ort.InferenceSession(str(tmp_path / "x.onnx"))
    ex = load_extractor(model_dir)
    for utt, _, _ in UTTS:
        feats = ex.features(_wav(fbank_dir, utt))[None].astype(np.float32)
        with torch.no_grad():
            want = ex.network(torch.from_numpy(feats))[0].numpy()
        assert np.abs(session.run(None, {"feats": feats})[0] - want).max() <= 1e-4
