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
    assert capsys.readouterr().out.splitlines() == [
        "l cosine+asnorm a exp/a/scores_cosine_l/scores_asnorm exp/a/scores_cosine_l/metrics_asnorm.json",
        "l cosine+asnorm b exp/b/scores_cosine_l/scores_asnorm exp/b/scores_cosine_l/metrics_asnorm.json",
        "l plda a exp/a/scores_plda_l/scores exp/a/scores_plda_l/metrics.json",
        "l plda b exp/b/scores_plda_l/scores exp/b/scores_plda_l/metrics.json"]
