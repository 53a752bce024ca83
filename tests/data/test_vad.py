"""Energy VAD against a direct transcription of Kaldi's compute-vad loop, and on a signal."""
from __future__ import annotations

import numpy as np
import pytest

from vib.data.features import FBANK_DEFAULTS, fbank_extractor
from vib.data.vad import energy_vad, frame_log_energy


def kaldi_compute_vad(energy, threshold, mean_scale, context, proportion):
    cutoff = threshold + mean_scale * sum(energy) / len(energy)
    out = []
    for t in range(len(energy)):
        num = den = 0
        for t2 in range(t - context, t + context + 1):
            if 0 <= t2 < len(energy):
                den += 1
                num += energy[t2] > cutoff
        out.append(num >= den * proportion)
    return np.array(out)


@pytest.mark.parametrize("context,proportion", [(0, 0.6), (2, 0.12), (3, 0.5)])
def test_matches_kaldi_loop(context, proportion):
    energy = np.random.default_rng(context).normal(10, 4, 300)
    np.testing.assert_array_equal(energy_vad(energy, 5.5, 0.5, context, proportion),
                                  kaldi_compute_vad(list(energy), 5.5, 0.5, context, proportion))


def test_finds_the_tone_between_silences():
    sr = 16000
    rng = np.random.default_rng(0)
    wave = 1e-4 * rng.standard_normal(3 * sr)
    wave[sr:2 * sr] += 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)
    energy = frame_log_energy(wave[None], FBANK_DEFAULTS)[0]
    assert len(energy) == fbank_extractor().extract(wave.astype(np.float32), sr).shape[0]
    speech = energy_vad(energy)
    assert speech[110:190].all() and not speech[:90].any() and not speech[210:].any()


def test_compute_vad_tool_writes_one_vector_per_utterance(fbank_corpus, tmp_path):
    from lhotse import CutSet

    from vib.bin.compute_vad import main
    from vib.io.tables import read_table_dict

    cuts = fbank_corpus / "fbank" / "cuts.jsonl.gz"
    assert main([str(cuts), f"ark,scp:{tmp_path}/vad.ark,{tmp_path}/vad.scp"]) == 0
    vad = read_table_dict(f"scp:{tmp_path}/vad.scp")
    for cut in CutSet.from_file(cuts):
        assert vad[cut.id].shape == (cut.num_frames,) and set(np.unique(vad[cut.id])) <= {0.0, 1.0}
