"""Waveform augmentation against direct references, and the augmentation config."""
from __future__ import annotations

import numpy as np
import pytest

from vib.data.augment import add_at_snr, parse_augment_config, reverberate, speed_perturb
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


@pytest.mark.parametrize("config,message", [
    ({"nois": {}}, "unknown augmentation"),
    ({"noise": {"prob": 0.5, "recordings": "{m}", "snr": [0, 15], "level": 3}}, "unknown key"),
    ({"noise": {"prob": 1.5, "recordings": "{m}", "snr": [0, 15]}}, r"prob must be in \[0, 1\]"),
    ({"noise": {"prob": 0.5, "recordings": "{m}", "snr": [15, 0]}}, r"snr must be \[low, high\]"),
    ({"noise": {"prob": 0.5, "recordings": "/nowhere.jsonl.gz", "snr": [0, 5]}}, "missing manifest '/nowhere"),
    ({"speed": {"prob": 0.5}}, "needs factors"),
    ({"speed": {"prob": 0.5, "factors": [1.0, 1.1]}}, "not 1"),
    ({"reverb": {"prob": 0.5}}, "give the path"),
])
def test_bad_augmentation_configs(tmp_path, config, message):
    manifest = tmp_path / "noise.jsonl.gz"
    manifest.write_bytes(b"")
    for section in config.values():
        if section.get("recordings") == "{m}":
            section["recordings"] = str(manifest)
    with pytest.raises(VibError, match=message):
        parse_augment_config(config)
