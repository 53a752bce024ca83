"""Kaldi-style energy VAD (``compute-vad``) on the fbank frame grid.

Frame log-energies use the fbank framing (Lhotse's ``Wav2Win``: same window, shift,
DC removal, raw energy before pre-emphasis), on int16-scaled samples as Kaldi reads
wav files, so Kaldi's thresholds carry over (VoxCeleb's ``conf/vad.conf``: threshold
5.5, mean scale 0.5, context 2, proportion 0.12).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lhotse.features.kaldi.layers import Wav2Win

INT16_SCALE = 32768.0


def frame_log_energy(waves: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """Per-frame log energy of float waveforms in [-1, 1]: [B, N] -> [B, T] (T = fbank frames)."""
    win = Wav2Win(sampling_rate=config["sampling_rate"], frame_length=config["frame_length"],
                  frame_shift=config["frame_shift"], dither=0.0, snip_edges=False, raw_energy=True,
                  return_log_energy=True)
    with torch.no_grad():
        _, log_energy = win(torch.from_numpy(np.asarray(waves, dtype=np.float32) * INT16_SCALE))
    return log_energy.numpy()


def energy_vad(log_energy: np.ndarray, threshold: float = 5.5, mean_scale: float = 0.5, context: int = 2,
               proportion: float = 0.12) -> np.ndarray:
    """Kaldi ``compute-vad`` decisions for log energies [T] -> bool [T]: frame t is speech when
    at least ``proportion`` of frames t-context..t+context (clipped to the utterance) exceed
    ``threshold + mean_scale * mean(log_energy)``."""
    energy = np.asarray(log_energy, dtype=np.float64)
    cutoff = threshold + (mean_scale * energy.mean() if mean_scale != 0 else 0.0)
    window = np.ones(2 * context + 1)
    above = np.convolve((energy > cutoff).astype(np.float64), window, mode="same")
    total = np.convolve(np.ones_like(energy), window, mode="same")
    return above >= total * proportion
