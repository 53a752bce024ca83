"""vib-verify: same speaker or not? Two audio files, or a trial list over a wav.scp, with a model dir."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vib.cli import make_parser, run
from vib.errors import VibError

USAGE = """vib-verify [options] <model-dir> <a.wav> <b.wav>
       vib-verify [options] --trials <trials> --wav-scp <wav.scp> <model-dir> [<out>]
e.g.: vib-verify exp/vib a.wav b.wav
      vib-verify --backend cosine --trials data/test/trials --wav-scp data/test/wav.scp exp/vib out.txt
Prints 'a b score llr accept|reject' per pair: llr is the calibrated score (the model dir's
backend/calibration_<backend>.json), or for PLDA without one its own LLR; accept when
llr > -logit(p_target), the Bayes decision at that prior."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-verify", __doc__, USAGE)
    parser.add_argument("model_dir")
    parser.add_argument("pair", nargs="*", help="two audio files; or, with --trials, an output file (default: -)")
    parser.add_argument("--backend", default="plda", help="plda (default) or cosine")
    parser.add_argument("--p-target", type=float, default=0.01, help="prior of a target trial (default: 0.01)")
    parser.add_argument("--trials", default="", help="trial list 'enroll test [target|nontarget]' of wav.scp keys")
    parser.add_argument("--wav-scp", default="", help="with --trials: the audio of the trials' keys")
    parser.add_argument("--channel", type=int, default=None, help="channel of multi-channel audio")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    args = parser.parse_args(argv)
    from vib.backend.trials import read_trials
    from vib.io.tables import atomic_output
    from vib.speaker import audio_sources, load_extractor

    if bool(args.trials) != bool(args.wav_scp):
        raise VibError("--trials and --wav-scp go together")
    if args.trials and len(args.pair) > 1 or not args.trials and len(args.pair) != 2:
        raise VibError("give two audio files, or --trials and --wav-scp (and optionally an output file)")
    model = load_extractor(args.model_dir, args.device)
    if args.trials:
        trials = read_trials(args.trials)
        sources = dict(audio_sources([args.wav_scp]))
        keys = sorted(set(trials.enroll) | set(trials.test))
        absent = [k for k in keys if k not in sources]
        if absent:
            raise VibError(f"{args.trials}: key '{absent[0]}' is not in {args.wav_scp}")
        rows = {k: (v, q) for k, v, q in model.embed_sources([(k, sources[k]) for k in keys], args.channel)}
        enroll, test = trials.enroll, trials.test
    else:
        enroll, test = [args.pair[0]], [args.pair[1]]
        rows = {k: (v, q) for k, v, q in model.embed_sources([(p, p) for p in args.pair], args.channel,
                                                              progress=False)}
    vectors, quality = ([np.stack([rows[k][part] for k in side]) for side in (enroll, test)] for part in (0, 1))
    scores = model.score_embeddings(*vectors, args.backend)
    verdicts = model.verdicts(scores, args.backend, args.p_target, *quality)
    out = args.pair[0] if args.trials and args.pair else "-"
    with atomic_output(out) as f:
        for e, t, v in zip(enroll, test, verdicts):
            f.write(f"{e} {t} {v.score:.7g} {v.llr:.7g} {'accept' if v.accept else 'reject'}\n")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
