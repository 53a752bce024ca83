"""The back-end against Kaldi's own binaries (built by ../shared/kaldi/build.sh; skipped without them).

Each file one side writes is read by the other side's tools, and the numbers must agree: the
voxceleb/v2 chain run with Kaldi's binaries and with ours (models and scores), Kaldi scoring our
models and vectors, Kaldi's compute-eer on our scores, Kaldi reading our objects.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from tests.backend.e2e_data import make_experiment
from tests.conftest import run_bash
from tests.kaldi_tools import kaldi_bin_dirs
from vib.backend.trials import read_scores, read_trials
from vib.io.kaldi_objects import read_kaldi_matrix, read_kaldi_vector, read_plda
from vib.metrics import eer

KALDI_DIRS, WHY = kaldi_bin_dirs()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not KALDI_DIRS, reason=WHY)]


def kaldi(script: str, cwd: Path | None = None) -> str:
    """Runs a bash snippet with Kaldi's binaries first on PATH; returns stderr."""
    # after path.sh (which puts the venv's vib-* on PATH), so both are found
    return run_bash(f"export PATH={os.pathsep.join(map(str, KALDI_DIRS))}:$PATH; {script}", cwd=cwd, check=True).stderr


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> dict[str, Path]:
    return make_experiment(tmp_path_factory.mktemp("kaldi"), dim=12, seed=5)


def scores_by_pair(path: Path) -> dict[tuple[str, str], float]:
    enroll, test, values = read_scores(str(path))
    return dict(zip(zip(enroll, test), values.tolist()))


def assert_same_up_to_row_signs(ours: np.ndarray, theirs: np.ndarray, rtol: float) -> np.ndarray:
    """Eigenvector rows may differ in sign (README: which changes no score); returns the signs [rows]."""
    signs = np.sign(np.sum(ours * theirs, axis=1))
    np.testing.assert_allclose(ours * signs[:, None], theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())
    return signs


@pytest.mark.parametrize("level", ["utt", "spk"])
def test_plda_chain_with_kaldi_binaries_gives_our_models_and_scores(exp, tmp_path, level):
    args = f"--lda-dim 8 --enroll-level {level} {exp['train']} {exp['test']} {exp['test']}"
    trials = exp["trials"]
    if level == "spk":  # speaker enrollment: every test speaker against every test utterance
        spk2utt = dict(line.split(maxsplit=1) for line in (exp["test"] / "spk2utt").read_text().splitlines())
        utt2spk = {u: s for s, us in spk2utt.items() for u in us.split()}
        trials = tmp_path / "spk_trials"
        trials.write_text("".join(f"{s} {u} {'target' if utt2spk[u] == s else 'nontarget'}\n"
                                  for s in spk2utt for u in sorted(utt2spk)))
    kaldi(f"steps/score_plda.sh --use-kaldi true --plda-dir {tmp_path}/km {args} {trials} {tmp_path}/k")
    run_bash(f"steps/score_plda.sh --plda-dir {tmp_path}/vm {args} {trials} {tmp_path}/v", check=True)
    km, vm = tmp_path / "km", tmp_path / "vm"
    np.testing.assert_allclose(read_kaldi_vector(str(vm / "mean.vec")), read_kaldi_vector(str(km / "mean.vec")),
                               rtol=1e-6, atol=1e-7)
    lda_signs = assert_same_up_to_row_signs(read_kaldi_matrix(str(vm / "transform.mat")),
                                            read_kaldi_matrix(str(km / "transform.mat")), rtol=1e-4)
    ours, theirs = read_plda(str(vm / "plda")), read_plda(str(km / "plda"))  # in the LDA space: its signs
    np.testing.assert_allclose(ours.psi, theirs.psi, rtol=1e-4)
    np.testing.assert_allclose(ours.mean * lda_signs, theirs.mean, rtol=1e-4, atol=1e-6)
    assert_same_up_to_row_signs(ours.transform * lda_signs, theirs.transform, rtol=1e-4)
    k, v = scores_by_pair(tmp_path / "k/scores"), scores_by_pair(tmp_path / "v/scores")
    assert len(k) == len(read_trials(str(trials)).enroll) and set(k) == set(v)
    np.testing.assert_allclose([v[p] for p in k], list(k.values()), rtol=1e-4, atol=1e-4)


def test_kaldi_scores_our_models_and_vectors_as_we_do(exp, tmp_path):
    """Kaldi's ivector-plda-scoring reads our PLDA and ark tables (--num-utts too): same LLRs."""
    run_bash(f"steps/score_plda.sh --lda-dim 8 --plda-dir {tmp_path}/m {exp['train']} {exp['test']} "
             f"{exp['test']} {exp['trials']} {tmp_path}/s", check=True)
    m = tmp_path / "m"
    prep = (f"ark:vib-ivector-subtract-global-mean {m}/mean.vec scp:{{}} ark:- | vib-transform-vec "
            f"{m}/transform.mat ark:- ark:- | vib-ivector-normalize-length ark:- ark:- |")
    run_bash(f"vib-copy-plda --binary=false {m}/plda {tmp_path}/plda.txt", check=True)
    for plda in (f"{m}/plda", f"{tmp_path}/plda.txt"):
        for enroll, opts in ((exp["test"] / "xvector.scp", ""),
                             (exp["test"] / "spk_xvector.scp", f"--num-utts=ark:{exp['test']}/num_utts.ark")):
            pairs = [(s, u) for s in sorted(read_kaldi_keys(enroll))[:4] for u in sorted(read_kaldi_keys(
                exp["test"] / "xvector.scp"))]
            (tmp_path / "pairs").write_text("".join(f"{a} {b}\n" for a, b in pairs))
            common = f"{opts} {plda} '{prep.format(enroll)}' '{prep.format(exp['test'] / 'xvector.scp')}' " \
                     f"{tmp_path}/pairs"
            kaldi(f"ivector-plda-scoring {common} {tmp_path}/k_scores")
            run_bash(f"vib-plda-scoring {common} {tmp_path}/v_scores", check=True)
            k, v = scores_by_pair(tmp_path / "k_scores"), scores_by_pair(tmp_path / "v_scores")
            assert list(k) == pairs and list(v) == pairs
            np.testing.assert_allclose(list(v.values()), list(k.values()), rtol=1e-5, atol=1e-5)


def read_kaldi_keys(scp: Path) -> list[str]:
    return [line.split()[0] for line in scp.read_text().splitlines()]


def test_cosine_chain_with_kaldi_binaries_gives_our_scores(exp, tmp_path):
    args = f"--train-dir {exp['train']} {exp['test']} {exp['test']} {exp['trials']}"
    kaldi(f"steps/score_cosine.sh --use-kaldi true {args} {tmp_path}/k")
    run_bash(f"steps/score_cosine.sh {args} {tmp_path}/v", check=True)
    k, v = scores_by_pair(tmp_path / "k/scores"), scores_by_pair(tmp_path / "v/scores")
    assert set(k) == set(v)
    np.testing.assert_allclose([v[p] for p in k], list(k.values()), rtol=1e-5, atol=1e-6)


def test_kaldi_compute_eer_on_our_scores_is_within_one_operating_point_of_ours(exp, tmp_path):
    run_bash(f"steps/score_plda.sh --lda-dim 8 {exp['train']} {exp['test']} {exp['test']} {exp['trials']} "
             f"{tmp_path}/s", check=True)
    scores = scores_by_pair(tmp_path / "s/scores")
    trials = read_trials(str(exp["trials"]), need_labels=True)
    values = np.array([scores[p] for p in zip(trials.enroll, trials.test)])
    labels = np.asarray(trials.labels, dtype=bool)
    (tmp_path / "for_eer").write_text("".join(f"{s:.7g} {'target' if t else 'nontarget'}\n"
                                              for s, t in zip(values, labels)))
    text = kaldi(f"compute-eer {tmp_path}/for_eer")
    kaldi_eer = float(re.search(r"Equal error rate is ([0-9.]+)%", text).group(1))
    ours = 100 * eer(values[labels], values[~labels])
    assert abs(ours - kaldi_eer) <= 100 / labels.sum() + 1e-3, (ours, kaldi_eer)


def test_kaldi_reads_our_objects(exp, tmp_path):
    """copy-vector and ivector-copy-plda turn our binary objects into Kaldi text we read back unchanged."""
    run_bash(f"vib-ivector-mean scp:{exp['train']}/xvector.scp {tmp_path}/mean.vec && "
             f"vib-compute-plda ark:{exp['train']}/spk2utt scp:{exp['train']}/xvector.scp {tmp_path}/plda",
             check=True)
    kaldi(f"copy-vector --binary=false {tmp_path}/mean.vec {tmp_path}/mean.txt && "
          f"ivector-copy-plda --binary=false {tmp_path}/plda {tmp_path}/plda.txt")
    np.testing.assert_array_equal(read_kaldi_vector(str(tmp_path / "mean.txt")).astype(np.float32),
                                  read_kaldi_vector(str(tmp_path / "mean.vec")).astype(np.float32))
    ours, theirs = read_plda(str(tmp_path / "plda")), read_plda(str(tmp_path / "plda.txt"))
    for name in ("mean", "transform", "psi"):
        np.testing.assert_allclose(getattr(theirs, name), getattr(ours, name), rtol=1e-6)
