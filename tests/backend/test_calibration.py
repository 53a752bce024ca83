"""Quality-measure calibration (QMF): the Newton solver against a generic optimiser, the gain on
trials whose score scale depends on duration, the JSON model, and vib-calibrate with quality tables."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import minimize

from tests.conftest import run_bash
from vib.backend.calibration import Calibration, calibration_objective, qmf_features, quality_vector
from vib.errors import VibError
from vib.io.tables import write_table
from vib.metrics import cllr


def _duration_trials(n: int, seed: int):
    """Trials whose scores shift with the shorter side's duration (1-8 s), targets and non-targets
    alike (an additive quality effect, which QMF models)."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.2
    dur = np.exp(rng.uniform(np.log(1.0), np.log(8.0), (n, 2)))
    scores = 2.0 * labels + 1.5 * np.log(dur.min(axis=1)) + rng.normal(size=n) * 0.8
    q = np.log(dur)[:, :, None]
    return scores, labels, q[:, 0], q[:, 1]


def test_qmf_solver_matches_generic_optimiser_and_beats_plain_calibration_on_held_out_trials():
    scores, labels, q_e, q_t = _duration_trials(4000, 0)
    cal = Calibration.train(scores, labels, 0.1, q_e, q_t)
    feats = qmf_features(scores, q_e, q_t)
    ref = minimize(lambda p: calibration_objective(p, feats, labels, 0.1), [1.0, 0.0, 0.0, 0.0],
                   method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000}).x
    np.testing.assert_allclose([cal.a, *cal.w_min, *cal.w_max, cal.b], ref, rtol=1e-3, atol=1e-4)
    assert cal.measures == ("log_duration",)
    plain = Calibration.train(scores, labels, 0.1)
    held = _duration_trials(4000, 1)
    with_q, without = cal(held[0], held[2], held[3]), plain(held[0])
    assert cllr(with_q[held[1]], with_q[~held[1]]) < cllr(without[held[1]], without[~held[1]]) - 0.02
    with pytest.raises(VibError, match="uses the quality measures log_duration"):
        cal(held[0])


def test_quality_vector_and_calibration_json_round_trip(tmp_path):
    np.testing.assert_allclose(quality_vector(2.0, None), [np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(quality_vector(2.0, np.array([1.0, np.e ** 2])), [np.log(2.0), 1.0], rtol=1e-6)
    with pytest.raises(VibError, match="positive duration"):
        quality_vector(0.0, None)
    cal = Calibration(2.0, -1.0, 0.01, ("log_duration", "mean_log_var"), (0.5, 0.1), (-0.2, 0.3))
    cal.write(tmp_path / "c.json")
    assert Calibration.read(tmp_path / "c.json") == cal
    q = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    assert cal(np.array([1.5]), *q)[0] == pytest.approx(2 * 1.5 - 1 + 0.5 * 1 + 0.1 * -1 - 0.2 * 3 + 0.3 * 2)
    for text, message in (('{"a": 1}', "not a calibration model"), ("[", "not a calibration model"),
                          ('{"a": 1, "b": 0, "quality": {"measures": ["snr"], "min": [1], "max": [1]}}',
                           "quality measures must be a prefix"),
                          ('{"a": NaN, "b": 0}', "must be finite")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(VibError, match=message):
            Calibration.read(tmp_path / "bad.json")


def test_vib_calibrate_with_quality_tables(tmp_path):
    scores, labels, q_e, q_t = _duration_trials(600, 2)
    enroll, test = [f"e{i}" for i in range(600)], [f"t{i}" for i in range(600)]
    (tmp_path / "trials").write_text("".join(f"{e} {t} {'target' if y else 'nontarget'}\n"
                                             for e, t, y in zip(enroll, test, labels)))
    (tmp_path / "scores").write_text("".join(f"{e} {t} {s:.7g}\n" for e, t, s in zip(enroll, test, scores)))
    write_table(f"ark,scp:{tmp_path}/q.ark,{tmp_path}/q.scp",
                [(k, q.astype(np.float32)) for k, q in zip(enroll + test, np.concatenate([q_e, q_t]))])
    proc = run_bash(f"cd {tmp_path} && vib-calibrate --prior=0.1 --dev-quality=scp:q.scp --quality=scp:q.scp "
                    f"--model-out=cal.json trials scores scores llr", check=True)
    assert "min(log_duration)" in proc.stderr
    model = json.loads((tmp_path / "cal.json").read_text())
    assert model["quality"]["measures"] == ["log_duration"]
    cal = Calibration.read(tmp_path / "cal.json")
    llr = np.array([float(line.split()[2]) for line in (tmp_path / "llr").read_text().splitlines()])
    np.testing.assert_allclose(llr, cal(scores, q_e, q_t), atol=1e-4)
    write_table(f"ark,scp:{tmp_path}/q2.ark,{tmp_path}/q2.scp",
                [(k, np.zeros(1, np.float32)) for k in enroll + test[:-1]])
    for options, message in (("--dev-quality=scp:q.scp", "--dev-quality and --quality go together"),
                             ("--dev-quality=scp:q.scp --quality=scp:q2.scp", "no quality measures for 't599'")):
        proc = run_bash(f"cd {tmp_path} && vib-calibrate {options} trials scores scores llr2")
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
        assert not (tmp_path / "llr2").exists()
