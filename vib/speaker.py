"""A trained extractor in one call: embeddings of audio, scores and verification decisions.

    from vib import load_extractor
    ex = load_extractor("exp/vib")                  # a model dir (or its final.pt)
    ex.embed("a.wav")                               # numpy [D]
    ex.embed(samples, sample_rate=8000)             # resampled to the model's rate
    ex.embed_batch(["a.wav", "b.wav"])              # [N, D]
    ex.score("a.wav", "b.wav", backend="plda")      # cosine | plda
    ex.verify("a.wav", "b.wav")                     # score, llr, decision, threshold

A model dir holds what vib-train writes (``final.pt``: weights and config, loaded with
``weights_only=True``; ``fbank.yaml``: the features it was trained on; ``spk2id``) and, once a
recipe's scoring stage has run, ``backend/``: the training mean ``mean.vec`` (removed before
cosine scoring), the LDA ``transform.mat`` and the ``plda`` of the PLDA back-end, and
optionally ``calibration_<backend>.json`` (``vib-calibrate --model-out``). Audio goes through
the same fbank as training (Lhotse's, the options of ``fbank.yaml``) and the same chunking
and batching as vib-extract.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch

from vib.errors import VibError

# Shorter audio gives too few frames for a speaker embedding; quieter audio is taken as silence.
MIN_SECONDS = 0.25
SILENCE_PEAK = 1e-4
BACKENDS = ("cosine", "plda")

Audio = Union[str, Path, np.ndarray]  # a file path, or samples [S] / [S, channels] with their rate


@dataclass
class Verdict:
    """A verification: the back-end's ``score``, the log-likelihood ratio ``llr`` (the
    calibrated score; for an uncalibrated PLDA its own LLR), the ``threshold`` on the LLR
    (Bayes decision at ``p_target``: -logit(p_target)) and the ``accept`` decision."""

    score: float
    llr: float
    threshold: float
    accept: bool
    backend: str


class SpeakerExtractor:
    """A loaded model dir (see the module doc); :func:`load_extractor` makes one."""

    def __init__(self, model_dir: str | Path, device: str = "cpu"):
        from vib.data.features import FBANK_CONFIG_NAME, read_fbank_config
        from vib.extract import ExtractOptions, load_network

        path = Path(model_dir)
        weights = path if path.is_file() else path / "final.pt"
        self.dir = weights.parent
        missing = [name for name, p in (("final.pt", weights), (FBANK_CONFIG_NAME, self.dir / FBANK_CONFIG_NAME))
                   if not p.is_file()]
        if missing:
            raise VibError(f"model dir '{self.dir}' lacks {', '.join(missing)} (vib-train writes final.pt and "
                           f"{FBANK_CONFIG_NAME}; for an older experiment copy the training fbank dir's "
                           f"{FBANK_CONFIG_NAME} there)")
        self.device = torch.device(device)
        self.network = load_network(weights, self.device)
        self.fbank_config = read_fbank_config(self.dir)
        self.sample_rate = int(self.fbank_config["sampling_rate"])
        self.options = ExtractOptions(device=str(self.device))
        self._fbank = None
        self._backends: dict[str, Any] = {}
        self._calibrations: dict[str, Any] = {}

    # --- audio -> features -> embeddings --------------------------------------------------
    def _samples(self, audio: Audio, sample_rate: int | None, channel: int | None, name: str) -> np.ndarray:
        """Mono float32 samples at the model's rate of a file path or an array ([S] or [S, C])."""
        from vib.data.audio import resample

        if isinstance(audio, (str, Path)):
            data, rate = _read_audio(str(audio), name)
            if sample_rate is not None and sample_rate != rate:
                raise VibError(f"{audio}: the file says {rate} Hz, sample_rate says {sample_rate} Hz")
        else:
            if sample_rate is None:
                raise VibError(f"{name}: an array needs its sample_rate")
            data, rate = np.asarray(audio, dtype=np.float32), int(sample_rate)
            if data.ndim == 1:
                data = data[:, None]
            if data.ndim != 2:
                raise VibError(f"{name}: expected samples [S] or [S, channels], got shape {data.shape}")
        if data.shape[1] > 1 and channel is None:
            raise VibError(f"{name}: {data.shape[1]} channels; choose one with channel=")
        if channel is not None and not 0 <= channel < data.shape[1]:
            raise VibError(f"{name}: no channel {channel} (it has {data.shape[1]})")
        samples = data[:, channel or 0]
        samples = resample(samples, rate, self.sample_rate)
        if len(samples) < MIN_SECONDS * self.sample_rate:
            raise VibError(f"{name}: {len(samples) / self.sample_rate:.3f} s of audio; at least {MIN_SECONDS} s "
                           f"is needed for an embedding")
        if not np.isfinite(samples).all():
            raise VibError(f"{name}: the audio holds NaN or infinite samples")
        if np.abs(samples).max() < SILENCE_PEAK:
            raise VibError(f"{name}: the audio is silent (peak below {SILENCE_PEAK})")
        return samples

    def features(self, audio: Audio, sample_rate: int | None = None, channel: int | None = None,
                 name: str | None = None) -> np.ndarray:
        """The log-mel fbank ``[T, F]`` of one input, as in training (``fbank.yaml``); errors name
        the input (``name``, else its path)."""
        from vib.data.features import fbank_extractor

        if self._fbank is None:
            self._fbank = fbank_extractor(self.fbank_config)
        name = name or (str(audio) if isinstance(audio, (str, Path)) else "audio array")
        return self._fbank.extract(self._samples(audio, sample_rate, channel, name), self.sample_rate)

    def embed_batch(self, inputs: Sequence[Audio], sample_rate: int | None = None,
                    channel: int | None = None) -> np.ndarray:
        """Embeddings ``[N, D]`` (float32; the mean ``mu``) of audio files or arrays, batched by length."""
        return self.embed_features([self.features(x, sample_rate, channel) for x in inputs])

    def embed_features(self, feats: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings ``[N, D]`` of fbank arrays ``[T_i, F]`` (chunked and batched as vib-extract)."""
        return self.embed_with_quality(feats)[0]

    def embed_with_quality(self, feats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings ``[N, D]`` and quality measures ``[N, Q]`` (:func:`quality_vector`: log
        duration, and for a VIB extractor the mean predicted log-variance) of fbank arrays."""
        from vib.backend.calibration import quality_vector
        from vib.extract import embed_utterances

        shift = float(self.fbank_config["frame_shift"])
        order = sorted(range(len(feats)), key=lambda i: -len(feats[i]))
        out = np.empty((len(feats), self.network.embed_dim), dtype=np.float32)
        quality: list[np.ndarray] = [np.empty(0)] * len(feats)
        for key, mu, var in embed_utterances(self.network, ((str(i), feats[i]) for i in order), self.options,
                                             self.device):
            out[int(key)] = mu
            quality[int(key)] = quality_vector(len(feats[int(key)]) * shift, var)
        return out, np.stack(quality) if feats else np.empty((0, 0), np.float32)

    def embed(self, audio: Audio, sample_rate: int | None = None, channel: int | None = None) -> np.ndarray:
        """The embedding ``[D]`` of one audio file or array."""
        return self.embed_batch([audio], sample_rate, channel)[0]

    # --- back-ends ------------------------------------------------------------------------
    def _backend_models(self, backend: str):
        """The back-end files, read once: cosine: the training mean or None; plda: (mean, LDA, PLDA)."""
        from vib.io.kaldi_objects import read_kaldi_matrix, read_kaldi_vector, read_plda

        if backend not in self._backends:
            if backend == "cosine":
                mean_path = self.dir / "backend" / "mean.vec"
                self._backends[backend] = read_kaldi_vector(str(mean_path)) if mean_path.is_file() else None
            else:
                self._backends[backend] = (read_kaldi_vector(str(self._backend_file("mean.vec", backend))),
                                           read_kaldi_matrix(str(self._backend_file("transform.mat", backend))),
                                           read_plda(str(self._backend_file("plda", backend))))
        return self._backends[backend]

    def _backend_file(self, name: str, backend: str) -> Path:
        path = self.dir / "backend" / name
        if not path.is_file():
            raise VibError(f"model dir '{self.dir}': backend '{backend}' needs {path} (the recipes' scoring "
                           f"stage writes backend/mean.vec, transform.mat and plda)")
        return path

    def score_embeddings(self, enroll: np.ndarray, test: np.ndarray, backend: str = "cosine") -> np.ndarray:
        """Scores ``[N]`` of pairs of embeddings ``enroll [N, D]``, ``test [N, D]``: ``cosine`` (the
        training mean removed when backend/mean.vec exists) or ``plda`` (mean, LDA, length norm,
        PLDA LLR, as Kaldi's egs/voxceleb/v2)."""
        from vib.backend.cosine import unit_rows
        from vib.backend.mean import subtract_mean
        from vib.backend.plda import llr_terms, plda_trial_scores, transform_vectors
        from vib.backend.transforms import apply_transform, normalize_length

        if backend not in BACKENDS:
            raise VibError(f"unknown backend '{backend}': expected {', '.join(BACKENDS)}")
        if backend == "cosine":
            mean = self._backend_models(backend)
            if mean is not None:
                enroll, test = subtract_mean(enroll, mean), subtract_mean(test, mean)
            return np.sum(unit_rows(enroll) * unit_rows(test), axis=1)
        mean, lda, plda = self._backend_models(backend)

        def prepared(x: np.ndarray) -> np.ndarray:
            return transform_vectors(plda, normalize_length(apply_transform(lda, subtract_mean(x, mean))))

        rows = np.arange(len(enroll))
        return plda_trial_scores(llr_terms(plda, prepared(enroll)), prepared(test), rows, rows)

    def score(self, a: Audio, b: Audio, backend: str = "cosine") -> float:
        """The score of one pair of audio inputs (a file path, or samples with ``embed``'s rules)."""
        enroll, test = np.split(self.embed_batch([a, b]), 2)
        return float(self.score_embeddings(enroll, test, backend)[0])

    def calibration(self, backend: str):
        """The :class:`~vib.backend.calibration.Calibration` of ``backend/calibration_<backend>.json``
        (the recipes train it on their dev list), or None."""
        from vib.backend.calibration import Calibration

        if backend not in self._calibrations:
            path = self.dir / "backend" / f"calibration_{backend}.json"
            self._calibrations[backend] = Calibration.read(path) if path.is_file() else None
        return self._calibrations[backend]

    def verdicts(self, scores: np.ndarray, backend: str, p_target: float, q_enroll: np.ndarray | None = None,
                 q_test: np.ndarray | None = None) -> list[Verdict]:
        """Decisions for scores ``[M]`` of ``backend`` at target prior ``p_target``; a calibration
        with quality measures needs those of both sides (``[M, Q]``, :meth:`embed_with_quality`)."""
        if not 0 < p_target < 1:
            raise VibError(f"p_target must be in (0, 1), got {p_target}")
        calibration = self.calibration(backend)
        if calibration is not None:
            llrs = calibration(scores, q_enroll, q_test)
        elif backend == "plda":
            llrs = scores  # PLDA scores are log-likelihood ratios (uncalibrated)
        else:
            raise VibError(f"model dir '{self.dir}': backend '{backend}' has no calibration "
                           f"(backend/calibration_{backend}.json): its scores are not LLRs; use backend='plda' "
                           f"or calibrate with vib-calibrate --model-out")
        threshold = -math.log(p_target / (1 - p_target))
        return [Verdict(float(s), float(llr), threshold, bool(llr > threshold), backend)
                for s, llr in zip(scores, llrs)]

    def verify(self, a: Audio, b: Audio, backend: str = "plda", p_target: float = 0.01) -> Verdict:
        """Whether two inputs share a speaker: the Bayes decision on the LLR at ``p_target`` (default
        0.01, the operating point of minDCF 0.01 that the recipes report on their dev list)."""
        mu, quality = self.embed_with_quality([self.features(a), self.features(b)])
        return self.verdicts(self.score_embeddings(mu[:1], mu[1:], backend), backend, p_target, quality[:1],
                             quality[1:])[0]


    def embed_sources(self, pairs: Sequence[tuple[str, str]], channel: int | None = None, batch_size: int = 32,
                      progress: bool = True):
        """Yields ``(key, embedding [D], quality [Q])`` of ``(key, source)`` pairs (see :func:`audio_sources`) in
        input order, ``batch_size`` inputs at a time, with a progress bar on long lists."""
        from tqdm import tqdm

        with tqdm(total=len(pairs), unit="utt", desc="embed", disable=not progress or len(pairs) < 20) as bar:
            for start in range(0, len(pairs), batch_size):
                chunk = pairs[start:start + batch_size]
                feats = []
                for key, source in chunk:
                    name = f"{key} ('{source}')"
                    feats.append(self.features(*read_source(source, name), channel=channel, name=name))
                yield from zip((key for key, _ in chunk), *self.embed_with_quality(feats))
                bar.update(len(chunk))


def audio_sources(items: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, source)`` pairs: the entries of one ``*.scp`` (a wav.scp: ``key path`` or Kaldi's
    ``key command |``, which runs: only for a wav.scp you wrote), or audio paths keyed by their
    file name without extension; a repeated key is an error naming it."""
    from vib.data.kaldi_dir import read_kaldi_map

    if len(items) == 1 and items[0].endswith(".scp"):
        return list(read_kaldi_map(items[0]).items())
    pairs, seen = [(Path(p).stem, p) for p in items], set()
    for key, source in pairs:
        if key in seen:
            raise VibError(f"key '{key}' appears twice (of '{source}'); give a wav.scp with distinct keys")
        seen.add(key)
    return pairs


def read_source(source: str, name: str) -> tuple[np.ndarray, int]:
    """Samples ``[S, channels]`` and rate of an audio path or of a wav.scp command ending in ``|``
    (its exit status checked)."""
    import io

    from vib.data.audio import BadAudio, command_of, is_command, run_audio_command

    if not is_command(source):
        return _read_audio(source, name)
    try:
        return _read_audio(io.BytesIO(run_audio_command(command_of(source))), name)
    except BadAudio as err:
        raise VibError(f"{name}: cannot read audio: {err}") from None


def _read_audio(data, name: str) -> tuple[np.ndarray, int]:
    """Samples ``[S, channels]`` float32 and rate of an audio file (path or bytes); errors name ``name``."""
    import soundfile as sf

    try:
        samples, rate = sf.read(data, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise VibError(f"{name}: cannot read audio: {err}") from None
    return samples, rate


def load_extractor(model_dir: str | Path, device: str = "cpu") -> SpeakerExtractor:
    """A trained model dir (or its final.pt) ready to embed, score and verify audio."""
    return SpeakerExtractor(model_dir, device)


__all__ = ["BACKENDS", "SpeakerExtractor", "Verdict", "audio_sources", "load_extractor", "read_source"]
