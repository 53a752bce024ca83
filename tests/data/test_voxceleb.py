"""local.prepare_voxceleb on a miniature VoxCeleb tree built from generated audio."""
from __future__ import annotations

import pytest
from lhotse import CutSet

from tests.data.audio_fixtures import make_voxceleb_tree, write_wav
from vib.data.kaldi_dir import read_kaldi_data_dir
from vib.errors import VibError

from local import prepare_voxceleb


@pytest.fixture(scope="module")
def vox(tmp_path_factory):
    return make_voxceleb_tree(tmp_path_factory.mktemp("vox"))


@pytest.fixture(scope="module")
def prepared(vox, tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    prepare_voxceleb.main([str(out), "--vox1-dev", str(vox["vox1_dev"]), "--vox1-test", str(vox["vox1_test"]),
                           "--vox2-dev", str(vox["vox2_dev"]), "--trials-dir", str(vox["lists"]), "--nj", "2"])
    return out


def test_splits_have_kaldi_dirs_and_manifests_with_speakers(prepared, vox):
    test = read_kaldi_data_dir(prepared / "voxceleb1_test")
    assert sorted(test.spk2utt) == ["id10270", "id10300"]
    assert test.utt2spk["id10270-8jE-Ag6S_gY-00002"] == "id10270"
    assert test.wav_scp["id10270-8jE-Ag6S_gY-00002"] == str(vox["vox1_test"] / "id10270/8jE-Ag6S_gY/00002.wav")
    assert len(read_kaldi_data_dir(prepared / "voxceleb1").utt2spk) == 16
    cuts = CutSet.from_file(prepared / "voxceleb1_dev" / "cuts.jsonl.gz")
    assert {c.supervisions[0].speaker for c in cuts} == {"id10001", "id10002"}
    assert all(c.id.count("/") == 0 for c in cuts)


def test_m4a_is_decoded_through_an_ffmpeg_pipe(prepared):
    vox2 = read_kaldi_data_dir(prepared / "voxceleb2_dev")
    assert sorted(vox2.utt2spk) == ["id00012-21Uxsk56VDQ-00001", "id00012-21Uxsk56VDQ-00002"]
    assert all(v.startswith("ffmpeg ") and v.endswith("|") for v in vox2.wav_scp.values())
    cut = next(iter(CutSet.from_file(prepared / "voxceleb2_dev" / "cuts.jsonl.gz")))
    assert cut.sampling_rate == 16000 and abs(cut.duration - 1.0) < 0.1
    assert cut.load_audio().shape == (1, cut.num_samples)


def test_trial_lists_are_converted(prepared):
    assert (prepared / "voxceleb1_test" / "trials_vox1_o").read_text() == (
        "id10270-x6uYqmx31kE-00001 id10270-8jE-Ag6S_gY-00002 target\n"
        "id10270-x6uYqmx31kE-00001 id10300-x6uYqmx31kE-00001 nontarget\n")
    assert (prepared / "voxceleb1_test" / "trials_vox1_o_cleaned").read_text().count("\n") == 1
    assert (prepared / "voxceleb1" / "trials_vox1_e_cleaned").read_text().splitlines() == [
        "id10001-x6uYqmx31kE-00001 id10001-8jE-Ag6S_gY-00001 target",
        "id10002-x6uYqmx31kE-00002 id10300-8jE-Ag6S_gY-00002 nontarget"]


def test_explicit_trial_list_and_bad_lines(vox, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 id10270/x6uYqmx31kE/00001.wav id10270/8jE-Ag6S_gY/00002.wav\n2 a/b/c.wav d/e/f.wav\n")
    with pytest.raises(VibError, match=r"bad\.txt:2: label must be 0 or 1"):
        prepare_voxceleb.convert_trials(bad)
    bad.write_text("1 id10270/x6uYqmx31kE/00001.wav\n")
    with pytest.raises(VibError, match=r"bad\.txt:1: expected"):
        prepare_voxceleb.convert_trials(bad)
    bad.write_text("1 id10270/x6uYqmx31kE/00001.wav id10999/zzz/00001.wav\n")
    with pytest.raises(VibError, match=r"bad\.txt:1: utterance 'id10999/zzz/00001.wav' is not in"):
        prepare_voxceleb.convert_trials(bad, {"id10270-x6uYqmx31kE-00001"})


@pytest.mark.parametrize("args,message", [
    (["--vox1-test", "{root}/nowhere"], "VoxCeleb audio dir '.*nowhere' does not exist"),
    (["--vox1-test", "{test}", "--trials", "o={root}/missing.txt"], "trial list '.*missing.txt' .* does not exist"),
    (["--vox1-test", "{test}", "--trials-dir", "{root}/nolists"], "trials dir '.*nolists' does not exist"),
    (["--vox1-test", "{test}", "--trials", "e={lists}/list_test_all2.txt"], "utterance 'id10001-.*' is not in"),
    ([], "give at least one of"),
])
def test_missing_inputs_are_clear_errors(vox, tmp_path, args, message):
    fill = {"root": tmp_path, "test": vox["vox1_test"], "lists": vox["lists"]}
    with pytest.raises(VibError, match=message):
        prepare_voxceleb.main([str(tmp_path / "out")] + [a.format(**fill) for a in args])


def test_two_files_with_one_utterance_id_is_an_error(tmp_path):
    write_wav(tmp_path / "id10001" / "vid" / "00001.wav", 0.5, 1)
    (tmp_path / "id10001" / "vid" / "00001.m4a").write_bytes(b"")
    with pytest.raises(VibError, match="utterance id 'id10001-vid-00001' comes from two files"):
        prepare_voxceleb.scan_audio_tree(tmp_path)
