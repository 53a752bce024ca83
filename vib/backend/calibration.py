"""Logistic-regression calibration: llr = a * score + b, trained with a target prior.

Minimises the prior-weighted cross-entropy (as BOSARIS' ``train_llr_fusion``):
  C(a, b) = p / N_tar * sum_tar log(1 + exp(-(a s + b + logit p)))
          + (1 - p) / N_non * sum_non log(1 + exp(a s + b + logit p)),
so a * s + b is a log-likelihood ratio calibrated for any prior.
"""
from __future__ import annotations

import numpy as np

from vib.errors import VibError


def _objective_parts(params: np.ndarray, scores: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                     logit_p: float) -> tuple[float, np.ndarray, np.ndarray]:
    sign = np.where(labels, 1.0, -1.0)
    z = sign * (params[0] * scores + params[1] + logit_p)
    loss = float(np.sum(weights * np.logaddexp(0.0, -z)))
    sig = 0.5 * (1.0 + np.tanh(-0.5 * z))  # sigmoid(-z), stable
    feats = np.stack([scores, np.ones_like(scores)], axis=1)
    grad = -(weights * sig * sign) @ feats
    hess = (feats * (weights * sig * (1.0 - sig))[:, None]).T @ feats
    return loss, grad, hess


def calibration_weights(labels: np.ndarray, prior: float) -> np.ndarray:
    """Per-trial weights p / N_tar for targets and (1 - p) / N_non for non-targets."""
    n_tar = int(labels.sum())
    n_non = labels.shape[0] - n_tar
    if n_tar == 0 or n_non == 0:
        raise VibError(f"calibration needs target and non-target trials (got {n_tar} and {n_non})")
    return np.where(labels, prior / n_tar, (1.0 - prior) / n_non)


def calibration_objective(params: np.ndarray, scores: np.ndarray, labels: np.ndarray, prior: float) -> float:
    """C(a, b) above, in nats."""
    logit_p = float(np.log(prior / (1.0 - prior)))
    return _objective_parts(np.asarray(params, float), scores, labels, calibration_weights(labels, prior),
                            logit_p)[0]


def train_calibration(scores: np.ndarray, labels: np.ndarray, prior: float = 0.5,
                      max_iters: int = 100, tol: float = 1e-10) -> tuple[float, float]:
    """Newton's method with step halving on (a, b); scores [M], labels [M] bool. Returns (a, b)."""
    if not 0.0 < prior < 1.0:
        raise VibError(f"prior must be in (0, 1), got {prior}")
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    weights = calibration_weights(labels, prior)
    logit_p = float(np.log(prior / (1.0 - prior)))
    params = np.array([1.0, 0.0])
    loss, grad, hess = _objective_parts(params, scores, labels, weights, logit_p)
    for _ in range(max_iters):
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        scale = 1.0
        while True:
            trial = params - scale * step
            new_loss, new_grad, new_hess = _objective_parts(trial, scores, labels, weights, logit_p)
            if new_loss <= loss or scale < 1e-8:
                break
            scale /= 2
        done = loss - new_loss < tol
        params, loss, grad, hess = trial, new_loss, new_grad, new_hess
        if done:
            break
    return float(params[0]), float(params[1])


def apply_calibration(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    """Calibrated log-likelihood ratios a * scores + b."""
    return a * np.asarray(scores, dtype=np.float64) + b
