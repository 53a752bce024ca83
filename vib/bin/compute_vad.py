"""vib-compute-vad: Kaldi-style energy VAD for every cut -> Kaldi table of 0/1 vectors."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from vib.cli import make_parser, run
from vib.data.audio import BadAudio, cut_samples
from vib.data.features import read_fbank_config
from vib.data.manifests import load_cuts
from vib.data.vad import energy_vad, frame_log_energy
from vib.errors import VibError
from vib.io.tables import TableWriter


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        "vib-compute-vad",
        "Writes per-utterance 0/1 float vectors on the fbank frame grid, as Kaldi's compute-vad:\n"
        "  vib-compute-vad fbank/train/cuts.jsonl.gz ark,scp:fbank/train/vad.ark,fbank/train/vad.scp")
    parser.add_argument("cuts")
    parser.add_argument("wspecifier")
    parser.add_argument("--vad-energy-threshold", type=float, default=5.5)
    parser.add_argument("--vad-energy-mean-scale", type=float, default=0.5)
    parser.add_argument("--vad-frames-context", type=int, default=2)
    parser.add_argument("--vad-proportion-threshold", type=float, default=0.12)
    args = parser.parse_args(argv)
    if not Path(args.cuts).is_file():
        raise VibError(f"missing cut manifest '{args.cuts}'")
    config = read_fbank_config(Path(args.cuts).parent)
    with TableWriter(args.wspecifier) as writer:
        for cut in load_cuts(args.cuts):
            try:
                samples = cut_samples(cut)
            except BadAudio as err:
                raise VibError(f"utterance '{cut.id}' (audio '{cut.recording.sources[0].source}'): {err}") from None
            energy = frame_log_energy(samples[None, :], config)[0]
            decisions = energy_vad(energy, args.vad_energy_threshold, args.vad_energy_mean_scale,
                                   args.vad_frames_context, args.vad_proportion_threshold)
            writer.write(cut.id, decisions.astype(np.float32))
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
