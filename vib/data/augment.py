"""Waveform augmentation: speed perturbation, reverberation, additive noise at an SNR, and a
narrowband channel (telephone band, G.711 codecs).

All functions take float waveforms in [-1, 1] at one sampling rate. The config
(a YAML dict, every part optional, each with its own probability)::

    speed:  {prob: 0.3, factors: [0.9, 1.1]}          # new speaker classes <spk>_sp<factor>
    reverb: {prob: 0.2, rirs: data/aug/rir.jsonl.gz}
    noise:  {prob: 0.2, recordings: data/aug/noise.jsonl.gz, snr: [0, 15]}
    music:  {prob: 0.1, recordings: data/aug/music.jsonl.gz, snr: [5, 15]}
    babble: {prob: 0.1, recordings: data/aug/speech.jsonl.gz, snr: [13, 20], speakers: [3, 7]}
    channel: {prob: 0.2, rate: 8000, codecs: [mulaw, alaw, none]}

Applied in that order: speed, then reverberation, then each additive source, then the channel:
the crop is resampled to ``rate`` Hz and back (what a narrowband line passes, below rate / 2)
and, with one of ``codecs`` drawn uniformly, coded and decoded with G.711 (``mulaw``, ``alaw``:
ITU-T G.711's 8-bit segment laws, bit-exact; ``none``: band-limiting only).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vib.data.audio import resample
from vib.errors import VibError

ADDITIVE_KINDS = ("noise", "music", "babble")
CODECS = ("mulaw", "alaw", "none")
_KEYS = {
    "speed": {"prob", "factors"},
    "reverb": {"prob", "rirs"},
    "noise": {"prob", "recordings", "snr"},
    "music": {"prob", "recordings", "snr"},
    "babble": {"prob", "recordings", "snr", "speakers"},
    "channel": {"prob", "rate", "codecs"},
}


@dataclass(frozen=True)
class Additive:
    """An additive source: probability, recordings manifest, SNR range (dB), sources mixed (babble)."""

    prob: float
    recordings: Path
    snr: tuple[float, float]
    speakers: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class AugmentConfig:
    """Parsed augmentation options; see the module docstring."""

    speed_prob: float = 0.0
    speed_factors: tuple[float, ...] = ()
    reverb_prob: float = 0.0
    rirs: Path | None = None
    additive: tuple[tuple[str, Additive], ...] = ()
    channel_prob: float = 0.0
    channel_rate: int = 8000
    channel_codecs: tuple[str, ...] = ("none",)


def _prob(name: str, section: dict[str, Any]) -> float:
    prob = float(section.get("prob", 0.0))
    if not 0.0 <= prob <= 1.0:
        raise VibError(f"augmentation '{name}': prob must be in [0, 1], got {prob}")
    return prob


def _range(name: str, key: str, value: Any, cast: type) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or cast(value[0]) > cast(value[1]):
        raise VibError(f"augmentation '{name}': {key} must be [low, high], got {value}")
    return cast(value[0]), cast(value[1])


def _manifest(name: str, value: Any) -> Path:
    if value is None:
        raise VibError(f"augmentation '{name}': give the path of its recordings manifest")
    path = Path(value)
    if not path.is_file():
        raise VibError(f"augmentation '{name}': missing manifest '{path}' (make it with vib-prepare-augmentation)")
    return path


def parse_augment_config(config: dict[str, Any]) -> AugmentConfig:
    """Validates an augmentation dict (from YAML); unknown sections or keys are errors."""
    unknown = set(config) - set(_KEYS)
    if unknown:
        raise VibError(f"unknown augmentation(s) {sorted(unknown)}; valid: {sorted(_KEYS)}")
    for name, section in config.items():
        if not isinstance(section, dict):
            raise VibError(f"augmentation '{name}' must be a mapping, got {section!r}")
        bad = set(section) - _KEYS[name]
        if bad:
            raise VibError(f"augmentation '{name}': unknown key(s) {sorted(bad)}; valid: {sorted(_KEYS[name])}")
    speed = config.get("speed", {})
    factors = tuple(float(f) for f in speed.get("factors", ()))
    if any(f <= 0 or f == 1.0 for f in factors):
        raise VibError(f"augmentation 'speed': factors must be positive and not 1, got {list(factors)}")
    speed_prob = _prob("speed", speed)
    if speed_prob > 0 and not factors:
        raise VibError("augmentation 'speed': prob > 0 needs factors, e.g. [0.9, 1.1]")
    reverb = config.get("reverb", {})
    reverb_prob = _prob("reverb", reverb)
    additive = []
    for kind in ADDITIVE_KINDS:
        section = config.get(kind)
        if section is None or _prob(kind, section) == 0:
            continue
        speakers = _range(kind, "speakers", section.get("speakers", [1, 1]), int)
        if speakers[0] < 1:
            raise VibError(f"augmentation '{kind}': speakers must be at least 1, got {list(speakers)}")
        additive.append((kind, Additive(_prob(kind, section), _manifest(kind, section.get("recordings")),
                                        _range(kind, "snr", section.get("snr"), float), speakers)))
    channel = config.get("channel", {})
    rate = int(channel.get("rate", 8000))
    codecs = tuple(str(c) for c in channel.get("codecs", ["none"]))
    if rate <= 0 or not codecs or any(c not in CODECS for c in codecs):
        raise VibError(f"augmentation 'channel': rate must be positive and codecs some of {list(CODECS)}, "
                       f"got rate {rate}, codecs {list(codecs)}")
    return AugmentConfig(speed_prob, factors, reverb_prob,
                         _manifest("reverb", reverb.get("rirs")) if reverb_prob > 0 else None, tuple(additive),
                         _prob("channel", channel), rate, codecs)


def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """Plays ``wave`` ``factor`` times faster (pitch changes too, as sox ``speed``):
    polyphase resampling to ``len / factor`` samples. [N] -> [~N / factor]."""
    ratio = Fraction(factor).limit_denominator(100)
    from scipy.signal import resample_poly  # here: scipy.signal costs 1.7 s to import

    return resample_poly(wave, ratio.denominator, ratio.numerator).astype(np.float32)


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolves ``wave`` [N] with ``rir`` [M] scaled to unit energy; keeps the first N samples."""
    energy = float(np.sqrt(np.sum(rir.astype(np.float64) ** 2)))
    if energy == 0.0:
        raise VibError("room impulse response is all zeros")
    from scipy.signal import fftconvolve

    return fftconvolve(wave, rir / energy)[: len(wave)].astype(np.float32)


def add_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: np.ndarray) -> np.ndarray:
    """Adds ``noise`` scaled so that 10 log10(P_signal / P_noise) = ``snr_db`` per row.

    signal, noise: [B, N]; snr_db: [B]. Power is the mean square over the row; a silent
    noise row leaves its signal unchanged."""
    p_signal = np.mean(signal.astype(np.float64) ** 2, axis=1)
    p_noise = np.mean(noise.astype(np.float64) ** 2, axis=1)
    gain = np.sqrt(np.divide(p_signal, p_noise * 10.0 ** (np.asarray(snr_db) / 10.0),
                             out=np.zeros_like(p_signal), where=p_noise > 0))
    return (signal + gain[:, None] * noise).astype(np.float32)


_MULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])  # G.711 segment tops
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def band_limit(wave: np.ndarray, rate: int, narrow_rate: int) -> np.ndarray:
    """``wave`` [N] at ``rate`` Hz passed through ``narrow_rate`` Hz (polyphase down and up):
    nothing above narrow_rate / 2 is left. [N] -> [N]."""
    out = resample(resample(wave, rate, narrow_rate), narrow_rate, rate)[: len(wave)]
    return np.pad(out, (0, len(wave) - len(out))).astype(np.float32)


def g711(wave: np.ndarray, law: str) -> np.ndarray:
    """``wave`` [N] in [-1, 1] as 16-bit PCM coded with G.711 ``law`` (``mulaw`` or ``alaw``)
    and decoded again, as a telephone line carries it: the ITU-T segment laws, bit-exact with
    the reference coder (tested against Python's ``audioop``). [N] -> [N] float32."""
    pcm = np.clip(np.round(wave.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int64)
    if law == "mulaw":  # 14-bit magnitude, clipped at 8159, biased by 33
        v = pcm >> 2
        magnitude = np.minimum(np.abs(v), 8159) + 33
        segment = np.sum(magnitude[:, None] > _MULAW_SEGMENT_ENDS[None, :], axis=1)
        over, segment = segment >= 8, np.minimum(segment, 7)
        mantissa = np.where(over, 0x0F, (magnitude >> (segment + 1)) & 0x0F)
        t = ((mantissa << 3) + 0x84) << segment
        decoded = np.where(v < 0, 0x84 - t, t - 0x84)
    elif law == "alaw":  # 13-bit magnitude (ones' complement below zero), two linear segments first
        v = pcm >> 3
        magnitude = np.where(v < 0, -v - 1, v)
        segment = np.sum(magnitude[:, None] > _ALAW_SEGMENT_ENDS[None, :], axis=1)
        over, segment = segment >= 8, np.minimum(segment, 7)
        mantissa = np.where(over, 0x0F, np.where(segment < 2, magnitude >> 1, magnitude >> segment) & 0x0F)
        t = np.where(segment == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(segment - 1, 0))
        decoded = np.where(v < 0, -t, t)
    else:
        raise VibError(f"unknown G.711 law '{law}'; valid: mulaw, alaw")
    return (decoded / 32768.0).astype(np.float32)
