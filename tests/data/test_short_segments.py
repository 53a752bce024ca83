"""vib-truncate-cuts: short-segment cuts over the same stored features, and their trial lists."""
from __future__ import annotations

import numpy as np
import pytest

from vib.bin.truncate_cuts import main
from vib.data.features import read_fbank_config
from vib.data.manifests import iter_cuts
from vib.errors import VibError


def test_cuts_keep_the_first_seconds_of_the_same_features(fbank_corpus, tmp_path):
    src = fbank_corpus / "fbank"
    (tmp_path / "trials").write_text("spkA-u0 spkB-u1 nontarget\nspkA-u1 spkA-short target\n")
    main(["--duration", "2.0", "--trials", f"{tmp_path}/trials={tmp_path}/out/trials", str(src), f"{tmp_path}/out"])
    full = {c.id: c for c in iter_cuts(src / "cuts.jsonl.gz")}
    short = {c.id: c for c in iter_cuts(tmp_path / "out" / "cuts.jsonl.gz")}
    assert set(short) == {f"{k}_2s" for k in full}
    for key, cut in full.items():
        cut2 = short[f"{key}_2s"]
        assert cut2.duration == pytest.approx(min(2.0, cut.duration))
        sup, sup2 = cut.supervisions[0], cut2.supervisions[0]
        assert sup2.speaker == sup.speaker and sup2.id == f"{sup.id}_2s"  # the utterance key embeddings get
        assert sup2.duration == pytest.approx(min(2.0, sup.duration))
        feats, feats2 = cut.load_features(), cut2.load_features()
        assert feats2.shape[0] == min(feats.shape[0], round(2.0 / 0.01)) and feats2.shape[0] > 0
        np.testing.assert_array_equal(feats2, feats[:feats2.shape[0]])  # the same stored frames, from the start
    assert short["spkA-short_2s"].duration == pytest.approx(1.0)  # shorter: kept whole
    assert read_fbank_config(tmp_path / "out") == read_fbank_config(src)
    assert (tmp_path / "out" / "trials").read_text() == ("spkA-u0 spkB-u1_2s nontarget\n"
                                                        "spkA-u1 spkA-short_2s target\n")
    speakers = {c.supervisions[0].id: c.supervisions[0].speaker for c in full.values()}
    assert (tmp_path / "out" / "utt2spk").read_text() == "".join(  # the keys of the trials, C order
        f"{key} {speakers[key.removesuffix('_2s')]}\n" for key in sorted(["spkA-u0", "spkB-u1_2s", "spkA-u1",
                                                                          "spkA-short_2s"]))


def test_bad_input_is_refused_naming_it(fbank_corpus, tmp_path):
    (tmp_path / "trials").write_text("spkA-u0 nobody nontarget\n")
    with pytest.raises(VibError, match="test key 'nobody' is not a cut"):
        main(["--duration", "1", "--suffix=-1s", "--trials", f"{tmp_path}/trials={tmp_path}/t",
              str(fbank_corpus / "fbank"), f"{tmp_path}/o"])
    assert not (tmp_path / "t").exists()
    (tmp_path / "trials").write_text("nobody spkA-u0 nontarget\n")
    with pytest.raises(VibError, match="enroll key 'nobody' is not a cut"):
        main(["--duration", "1", "--trials", f"{tmp_path}/trials={tmp_path}/t", str(fbank_corpus / "fbank"),
              f"{tmp_path}/o"])
    assert not (tmp_path / "t").exists() and not (tmp_path / "utt2spk").exists()
    with pytest.raises(VibError, match="--duration must be positive"):
        main(["--duration", "0", str(fbank_corpus / "fbank"), f"{tmp_path}/o2"])
    with pytest.raises(VibError, match="no cut manifest"):
        main(["--duration", "1", str(tmp_path / "absent"), f"{tmp_path}/o3"])
