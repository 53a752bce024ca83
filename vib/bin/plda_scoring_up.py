"""vib-plda-scoring-up: PLDA scoring with uncertainty propagation, from raw embeddings and their variances."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.backend.mean import subtract_mean
from vib.backend.plda import PldaConfig, transform_vectors_and_scales
from vib.backend.plda_up import enrollment_posterior, plda_space_variance, up_trial_scores
from vib.backend.transforms import apply_transform, normalize_length
from vib.backend.trials import add_num_utts_option, enroll_counts, index_trials, read_trials, write_scores
from vib.backend.vectors import load_vectors, vectors_for_keys
from vib.cli import add_bool, add_config_options, config_from_options, make_parser, run
from vib.errors import VibError
from vib.io.kaldi_objects import Plda, read_kaldi_matrix, read_kaldi_vector, read_plda

USAGE = """vib-plda-scoring-up [options] <plda> <enroll-rspecifier> <enroll-var-rspecifier> <test-rspecifier> <test-var-rspecifier> <trials> <scores-wxfilename>
e.g.: vib-plda-scoring-up --mean=xvectors_train/mean.vec --lda=xvectors_train/transform.mat xvectors_train/plda \\
        scp:xvector.scp scp:xvector_var.scp scp:xvector.scp scp:xvector_var.scp trials scores
The vectors are the raw embeddings (vib-extract) and the variances their VIB variances
(vib-extract --write-var); the tool runs the chain of steps/score_plda.sh itself: --mean
removed, --lda applied, length normalised (ivector-normalize-length), PLDA-transformed and
length normalised as ivector-plda-scoring --normalize-length, and carries each variance
through the same steps (vib.backend.plda_up)."""


def _sides(rspec: str, var_rspec: str, dim: int | None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Keys, vectors and variances of one side; a key without a variance, or a variance that is
    not positive, is an error naming the key."""
    keys, vectors = load_vectors(rspec, dim)
    var = vectors_for_keys(var_rspec, keys, "variance", vectors.shape[1]).astype(np.float64)
    bad = np.flatnonzero(~(var > 0).all(axis=1))
    if bad.size:
        raise VibError(f"{var_rspec}: the variance of '{keys[int(bad[0])]}' is not positive everywhere")
    return keys, vectors, var


def prepare(plda: Plda, mean: np.ndarray | None, lda: np.ndarray | None, vectors: np.ndarray, var: np.ndarray,
            counts: np.ndarray | int, config: PldaConfig, input_length_norm: bool) -> tuple[np.ndarray, np.ndarray]:
    """PLDA-space vectors (as steps/score_plda.sh's chain makes them) and their propagated variances."""
    x = subtract_mean(vectors, mean) if mean is not None else vectors.astype(np.float32)
    x = apply_transform(lda, x) if lda is not None else x
    scale = np.ones(len(x))
    if input_length_norm:  # the vectors as ivector-normalize-length writes them, and its factor
        norms = np.linalg.norm(x.astype(np.float64), axis=1)
        np.divide(np.sqrt(x.shape[1]), norms, out=scale, where=norms > 0)
        x = normalize_length(x)
    u, factor = transform_vectors_and_scales(plda, x, counts, config)
    linear = plda.transform @ (lda[:, :var.shape[1]] if lda is not None else np.eye(var.shape[1]))
    return u, plda_space_variance(linear, var, scale * factor)


def main(argv: Sequence[str] | None = None) -> int:
    prog = "vib-plda-scoring-up"
    parser = make_parser(prog, "PLDA log-likelihood ratios with uncertainty propagation: each side's own "
                         "covariance (its VIB variance carried to the PLDA space, diagonal kept) is added to the "
                         "within-class covariance; with no uncertainty this is ivector-plda-scoring.", USAGE)
    add_config_options(parser, PldaConfig)
    add_num_utts_option(parser)
    parser.add_argument("--mean", default="", help="vector removed first (the chain's mean.vec; default: none)")
    parser.add_argument("--lda", default="", help="matrix applied next, linear or affine (transform.mat; default: "
                        "none)")
    add_bool(parser, "--input-length-norm", True, "length-normalise after --lda, as the chain's "
             "ivector-normalize-length")
    add_bool(parser, "--skip-missing", False, "drop trials whose key has no vector (else an error)")
    parser.add_argument("--variance-scale", type=float, default=1.0, help="every variance is multiplied by this "
                        "before it is propagated (a VIB's variance is not in the units of its embeddings' "
                        "within-speaker spread; choose the scale on a dev list; default: 1)")
    for name in ("plda", "enroll", "enroll_var", "test", "test_var", "trials", "scores"):
        parser.add_argument(name)
    opts = parser.parse_args(argv)
    if not opts.variance_scale > 0:
        raise VibError(f"--variance-scale must be positive, got {opts.variance_scale}")
    plda = read_plda(opts.plda)
    mean = read_kaldi_vector(opts.mean) if opts.mean else None
    lda = read_kaldi_matrix(opts.lda) if opts.lda else None
    enroll_keys, enroll, enroll_var = _sides(opts.enroll, opts.enroll_var, mean.shape[0] if mean is not None else None)
    test_keys, test, test_var = _sides(opts.test, opts.test_var, enroll.shape[1])
    counts, has_count = enroll_counts(opts.num_utts, enroll_keys, opts.skip_missing, prog)
    trials = read_trials(opts.trials)
    ei, ti, keep = index_trials(trials, {k: i for i, k in enumerate(enroll_keys) if has_count[i]},
                                {k: i for i, k in enumerate(test_keys)}, opts.trials, opts.skip_missing, prog)
    config = config_from_options(PldaConfig, opts)
    u_e, s_e = prepare(plda, mean, lda, enroll, enroll_var * opts.variance_scale, counts, config,
                       opts.input_length_norm)
    u_t, s_t = prepare(plda, mean, lda, test, test_var * opts.variance_scale, 1, config, opts.input_length_norm)
    posterior = enrollment_posterior(plda, u_e, s_e, counts=counts)
    scores = up_trial_scores(plda, *posterior, u_t, s_t, ei, ti).astype(np.float32)
    write_scores(opts.scores, (enroll_keys, ei), (test_keys, ti), scores)
    print(f"{prog}: LOG: scored {len(scores)} trials; mean {scores.mean():.4g}, std {scores.std():.4g}; mean "
          f"propagated variance {np.mean(s_t):.4g} (test side, PLDA space)", file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
