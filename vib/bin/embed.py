"""vib-embed: speaker embeddings of audio files with a trained model dir, as a Kaldi table or .npy."""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from vib.cli import make_parser, run
from vib.errors import VibError

USAGE = """vib-embed [options] <model-dir> (<wav.scp> | <audio> [<audio> ...]) <wspecifier | out.npy>
e.g.: vib-embed exp/vib data/test/wav.scp ark,scp:emb.ark,emb.scp
      vib-embed exp/vib a.wav b.flac ark,t:-
      vib-embed exp/vib a.wav b.wav emb.npy            # [N, D] in input order
A wav.scp (key path, or key 'command |' as Kaldi's: you wrote it) gives the keys; audio files
are keyed by their name without extension."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-embed", __doc__, USAGE)
    parser.add_argument("model_dir")
    parser.add_argument("inputs", nargs="+", help="a wav.scp, or audio files, then the output")
    parser.add_argument("--channel", type=int, default=None, help="channel of multi-channel audio")
    parser.add_argument("--batch-size", type=int, default=32, help="inputs embedded together (default: 32)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    args = parser.parse_args(argv)
    if len(args.inputs) < 2:
        raise VibError("give a wav.scp or audio files, and then the output wspecifier")
    *items, out = args.inputs
    from vib.io.tables import atomic_output, write_table
    from vib.speaker import audio_sources, load_extractor

    model = load_extractor(args.model_dir, args.device)
    pairs = audio_sources(items)
    rows = ((key, vector) for key, vector, _ in model.embed_sources(pairs, args.channel, max(1, args.batch_size)))
    if out.endswith(".npy") and ":" not in out:
        matrix = np.stack([vector for _, vector in rows])
        with atomic_output(out, binary=True) as f:
            np.save(f, matrix, allow_pickle=False)
    else:
        write_table(out, rows)
    print(f"vib-embed: {len(pairs)} embedding(s) -> {out}", file=sys.stderr)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
