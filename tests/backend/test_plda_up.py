"""PLDA with uncertainty propagation against the dense Gaussian it approximates, and against
plain PLDA when there is no uncertainty."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from vib.backend.plda import llr_terms, plda_trial_scores
from vib.backend.plda_up import enrollment_posterior, plda_space_variance, up_trial_scores
from vib.errors import VibError
from vib.io.kaldi_objects import Plda


def dense_llr(psi: np.ndarray, enroll: np.ndarray, enroll_cov: np.ndarray, test: np.ndarray,
              test_cov: np.ndarray) -> float:
    """log N([e_1..e_n, t]; 0, C_target) - log N(.; 0, C_nontarget) with full per-utterance covariances:
    every vector = y + e + d, y ~ N(0, diag psi) shared by the enrollment (and the test under target),
    e ~ N(0, I), d ~ N(0, cov of that utterance)."""
    n, dim = enroll.shape
    blocks = n + 1
    between = np.diag(psi)
    tar = np.kron(np.ones((blocks, blocks)), between)
    for j, cov in enumerate(list(enroll_cov) + [test_cov]):
        tar[j * dim:(j + 1) * dim, j * dim:(j + 1) * dim] += np.eye(dim) + cov
    non = tar.copy()
    non[:n * dim, n * dim:] = 0
    non[n * dim:, :n * dim] = 0
    z = np.concatenate([enroll.ravel(), test])
    return multivariate_normal(np.zeros(z.size), tar).logpdf(z) - multivariate_normal(np.zeros(z.size), non).logpdf(z)


def _plda(dim: int, rng) -> Plda:
    return Plda(np.zeros(dim), np.eye(dim), rng.uniform(0.3, 4.0, dim))


def test_diagonal_uncertainty_equals_the_dense_gaussian_with_several_enrollment_utterances():
    rng = np.random.default_rng(0)
    dim, n = 4, 3
    plda = _plda(dim, rng)
    enroll, test = rng.normal(size=(n, dim)), rng.normal(size=dim)
    e_var, t_var = rng.uniform(0, 2, (n, dim)), rng.uniform(0, 2, dim)
    mean, var = enrollment_posterior(plda, enroll, e_var, np.zeros(n, dtype=int), 1)
    ours = up_trial_scores(plda, mean, var, test[None], t_var[None], np.array([0]), np.array([0]))[0]
    ref = dense_llr(plda.psi, enroll, [np.diag(v) for v in e_var], test, np.diag(t_var))
    assert ours == pytest.approx(ref, abs=1e-4)   # float32 per-dimension terms


def test_no_uncertainty_is_plain_kaldi_plda_including_num_utts():
    rng = np.random.default_rng(1)
    dim = 6
    plda = _plda(dim, rng)
    enroll, test = rng.normal(size=(5, dim)), rng.normal(size=(7, dim))
    ei, ti = rng.integers(0, 5, 40), rng.integers(0, 7, 40)
    zeros_e, zeros_t = np.zeros_like(enroll), np.zeros_like(test)
    mean, var = enrollment_posterior(plda, enroll, zeros_e)
    ours = up_trial_scores(plda, mean, var, test, zeros_t, ei, ti, chunk=7)
    np.testing.assert_allclose(ours, plda_trial_scores(llr_terms(plda, enroll), test, ei, ti), rtol=1e-5, atol=1e-4)
    # Kaldi's --num-utts n: the average of n vectors scores as n vectors of no uncertainty, combined
    utts = rng.normal(size=(3, dim))
    mean, var = enrollment_posterior(plda, utts, np.zeros_like(utts), np.zeros(3, dtype=int), 1)
    ours = up_trial_scores(plda, mean, var, test, zeros_t, np.zeros(7, dtype=int), np.arange(7))
    kaldi = plda_trial_scores(llr_terms(plda, utts.mean(axis=0, keepdims=True), 3), test, np.zeros(7, dtype=int),
                              np.arange(7))
    np.testing.assert_allclose(ours, kaldi, rtol=1e-5, atol=1e-4)


def test_uncertainty_pulls_the_llr_towards_zero():
    rng = np.random.default_rng(2)
    plda = _plda(8, rng)
    e = rng.normal(size=(1, 8)) * np.sqrt(plda.psi)
    same, other = e + 0.3 * rng.normal(size=(1, 8)), rng.normal(size=(1, 8)) * np.sqrt(plda.psi + 1)
    for t in (same, other):
        llrs = []
        for s in (0.0, 1.0, 10.0, 1000.0):
            mean, var = enrollment_posterior(plda, e, np.full_like(e, s))
            llrs.append(up_trial_scores(plda, mean, var, t, np.full_like(t, s), np.array([0]), np.array([0]))[0])
        assert abs(llrs[-1]) < 0.05 and abs(llrs[0]) > abs(llrs[-1])


def test_variance_propagation_through_a_linear_map_and_the_diagonal_approximation_error():
    """diag(f^2 M diag(var) M^T) against the full product; and what dropping the off-diagonal
    terms costs on small dims: with a random rotation into the PLDA space, |LLR error| stays a
    small fraction of the effect the uncertainty has on the LLR."""
    rng = np.random.default_rng(3)
    dim = 4
    lin = rng.normal(size=(dim, 6))
    var = rng.uniform(0, 0.5, (3, 6))
    scale = np.array([1.0, 2.0, 0.5])
    got = plda_space_variance(lin, var, scale)
    for k in range(3):
        full = scale[k] ** 2 * lin @ np.diag(var[k]) @ lin.T
        np.testing.assert_allclose(got[k], np.diag(full), rtol=1e-12)
    plda = _plda(dim, rng)
    errors, effects = [], []
    for _ in range(20):
        e, t = rng.normal(size=(1, dim)), rng.normal(size=dim)
        full_e, full_t = (s ** 2 * lin @ np.diag(v) @ lin.T for s, v in ((1.0, rng.uniform(0, .3, 6)),
                                                                           (1.0, rng.uniform(0, .3, 6))))
        exact = dense_llr(plda.psi, e, [full_e], t, full_t)
        mean, v = enrollment_posterior(plda, e, np.diag(full_e)[None])
        approx = up_trial_scores(plda, mean, v, t[None], np.diag(full_t)[None], np.array([0]), np.array([0]))[0]
        plain = dense_llr(plda.psi, e, [np.zeros((dim, dim))], t, np.zeros((dim, dim)))
        errors.append(abs(approx - exact))
        effects.append(abs(exact - plain))
    assert np.median(errors) < 0.5 * np.median(effects)
    with pytest.raises(VibError, match="non-negative"):
        plda_space_variance(lin, -var, 1.0)
    with pytest.raises(VibError, match="do not fit"):
        plda_space_variance(lin, var[:, :4], 1.0)


def _write_chain(tmp_path, rng, dim_in=6, dim=4, num=12):
    from vib.io.kaldi_objects import write_kaldi_matrix, write_kaldi_vector, write_plda
    from vib.io.tables import write_table

    write_kaldi_vector(str(tmp_path / "mean.vec"), rng.normal(size=dim_in))
    write_kaldi_matrix(str(tmp_path / "transform.mat"), rng.normal(size=(dim, dim_in + 1)))
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    write_plda(str(tmp_path / "plda"), Plda(rng.normal(size=dim) * 0.1, q * rng.uniform(0.5, 2, dim)[:, None],
                                            rng.uniform(0.3, 3, dim)))
    keys = [f"u{i:02d}" for i in range(num)]
    vectors = rng.normal(size=(num, dim_in)).astype(np.float32)
    write_table(f"ark,scp:{tmp_path}/x.ark,{tmp_path}/x.scp", list(zip(keys, vectors)))
    (tmp_path / "trials").write_text("".join(f"{a} {b}\n" for a in keys[:4] for b in keys[4:]))
    return keys, vectors


def test_cli_without_uncertainty_is_the_kaldi_chain_and_uncertainty_moves_the_scores(tmp_path):
    from tests.conftest import run_bash
    from vib.io.tables import write_table

    rng = np.random.default_rng(5)
    keys, vectors = _write_chain(tmp_path, rng)
    chain = ("ark:vib-ivector-subtract-global-mean mean.vec scp:x.scp ark:- | vib-transform-vec transform.mat ark:- "
             "ark:- | vib-ivector-normalize-length ark:- ark:- |")
    run_bash(f"cd {tmp_path} && vib-plda-scoring --normalize-length=true plda '{chain}' '{chain}' trials plain",
             check=True)
    for name, value in (("tiny", 1e-12), ("big", 0.5)):
        write_table(f"ark,scp:{tmp_path}/{name}.ark,{tmp_path}/{name}.scp",
                    [(k, np.full(6, value, np.float32)) for k in keys])
        run_bash(f"cd {tmp_path} && vib-plda-scoring-up --mean=mean.vec --lda=transform.mat plda scp:x.scp "
                 f"scp:{name}.scp scp:x.scp scp:{name}.scp trials {name}", check=True)
    read = lambda n: np.array([float(line.split()[2]) for line in (tmp_path / n).read_text().splitlines()])  # noqa: E731
    np.testing.assert_allclose(read("tiny"), read("plain"), rtol=1e-4, atol=1e-4)
    assert np.abs(read("big") - read("plain")).max() > 1e-2 and np.abs(read("big")).mean() < np.abs(read("plain")).mean()
    # --variance-scale multiplies every variance first: 0.5 with scale 1/50 is 0.01 itself
    write_table(f"ark,scp:{tmp_path}/small.ark,{tmp_path}/small.scp", [(k, np.full(6, 0.01, np.float32)) for k in keys])
    for name, var, scale in (("small", "small", 1.0), ("scaled", "big", 0.02)):
        run_bash(f"cd {tmp_path} && vib-plda-scoring-up --variance-scale={scale} --mean=mean.vec --lda=transform.mat "
                 f"plda scp:x.scp scp:{var}.scp scp:x.scp scp:{var}.scp trials {name}", check=True)
    np.testing.assert_allclose(read("scaled"), read("small"), rtol=1e-5, atol=1e-6)
    assert np.abs(read("small") - read("plain")).max() > 1e-4
    proc = run_bash(f"cd {tmp_path} && vib-plda-scoring-up --variance-scale=0 --mean=mean.vec --lda=transform.mat "
                    f"plda scp:x.scp scp:big.scp scp:x.scp scp:big.scp trials zero")
    assert proc.returncode == 1 and "--variance-scale must be positive, got 0.0" in proc.stderr
    assert not (tmp_path / "zero").exists()


def test_cli_refuses_missing_or_non_positive_variances(tmp_path):
    from tests.conftest import run_bash
    from vib.io.tables import write_table

    rng = np.random.default_rng(6)
    keys, _ = _write_chain(tmp_path, rng)
    write_table(f"ark:{tmp_path}/short.ark", [(k, np.ones(6, np.float32)) for k in keys[:-1]])
    write_table(f"ark:{tmp_path}/zero.ark", [(k, np.full(6, 0.0 if k == "u03" else 1.0, np.float32)) for k in keys])
    for var, message in (("short.ark", "no variance for 'u11'"), ("zero.ark", "variance of 'u03' is not positive")):
        proc = run_bash(f"cd {tmp_path} && vib-plda-scoring-up --mean=mean.vec --lda=transform.mat plda scp:x.scp "
                        f"ark:{var} scp:x.scp ark:{var} trials out")
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
        assert not (tmp_path / "out").exists()
