"""vib-results-table collects metrics.json files into one Markdown table."""
from __future__ import annotations

import json

import pytest

from vib.bin.results_table import main, metrics_path, results_table
from vib.errors import VibError


def _write(exp, system, backend, lst, eer):
    path = exp / f"{system}/scores_{backend}_{lst}/metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"eer": eer, "min_dcf_0.01": 0.25, "min_dcf_0.001": 0.5}))


def test_table_rows_in_order(tmp_path):
    for i, (s, b) in enumerate([("aam", "cosine"), ("vib", "cosine"), ("aam", "plda"), ("vib", "plda")]):
        _write(tmp_path, s, b, "trials", float(i))
    table = results_table(str(tmp_path), ["aam", "vib"], ["cosine", "plda"], ["trials"]).splitlines()
    assert len(table) == 6
    assert table[2] == "| trials | cosine | aam | 0.00 | 0.250 | 0.500 |"
    assert table[5] == "| trials | plda | vib | 3.00 | 0.250 | 0.500 |"


def test_missing_metrics_named(tmp_path):
    with pytest.raises(VibError, match="missing metrics file"):
        results_table(str(tmp_path), ["aam"], ["cosine"], ["trials"])
    assert metrics_path("exp", "a", "b", "c") == "exp/a/scores_b_c/metrics.json"
    assert metrics_path("exp", "a", "cosine+asnorm", "c") == "exp/a/scores_cosine_c/metrics_asnorm.json"


def test_paths_lists_scores_and_metrics_in_table_order(capsys):
    assert main(["--paths", "--systems", "a,b", "--backends", "cosine+asnorm,plda", "--lists", "l", "exp"]) == 0
    assert [line.split()[:5] for line in capsys.readouterr().out.splitlines()] == [
        "l cosine+asnorm a exp/a/scores_cosine_l/scores_asnorm exp/a/scores_cosine_l/metrics_asnorm.json".split(),
        "l cosine+asnorm b exp/b/scores_cosine_l/scores_asnorm exp/b/scores_cosine_l/metrics_asnorm.json".split(),
        "l plda a exp/a/scores_plda_l/scores exp/a/scores_plda_l/metrics.json".split(),
        "l plda b exp/b/scores_plda_l/scores exp/b/scores_plda_l/metrics.json".split()]


def _write_scores(exp, run, backend, lst, trials, scores):
    path = exp / run / f"scores_{backend}_{lst}" / "scores"
    path.write_text("".join(f"{e} {t} {s:.6f}\n" for (e, t, _), s in zip(trials, scores)))


def _speaker_trials(tmp_path):
    """data/{utt2spk,trials}: every pair of 4 utterances of 6 speakers; (data dir, trials, labels)."""
    import numpy as np

    data = tmp_path / "data"
    data.mkdir()
    utts = [(f"s{s}-u{u}", f"s{s}") for s in range(6) for u in range(4)]
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in utts))
    trials = [(a, b, sa == sb) for i, (a, sa) in enumerate(utts) for b, sb in utts[i + 1:]]
    (data / "trials").write_text("".join(f"{a} {b} {'target' if y else 'nontarget'}\n" for a, b, y in trials))
    return data, trials, np.array([y for _, _, y in trials])


def test_seeds_give_mean_and_std_and_bootstrap_intervals_and_comparisons(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    data, trials, labels = _speaker_trials(tmp_path)
    for system, eers, gap in (("aam", (4.0, 6.0), 2.0), ("vib", (3.0, 3.0), 3.5)):
        for seed, eer in zip((0, 1), eers):
            _write(tmp_path, f"{system}_s{seed}", "plda", "l", eer)
            _write_scores(tmp_path, f"{system}_s{seed}", "plda", "l", trials,
                          rng.normal(size=labels.size) + gap * labels)
    table = results_table(str(tmp_path), ["aam", "vib"], ["plda"], ["l"], seeds=["0", "1"]).splitlines()
    assert table[2] == "| l | plda | aam | 5.00 ± 1.41 | 0.250 ± 0.000 | 0.500 ± 0.000 |"
    assert table[3] == "| l | plda | vib | 3.00 ± 0.00 | 0.250 ± 0.000 | 0.500 ± 0.000 |"
    assert main(["--systems", "aam,vib", "--seeds", "0,1", "--backends", "plda", "--lists", "l", "--trials",
                 f"l={data}/trials", "--bootstrap", "200", "--compare", "vib:aam", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = out.splitlines()
    assert rows[0].endswith("| EER 95 % interval | minDCF 0.01 | minDCF 0.001 |")
    low, high = (float(x) for x in rows[2].split("|")[5].strip(" []").split(","))
    assert low < high
    comparison = [r for r in out.splitlines() if r.startswith("| l | plda | vib vs aam |")]
    assert len(comparison) == 1 and comparison[0].split("|")[4].strip().startswith("-40.0 [")
    with pytest.raises(VibError, match="--compare: expected B:A pairs of --systems"):
        main(["--systems", "aam", "--backends", "plda", "--lists", "l", "--trials", "l=x", "--compare", "vib:aam",
              str(tmp_path)])
    with pytest.raises(VibError, match="--compare needs --trials"):
        main(["--systems", "aam,vib", "--backends", "plda", "--lists", "l", "--compare", "vib:aam", str(tmp_path)])


def test_a_backend_of_some_systems_and_paired_comparisons_of_backends(tmp_path, capsys):
    import numpy as np

    from vib.bin.results_table import score_paths

    rng = np.random.default_rng(1)
    data, trials, labels = _speaker_trials(tmp_path)
    for run, backend, eer, gap in (("aam", "plda", 4.0, 3.0), ("vib", "plda", 4.0, 3.0), ("vib", "plda+up", 5.0, 1.0)):
        scores, metrics = (tmp_path / p for p in score_paths("", run, backend, "l"))
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text(json.dumps({"eer": eer, "min_dcf_0.01": 0.25, "min_dcf_0.001": 0.5}))
        scores.write_text("".join(f"{e} {t} {s:.6f}\n" for (e, t, _), s in
                                  zip(trials, rng.normal(size=labels.size) + gap * labels)))
    common = ["--systems", "aam,vib", "--backends", "plda,plda+up", "--lists", "l", "--backend-systems",
              "plda+up=vib"]
    assert main(common + ["--trials", f"l={data}/trials", "--bootstrap", "100", "--compare-backends",
                          "plda+up:plda", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [r.split("|")[1:4] for r in out[2:5]] == [[" l ", " plda ", " aam "], [" l ", " plda ", " vib "],
                                                     [" l ", " plda+up ", " vib "]]  # no plda+up row for aam
    assert out[5] == "" and out[6].startswith("### Paired comparisons of back-ends")
    rows = [r for r in out if r.startswith("| l | ")][3:]
    assert len(rows) == 1 and rows[0].startswith("| l | vib | plda+up vs plda | +25.0 [")  # (5 - 4) / 4
    low, high = (float(x) for x in rows[0].split("|")[4].split("[")[1].split("]")[0].split(","))
    assert 0 < low < high  # the noisier scores are worse on every resample here
    assert main(["--paths"] + common + [str(tmp_path)]) == 0
    assert [line.split()[:3] for line in capsys.readouterr().out.splitlines()] == [
        ["l", "plda", "aam"], ["l", "plda", "vib"], ["l", "plda+up", "vib"]]
    with pytest.raises(VibError, match="--backend-systems: 'sys9' is not one of --systems"):
        main(common[:-1] + ["plda+up=sys9", str(tmp_path)])
    with pytest.raises(VibError, match="--backend-systems: 'vib' is not one of --backends"):
        main(common[:-1] + ["vib=aam", str(tmp_path)])
    with pytest.raises(VibError, match="--compare-backends: expected B:A pairs of --backends"):
        main(common + ["--trials", f"l={data}/trials", "--compare-backends", "plda:cosine", str(tmp_path)])


def test_calibration_table_and_paths_of_calibrated_scores(tmp_path, capsys):
    for run in ("aam", "vib"):
        for name, (act, cllr) in (("metrics_llr.json", (0.5, 0.4)), ("metrics_llr_qmf.json", (0.45, 0.3))):
            path = tmp_path / run / "scores_plda_l" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"min_dcf_0.01": 0.4, "act_dcf_0.01": act, "cllr": cllr}))
    from vib.bin.results_table import calibration_table

    rows = calibration_table(str(tmp_path), ["aam", "vib"], ["plda"], ["l"]).splitlines()
    assert rows[2] == "| l | plda | aam | 0.400 | 0.500 | 0.450 | 0.400 | 0.300 |"
    assert main(["--paths", "--systems", "a", "--seeds", "1", "--backends", "cosine+asnorm", "--lists", "l",
                 "exp"]) == 0
    assert capsys.readouterr().out.split() == [
        "l", "cosine+asnorm", "a_s1", "exp/a_s1/scores_cosine_l/scores_asnorm",
        "exp/a_s1/scores_cosine_l/metrics_asnorm.json", "exp/a_s1/scores_cosine_l/scores_asnorm_llr",
        "exp/a_s1/scores_cosine_l/metrics_asnorm_llr.json", "exp/a_s1/scores_cosine_l/scores_asnorm_llr_qmf",
        "exp/a_s1/scores_cosine_l/metrics_asnorm_llr_qmf.json"]
