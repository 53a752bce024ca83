"""steps/compute_fbank.sh end to end: stored features, parallel parts, resume, Kaldi export, bad audio."""
from __future__ import annotations

import os

import numpy as np
import pytest
from lhotse import CutSet

from tests.conftest import run_bash
from tests.data.audio_fixtures import write_wav
from vib.data.features import compute_fbank_part, fbank_extractor, read_fbank_config
from vib.data.kaldi_dir import write_kaldi_data_dir
from vib.data.manifests import import_kaldi_data_dir
from vib.errors import VibError
from vib.io.tables import read_table_dict


@pytest.fixture
def data_dir(tmp_path):
    wav = {f"s{i % 2}-u{i}": str(write_wav(tmp_path / "wav" / f"u{i}.wav", 1.0 + 0.2 * i, i)) for i in range(5)}
    write_kaldi_data_dir(tmp_path / "data", wav, {u: u.split("-")[0] for u in wav})
    import_kaldi_data_dir(tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.slow
def test_compute_fbank_parts_resume_and_kaldi_export(data_dir, tmp_path):
    fbank = tmp_path / "fbank"
    (fbank).mkdir()
    (fbank / "fbank.yaml").write_text("low_freq: 40.0\n")  # a user's option is kept and used
    proc = run_bash(f"compute_fbank.sh --nj 2 --write-kaldi true {data_dir} {fbank}")
    assert proc.returncode == 0, proc.stderr
    cuts = CutSet.from_file(fbank / "cuts.jsonl.gz").to_eager()
    assert sorted(c.id for c in cuts) == sorted(c.id for c in CutSet.from_file(data_dir / "cuts.jsonl.gz"))
    config = read_fbank_config(fbank)
    assert config["num_filters"] == 80 and config["low_freq"] == 40.0
    extractor = fbank_extractor(config)
    kaldi = read_table_dict(f"scp:{fbank}/feats.scp")
    for cut in cuts:
        stored = cut.load_features()
        reference = extractor.extract(cut.load_audio()[0], 16000)
        assert stored.shape == reference.shape == (cut.num_frames, 80)
        np.testing.assert_allclose(stored, reference, atol=0.02)  # lilcom's quantisation
        np.testing.assert_array_equal(kaldi[cut.id], stored)
    assert {os.path.basename(c.features.storage_path) for c in cuts} == {"feats.1.lca", "feats.2.lca"}

    # a killed run: final manifest and part 2 missing -> only part 2 is redone
    first_part = (fbank / "feats.1.lca").stat().st_mtime_ns
    os.remove(fbank / "cuts.jsonl.gz")
    os.remove(fbank / "split2" / "fbank.2.jsonl.gz")
    proc = run_bash(f"compute_fbank.sh --nj 2 {data_dir} {fbank}")
    assert proc.returncode == 0, proc.stderr
    assert "part 1 already done" in proc.stderr
    assert (fbank / "feats.1.lca").stat().st_mtime_ns == first_part
    assert len(CutSet.from_file(fbank / "cuts.jsonl.gz")) == len(cuts)


@pytest.mark.slow
def test_compute_fbank_failure_names_utterance_and_writes_no_manifest(data_dir, tmp_path):
    victim = next(iter(CutSet.from_file(data_dir / "cuts.jsonl.gz")))
    path = victim.recording.sources[0].source
    os.remove(path)
    proc = run_bash(f"compute_fbank.sh --nj 2 {data_dir} {tmp_path}/fbank")
    assert proc.returncode == 1
    assert f"utterance '{victim.id}' (audio '{path}')" in proc.stderr
    assert not (tmp_path / "fbank" / "cuts.jsonl.gz").exists()


def test_truncated_audio_is_an_error_naming_the_utterance(data_dir, tmp_path):
    victim = next(iter(CutSet.from_file(data_dir / "cuts.jsonl.gz")))
    with open(victim.recording.sources[0].source, "r+b") as f:  # corrupt: header claims more samples
        f.truncate(2000)
    with pytest.raises(VibError, match=f"utterance '{victim.id}'"):
        compute_fbank_part(data_dir / "cuts.jsonl.gz", tmp_path / "feats", tmp_path / "out.jsonl.gz")
    assert not (tmp_path / "out.jsonl.gz").exists()


def test_missing_cuts_is_a_clear_error(tmp_path):
    proc = run_bash(f"compute_fbank.sh {tmp_path}/nodata {tmp_path}/fbank")
    assert proc.returncode == 1 and f"missing {tmp_path}/nodata/cuts.jsonl.gz" in proc.stderr


@pytest.mark.parametrize("exit_status,fragment", [(1, "command failed with status 1"),
                                                  (0, "command output has 8000 samples, the manifest says 16000")])
def test_failing_or_short_audio_pipe_fails_fbank(tmp_path, exit_status, fragment):
    """Before: a pipe that wrote 0.5 s too little audio (and exited 1) was reflect-padded by
    Lhotse into 'valid' features with exit status 0."""
    full, short = write_wav(tmp_path / "full.wav", 1.0, 0), write_wav(tmp_path / "short.wav", 0.5, 0)
    flag = tmp_path / "broken"
    command = f"if [ -e {flag} ]; then cat {short}; exit {exit_status}; fi; cat {full} |"
    wav = {"s0-u0": str(write_wav(tmp_path / "u0.wav", 1.0, 1)), "s1-u1": command}
    write_kaldi_data_dir(tmp_path / "data", wav, {u: u.split("-")[0] for u in wav})
    import_kaldi_data_dir(tmp_path / "data")
    flag.touch()  # the source breaks after the manifest was made
    out = tmp_path / "fbank" / "cuts.jsonl.gz"
    with pytest.raises(VibError, match=f"utterance 's1-u1'.*{fragment}"):
        compute_fbank_part(tmp_path / "data" / "cuts.jsonl.gz", tmp_path / "fbank" / "feats.lca", out)
    assert not out.exists()
