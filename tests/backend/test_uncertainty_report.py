"""vib-uncertainty-report: the VIB variance against duration, from vib-extract's quality tables."""
from __future__ import annotations

import numpy as np
import pytest

from vib.bin.uncertainty_report import main
from vib.errors import VibError
from vib.io.tables import write_table
from vib.uncertainty import uncertainty_stats


def _quality(rng, n, durations=None, slope=-0.5):
    """Rows (ln duration, mean ln sigma^2): sigma^2 ~ duration^slope times noise."""
    d = durations if durations is not None else rng.uniform(0.5, 8.0, n)
    return np.stack([np.log(d), slope * np.log(d) + 0.1 * rng.standard_normal(n)], axis=1).astype(np.float32)


def test_statistics_against_numpy():
    rng = np.random.default_rng(0)
    q = _quality(rng, 400)
    s = uncertainty_stats(q, "q")
    d, v = np.exp(q[:, 0].astype(np.float64)), np.exp(q[:, 1].astype(np.float64))
    assert s.count == 400 and s.median_duration == pytest.approx(np.median(d))
    assert s.mean_var == pytest.approx(v.mean())
    assert s.correlation == pytest.approx(np.corrcoef(q[:, 0], q[:, 1])[0, 1], abs=1e-6) and s.correlation < -0.9
    assert np.isnan(uncertainty_stats(_quality(rng, 10, np.full(10, 1.0)), "q").correlation)
    with pytest.raises(VibError, match="q1: expected quality rows of .* got shape \\(5, 1\\)"):
        uncertainty_stats(np.zeros((5, 1), np.float32), "q1")


def test_cli_table_and_plot(tmp_path, capsys):
    rng = np.random.default_rng(1)
    write_table(f"ark:{tmp_path}/whole.ark", [(f"u{i}", r) for i, r in enumerate(_quality(rng, 50))])
    write_table(f"ark:{tmp_path}/short.ark", [(f"u{i}", r) for i, r in enumerate(_quality(rng, 50, np.ones(50)))])
    sets = [f"whole=ark:{tmp_path}/whole.ark", f"1s=ark:{tmp_path}/short.ark"]
    assert main(["--plot", str(tmp_path / "u.png"), "--plot-sets", "whole", *sets]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("| set | utterances | median duration (s) | mean sigma^2 |") and len(rows) == 4
    assert rows[2].startswith("| whole | 50 | ") and rows[3].startswith("| 1s | 50 | 1.00 | ")
    assert rows[3].endswith("| n/a (one duration) |")
    assert (tmp_path / "u.png").read_bytes()[:4] == b"\x89PNG"
    write_table(f"ark:{tmp_path}/aam.ark", [("u0", np.zeros(1, np.float32))])
    with pytest.raises(VibError, match="aam.ark: expected quality rows"):
        main([f"a=ark:{tmp_path}/aam.ark"])
    with pytest.raises(VibError, match="--plot-sets: no set 'other' among whole, 1s"):
        main(["--plot", str(tmp_path / "v.png"), "--plot-sets", "other", *sets])
    assert not (tmp_path / "v.png").exists()
