"""Waveform augmentation against direct references, and the augmentation config."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from vib.data.augment import add_at_snr, band_limit, g711, parse_augment_config, reverberate, speed_perturb
from vib.errors import VibError


def test_additive_noise_hits_the_requested_snr_measured_on_the_signal():
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((5, 16000)).astype(np.float32) * np.array([[0.01], [0.1], [0.3], [1.0], [0.05]])
    signal = signal.astype(np.float32)
    noise = rng.uniform(-1, 1, (5, 16000)).astype(np.float32)
    snr = np.array([0.0, 5.0, 13.5, 20.0, -3.0])
    mixed = add_at_snr(signal, noise, snr)
    added = mixed.astype(np.float64) - signal
    measured = 10 * np.log10(np.sum(signal.astype(np.float64) ** 2, 1) / np.sum(added ** 2, 1))
    np.testing.assert_allclose(measured, snr, atol=1e-3)
    assert np.array_equal(add_at_snr(signal, np.zeros_like(noise), snr), signal)


def test_reverberation_is_convolution_with_the_unit_energy_rir():
    rng = np.random.default_rng(1)
    wave = rng.standard_normal(4000).astype(np.float32)
    rir = rng.standard_normal(300) * np.exp(-np.arange(300) / 50)
    unit = rir / np.sqrt(np.sum(rir ** 2))
    reference = np.array([sum(wave[n - k] * unit[k] for k in range(min(n + 1, 300))) for n in range(4000)])
    np.testing.assert_allclose(reverberate(wave, rir), reference, atol=1e-4)
    with pytest.raises(VibError, match="all zeros"):
        reverberate(wave, np.zeros(10))


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_scales_length_and_frequency(factor):
    sr, f0 = 16000, 500.0
    wave = np.sin(2 * np.pi * f0 * np.arange(2 * sr) / sr).astype(np.float32)
    fast = speed_perturb(wave, factor)
    assert abs(len(fast) - len(wave) / factor) <= 1
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(len(fast))))
    peak = np.argmax(spectrum) * sr / len(fast)
    assert abs(peak - f0 * factor) < 2.0


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_is_bit_exact_with_the_reference_coder(law):
    """Every 16-bit sample through our G.711 equals Python's audioop (the ITU-T reference
    coder in C) coding and decoding it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop (Python < 3.13) is the reference G.711 coder")
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    encode, decode = {"mulaw": (audioop.lin2ulaw, audioop.ulaw2lin), "alaw": (audioop.lin2alaw, audioop.alaw2lin)}[law]
    reference = np.frombuffer(decode(encode(pcm.tobytes(), 2), 2), dtype=np.int16)
    np.testing.assert_array_equal(np.round(g711(pcm / 32768.0, law) * 32768.0).astype(np.int16), reference)


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_has_256_levels_and_decoded_values_code_to_themselves(law):
    wave = np.linspace(-1.2, 1.2, 200001).astype(np.float32)
    coded = g711(wave, law)
    levels = {"mulaw": 255, "alaw": 256}[law]  # 8 bits; mu-law's +0 and -0 decode alike
    assert len(np.unique(coded)) == levels and np.all(np.diff(coded) >= 0)  # monotone
    np.testing.assert_array_equal(g711(coded, law), coded)
    quiet = wave[np.abs(wave) < 0.01]
    assert np.max(np.abs(g711(quiet, law) - quiet)) < 5e-4  # fine steps near zero: companding
    with pytest.raises(VibError, match="unknown G.711 law 'gsm'"):
        g711(wave, "gsm")


def test_band_limiting_through_8_khz_keeps_the_telephone_band_only():
    sr = 16000
    t = np.arange(sr) / sr
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 6000 * t)
    out = band_limit((low + high).astype(np.float32), sr, 8000)
    assert out.shape == (sr,) and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out[1000:-1000] * np.hanning(sr - 2000)))
    freqs = np.fft.rfftfreq(sr - 2000, 1 / sr)
    assert spectrum[freqs > 4000].max() < 1e-3 * spectrum.max()  # nothing above 4 kHz
    np.testing.assert_allclose(out[1000:-1000], low[1000:-1000], atol=0.01)  # 1 kHz passes


def test_channel_config():
    aug = parse_augment_config({"channel": {"prob": 0.25, "rate": 8000, "codecs": ["alaw", "none"]}})
    assert (aug.channel_prob, aug.channel_rate, aug.channel_codecs) == (0.25, 8000, ("alaw", "none"))
    assert parse_augment_config({}).channel_prob == 0.0


@pytest.mark.parametrize("config,message", [
    ({"nois": {}}, "unknown augmentation"),
    ({"noise": {"prob": 0.5, "recordings": "{m}", "snr": [0, 15], "level": 3}}, "unknown key"),
    ({"noise": {"prob": 1.5, "recordings": "{m}", "snr": [0, 15]}}, r"prob must be in \[0, 1\]"),
    ({"noise": {"prob": 0.5, "recordings": "{m}", "snr": [15, 0]}}, r"snr must be \[low, high\]"),
    ({"noise": {"prob": 0.5, "recordings": "/nowhere.jsonl.gz", "snr": [0, 5]}}, "missing manifest '/nowhere"),
    ({"speed": {"prob": 0.5}}, "needs factors"),
    ({"speed": {"prob": 0.5, "factors": [1.0, 1.1]}}, "not 1"),
    ({"reverb": {"prob": 0.5}}, "give the path"),
    ({"channel": {"prob": 0.5, "codecs": ["mulaw", "gsm"]}}, r"codecs some of \['mulaw', 'alaw', 'none'\]"),
    ({"channel": {"prob": 0.5, "rate": 0}}, "rate must be positive"),
    ({"channel": {"prob": 0.5, "codec": ["mulaw"]}}, "unknown key"),
])
def test_bad_augmentation_configs(tmp_path, config, message):
    manifest = tmp_path / "noise.jsonl.gz"
    manifest.write_bytes(b"")
    for section in config.values():
        if section.get("recordings") == "{m}":
            section["recordings"] = str(manifest)
    with pytest.raises(VibError, match=message):
        parse_augment_config(config)
