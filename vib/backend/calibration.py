"""Logistic-regression calibration: llr = a * score + b (+ quality terms), trained with a target prior.

Minimises the prior-weighted cross-entropy (as BOSARIS' ``train_llr_fusion``):
  C(w, b) = p / N_tar * sum_tar log(1 + exp(-(w.x + b + logit p)))
          + (1 - p) / N_non * sum_non log(1 + exp(w.x + b + logit p)),
so w.x + b is a log-likelihood ratio calibrated for any prior. Plain calibration has
x = [score]; quality-measure functions (QMF, as WeSpeaker's) add, for every measure, the
smaller and the larger of the two sides' values: x = [score, min(q_e, q_t), max(q_e, q_t)].
Per-utterance measures (:func:`quality_vector`): the log duration in seconds and, for a
VIB extractor, the mean predicted log-variance of the embedding.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vib.errors import VibError
from vib.io.tables import atomic_output

QUALITY_MEASURES = ("log_duration", "mean_log_var")


def quality_vector(duration: float, var: np.ndarray | None) -> np.ndarray:
    """Per-utterance quality measures ``[2]`` (with the variance) or ``[1]`` (without):
    ``ln(duration / 1 s)`` and the mean over dimensions of ``ln var``."""
    if not duration > 0:
        raise VibError(f"quality measures need a positive duration, got {duration}")
    values = [math.log(duration)]
    if var is not None:
        values.append(float(np.mean(np.log(np.maximum(np.asarray(var, np.float64), 1e-30)))))
    return np.array(values, dtype=np.float32)


def qmf_features(scores: np.ndarray, q_enroll: np.ndarray | None = None,
                 q_test: np.ndarray | None = None) -> np.ndarray:
    """Calibration inputs ``[M, 1 + 2Q]``: the scores ``[M]``, then per measure the smaller
    and the larger of the two sides' values (``q_* [M, Q]``); ``[M, 1]`` without quality."""
    scores = np.asarray(scores, dtype=np.float64)[:, None]
    if q_enroll is None:
        return scores
    q_enroll, q_test = np.asarray(q_enroll, np.float64), np.asarray(q_test, np.float64)
    return np.concatenate([scores, np.minimum(q_enroll, q_test), np.maximum(q_enroll, q_test)], axis=1)


def _objective_parts(params: np.ndarray, feats: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                     logit_p: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, gradient and Hessian over ``params = [w..., b]`` for inputs ``feats [M, K]``."""
    design = np.concatenate([feats, np.ones((feats.shape[0], 1))], axis=1)
    sign = np.where(labels, 1.0, -1.0)
    z = sign * (design @ params + logit_p)
    loss = float(np.sum(weights * np.logaddexp(0.0, -z)))
    sig = 0.5 * (1.0 + np.tanh(-0.5 * z))  # sigmoid(-z), stable
    grad = -(weights * sig * sign) @ design
    hess = (design * (weights * sig * (1.0 - sig))[:, None]).T @ design
    return loss, grad, hess


def calibration_weights(labels: np.ndarray, prior: float) -> np.ndarray:
    """Per-trial weights p / N_tar for targets and (1 - p) / N_non for non-targets."""
    n_tar = int(labels.sum())
    n_non = labels.shape[0] - n_tar
    if n_tar == 0 or n_non == 0:
        raise VibError(f"calibration needs target and non-target trials (got {n_tar} and {n_non})")
    return np.where(labels, prior / n_tar, (1.0 - prior) / n_non)


def calibration_objective(params: np.ndarray, scores: np.ndarray, labels: np.ndarray, prior: float) -> float:
    """C(w, b) above, in nats; ``scores [M]`` (``params = [a, b]``) or inputs ``[M, K]``."""
    feats = np.asarray(scores, float)
    feats = feats[:, None] if feats.ndim == 1 else feats
    logit_p = float(np.log(prior / (1.0 - prior)))
    return _objective_parts(np.asarray(params, float), feats, labels, calibration_weights(labels, prior),
                            logit_p)[0]


def train_linear_calibration(feats: np.ndarray, labels: np.ndarray, prior: float = 0.5, max_iters: int = 100,
                             tol: float = 1e-10) -> np.ndarray:
    """Newton's method with step halving; ``feats [M, K]``, labels [M] bool. Returns ``[w..., b]``,
    starting from w = (1, 0, ...), b = 0."""
    if not 0.0 < prior < 1.0:
        raise VibError(f"prior must be in (0, 1), got {prior}")
    feats = np.asarray(feats, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    weights = calibration_weights(labels, prior)
    logit_p = float(np.log(prior / (1.0 - prior)))
    params = np.zeros(feats.shape[1] + 1)
    params[0] = 1.0
    loss, grad, hess = _objective_parts(params, feats, labels, weights, logit_p)
    for _ in range(max_iters):
        step = np.linalg.solve(hess + 1e-12 * np.eye(params.size), grad)
        scale = 1.0
        while True:
            trial = params - scale * step
            new_loss, new_grad, new_hess = _objective_parts(trial, feats, labels, weights, logit_p)
            if new_loss <= loss or scale < 1e-8:
                break
            scale /= 2
        done = loss - new_loss < tol
        params, loss, grad, hess = trial, new_loss, new_grad, new_hess
        if done:
            break
    return params


def apply_calibration(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    """Calibrated log-likelihood ratios a * scores + b."""
    return a * np.asarray(scores, dtype=np.float64) + b


@dataclass(frozen=True)
class Calibration:
    """A trained calibration: ``llr = a * score + b + q_min . w_min + q_max . w_max`` over the
    quality measures ``measures`` (none: plain calibration)."""

    a: float
    b: float
    prior: float
    measures: tuple[str, ...] = ()
    w_min: tuple[float, ...] = ()
    w_max: tuple[float, ...] = ()

    @classmethod
    def train(cls, scores: np.ndarray, labels: np.ndarray, prior: float, q_enroll: np.ndarray | None = None,
              q_test: np.ndarray | None = None) -> "Calibration":
        """Trains on dev scores ``[M]`` (+ quality ``[M, Q]`` of both sides)."""
        params = train_linear_calibration(qmf_features(scores, q_enroll, q_test), labels, prior)
        num_q = 0 if q_enroll is None else q_enroll.shape[1]
        return cls(float(params[0]), float(params[-1]), prior, QUALITY_MEASURES[:num_q],
                   tuple(map(float, params[1:1 + num_q])), tuple(map(float, params[1 + num_q:1 + 2 * num_q])))

    def __call__(self, scores: np.ndarray, q_enroll: np.ndarray | None = None,
                 q_test: np.ndarray | None = None) -> np.ndarray:
        """LLRs ``[M]`` of scores ``[M]`` (+ quality ``[M, Q]`` of both sides when it uses them)."""
        if not self.measures:
            return apply_calibration(scores, self.a, self.b)
        if q_enroll is None or q_test is None or q_enroll.shape[1] != len(self.measures):
            raise VibError(f"this calibration uses the quality measures {', '.join(self.measures)} of both sides")
        feats = qmf_features(scores, q_enroll, q_test)
        return feats @ np.array([self.a, *self.w_min, *self.w_max]) + self.b

    def to_json(self) -> dict:
        out = {"a": self.a, "b": self.b, "prior": self.prior}
        if self.measures:
            out["quality"] = {"measures": list(self.measures), "min": list(self.w_min), "max": list(self.w_max)}
        return out

    def write(self, path: str | Path) -> None:
        with atomic_output(str(path)) as f:
            json.dump(self.to_json(), f, indent=1)
            f.write("\n")

    @classmethod
    def read(cls, path: str | Path) -> "Calibration":
        """A calibration JSON (vib-calibrate --model-out); errors name the file."""
        try:
            model = json.loads(Path(path).read_text())
            quality = model.get("quality") or {"measures": [], "min": [], "max": []}
            measures = tuple(str(m) for m in quality["measures"])
            out = cls(float(model["a"]), float(model["b"]), float(model.get("prior", 0.5)), measures,
                      tuple(float(x) for x in quality["min"]), tuple(float(x) for x in quality["max"]))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise VibError(f"{path}: not a calibration model ({type(err).__name__}: {err})") from None
        unknown = [m for m in measures if m not in QUALITY_MEASURES]
        if unknown or len(out.w_min) != len(measures) or len(out.w_max) != len(measures) or \
                measures != QUALITY_MEASURES[:len(measures)]:
            raise VibError(f"{path}: quality measures must be a prefix of {', '.join(QUALITY_MEASURES)} with one "
                           f"min and one max weight each, got {list(measures)}")
        if not all(math.isfinite(x) for x in (out.a, out.b, *out.w_min, *out.w_max)):
            raise VibError(f"{path}: calibration parameters must be finite")
        return out
