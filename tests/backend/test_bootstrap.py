"""Speaker bootstrap of EER / minDCF against a slow reference that copies speakers, and the
paired comparison of systems, in Python and through vib-compute-metrics."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_bash
from vib.bootstrap import bootstrap_metrics, interval, paired_comparison, resample_counts, trial_speakers
from vib.errors import VibError
from vib.metrics import compute_metrics


def _trials(num_speakers: int = 6, utts: int = 5, seed: int = 0, ties: bool = False):
    """All pairs of ``num_speakers`` x ``utts`` utterances with speaker-dependent score offsets."""
    rng = np.random.default_rng(seed)
    utt_spk = np.repeat(np.arange(num_speakers), utts)
    first, second = np.triu_indices(len(utt_spk), k=1)
    spk_e, spk_t = utt_spk[first], utt_spk[second]
    labels = spk_e == spk_t
    scores = rng.normal(size=labels.size) + 1.5 * labels + 0.3 * rng.normal(size=num_speakers)[spk_e]
    if ties:
        scores = np.round(scores, 1)
    return scores, labels, spk_e, spk_t


def _reference(scores, labels, spk_e, spk_t, counts, p_targets=(0.01, 0.001)):
    """The resample built literally: speaker s copied counts[s] times as distinct people, so a
    target trial of s occurs c_s times and a non-target trial of a, b c_a * c_b times."""
    reps = np.where(labels, counts[spk_e], counts[spk_e] * counts[spk_t])
    kept = np.repeat(scores, reps), np.repeat(labels, reps)
    return compute_metrics(kept[0][kept[1]], kept[0][~kept[1]], p_targets)


@pytest.mark.parametrize("ties", [False, True])
def test_every_resample_equals_the_trial_list_with_copied_speakers(ties):
    scores, labels, spk_e, spk_t = _trials(ties=ties)
    counts = resample_counts(6, 25, seed=3)
    boot = bootstrap_metrics(np.stack([scores, -scores + 2 * labels]), labels, spk_e, spk_t, 25, seed=3)
    checked = 0
    for r in range(25):
        for n, s in enumerate((scores, -scores + 2 * labels)):
            if counts[r][np.unique(spk_e[labels])].sum() == 0 or not np.isfinite(boot["eer"][r, n]):
                continue
            ref = _reference(s, labels, spk_e, spk_t, counts[r])
            assert boot["eer"][r, n] == pytest.approx(ref["eer"], abs=1e-4)
            for p in ("0.01", "0.001"):
                assert boot[f"min_dcf_{p}"][r, n] == pytest.approx(ref[f"min_dcf_{p}"], abs=1e-5)
            checked += 1
    assert checked >= 40


def test_all_ones_resample_is_the_point_estimate_and_degenerate_resamples_are_nan():
    scores, labels, spk_e, spk_t = _trials()
    from vib import bootstrap

    ones = np.ones((1, 6), dtype=np.int64)
    real = bootstrap.resample_counts
    try:
        bootstrap.resample_counts = lambda s, r, seed: ones
        boot = bootstrap_metrics(scores, labels, spk_e, spk_t, 1)
        bootstrap.resample_counts = lambda s, r, seed: np.eye(1, 6, dtype=np.int64)  # one speaker: no non-targets
        nan = bootstrap_metrics(scores, labels, spk_e, spk_t, 1)
    finally:
        bootstrap.resample_counts = real
    point = compute_metrics(scores[labels], scores[~labels])
    assert boot["eer"][0, 0] == pytest.approx(point["eer"], abs=1e-4)
    assert boot["min_dcf_0.01"][0, 0] == pytest.approx(point["min_dcf_0.01"], abs=1e-5)
    assert np.isnan(nan["eer"][0, 0])


def test_resample_counts_draw_every_speaker_count_once_per_row():
    counts = resample_counts(7, 500, seed=0)
    assert counts.shape == (500, 7) and (counts.sum(axis=1) == 7).all()
    assert abs(counts.mean() - 1.0) < 0.05 and (resample_counts(7, 500, seed=0) == counts).all()


def test_trial_speakers_maps_utterances_and_speaker_keys():
    e, t, names = trial_speakers(["u1", "spkB", "u3"], ["u2", "u1", "u3"], {"u1": "spkA", "u2": "spkA",
                                                                             "u3": "spkB"})
    assert names == ["spkA", "spkB"] and e.tolist() == [0, 1, 1] and t.tolist() == [0, 0, 1]
    with pytest.raises(VibError, match="no speaker for trial key 'u9'"):
        trial_speakers(["u9"], ["u1"], {"u1": "spkA"}, "data/utt2spk")


def test_paired_comparison_of_a_system_with_itself_and_with_a_worse_one():
    scores, labels, spk_e, spk_t = _trials(num_speakers=10, utts=6)
    worse = scores - 1.2 * labels
    boot = bootstrap_metrics(np.stack([scores, scores, worse]), labels, spk_e, spk_t, 200, seed=1)
    point = [compute_metrics(s[labels], s[~labels]) for s in (scores, worse)]
    keys = ("eer", "min_dcf_0.01")
    same = paired_comparison({k: point[0][k] for k in keys}, {k: point[0][k] for k in keys},
                             {k: boot[k][:, :1] for k in keys}, {k: boot[k][:, 1:2] for k in keys})
    assert same["eer"]["diff"] == 0 and same["eer"]["diff_ci"] == [0, 0] and not same["eer"]["significant"]
    cmp = paired_comparison({k: point[0][k] for k in keys}, {k: point[1][k] for k in keys},
                            {k: boot[k][:, :1] for k in keys}, {k: boot[k][:, 2:] for k in keys})
    assert cmp["eer"]["diff"] > 0 and cmp["eer"]["significant"] and cmp["eer"]["diff_ci"][0] > 0
    # the paired interval is narrower than the difference of the two separate intervals
    lo_a, hi_a = interval(boot["eer"][:, 0])
    lo_b, hi_b = interval(boot["eer"][:, 2])
    assert cmp["eer"]["diff_ci"][1] - cmp["eer"]["diff_ci"][0] < (hi_a - lo_a) + (hi_b - lo_b)
    assert lo_a <= point[0]["eer"] <= hi_a


def _write(tmp_path, scores, labels, spk_e, spk_t, name):
    utt = lambda side, i: f"s{side}-u{i}"  # noqa: E731
    with open(tmp_path / "trials", "w") as f:
        for i, (y, e, t) in enumerate(zip(labels, spk_e, spk_t)):
            f.write(f"{utt(e, i)}e {utt(t, i)}t {'target' if y else 'nontarget'}\n")
    with open(tmp_path / "utt2spk", "w") as f:
        for i, (e, t) in enumerate(zip(spk_e, spk_t)):
            f.write(f"{utt(e, i)}e spk{e}\n{utt(t, i)}t spk{t}\n")
    with open(tmp_path / name, "w") as f:
        for i, (s, e, t) in enumerate(zip(scores, spk_e, spk_t)):
            f.write(f"{utt(e, i)}e {utt(t, i)}t {s:.7g}\n")


def test_compute_metrics_cli_bootstrap_and_compare(tmp_path):
    scores, labels, spk_e, spk_t = _trials(num_speakers=8, utts=5)
    _write(tmp_path, scores, labels, spk_e, spk_t, "a")
    _write(tmp_path, scores - 0.8 * labels, labels, spk_e, spk_t, "b")
    _write(tmp_path, scores + 0.01, labels, spk_e, spk_t, "a2")
    proc = run_bash(f"cd {tmp_path} && vib-compute-metrics --json --bootstrap=300 --utt2spk=utt2spk trials a",
                    check=True)
    res = json.loads(proc.stdout)
    assert res["bootstrap"] == 300 and res["eer_ci"][0] <= res["eer"] <= res["eer_ci"][1]
    assert res["min_dcf_0.01_ci"][0] <= res["min_dcf_0.01"] <= res["min_dcf_0.01_ci"][1]
    proc = run_bash(f"cd {tmp_path} && vib-compute-metrics --bootstrap=300 --utt2spk=utt2spk --compare "
                    f"trials a a2 b b", check=True)
    cmp = json.loads(proc.stdout)
    assert cmp["a"] == ["a", "a2"] and cmp["b"] == ["b", "b"]
    assert cmp["eer"]["significant"] and cmp["eer"]["diff"] > 0 and cmp["eer"]["rel"] > 0
    for bad, message in (("--bootstrap=10 trials a", "--bootstrap needs --utt2spk"),
                         ("--compare trials a b", "--compare needs --bootstrap"),
                         ("--bootstrap=10 --utt2spk=utt2spk --compare trials a b a", "even number")):
        proc = run_bash(f"cd {tmp_path} && vib-compute-metrics {bad}")
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    (tmp_path / "utt2spk").write_text("x spk0\n")
    proc = run_bash(f"cd {tmp_path} && vib-compute-metrics --bootstrap=10 --utt2spk=utt2spk trials a")
    assert proc.returncode == 1 and "utt2spk: no speaker for trial key" in proc.stderr
