#!/usr/bin/env python3
"""Generates the mini corpus: multi-speaker synthetic speech from real donors' TTS voices.

Usage: python -m local.mini_corpus.generate [options] <out-dir>   (after . ./path.sh)

Writes under <out-dir> (absolute paths in wav.scp, so the dir must stay put):
  wav/<spk>/<utt>.wav, <utt>.txt         16 kHz mono 16-bit, 1.5-6 s each, and its text
  data/{train,dev,test}/                 Kaldi data dirs: wav.scp utt2spk spk2utt text utt2lang utt2donor
  data/{dev,test}/trials, trials_hard    Kaldi trials "enroll test target|nontarget" (hard: non-targets
  data/{dev,test}/trials{,_hard}.txt     share the language); the same label-first ("1 enroll test")
  musan/{noise,music,speech}/<subdir>/   augmentation sources laid out like MUSAN
  RIRS_NOISES/simulated_rirs/<size>room/ simulated RIRs + rir_list, laid out like OpenSLR 28
  voices.json                            every candidate voice and its energy-check verdict
  params.json                            the options that define the corpus (not --nj)

Training speakers are donors plus speed/pitch-warped copies of them (`<donor>-w0.88`, ...),
each a class of its own; test speakers are other donors, never warped, and dev speakers others
again (dev is for choosing configs and calibrating; test is reported). The same options and
seed give a byte-identical corpus for any --nj; a killed run resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import subprocess
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from local.mini_corpus.augment import write_musan, write_rirs
from local.mini_corpus.splits import make_trials, split_donors, write_trials
from local.mini_corpus.synth import UttSpec, check_voice, synthesize, write_wav
from local.mini_corpus.text import TEXT_KINDS
from local.mini_corpus.voices import not_enough_donors, require_tool, usable_voices
from vib.cli import add_bool, make_parser, run
from vib.data.kaldi_dir import write_kaldi_data_dir
from vib.errors import VibError
from vib.io.tables import atomic_output

log = logging.getLogger("mini_corpus")

DEFAULTS = dict(num_train_donors=53, num_test_donors=17, num_dev_donors=8, utts_per_speaker=30,
                warps=(0.88, 1.12), seed=777, nontarget_ratio=10.0, num_rooms=10, rirs_per_room=4,
                num_noises=20, noise_seconds=10.0)
HELP = dict(num_train_donors="training donors; each also gives one class per warp",
            num_test_donors="test donors (disjoint from training, never warped)",
            num_dev_donors="dev donors, for choosing configs and calibrating (disjoint from both)",
            utts_per_speaker="utterances per speaker (digit and word texts alternate)",
            warps="comma-separated sox speed factors making extra training classes",
            seed="random seed: same seed, same bytes",
            nontarget_ratio="sampled non-target trials per target trial",
            num_rooms="simulated rooms per room size", rirs_per_room="RIRs per room",
            num_noises="files each of noise, music and speech", noise_seconds="length of those files (s)")
TINY = dict(num_train_donors=4, num_test_donors=6, num_dev_donors=3, utts_per_speaker=4, num_rooms=2,
            rirs_per_room=2, num_noises=3, noise_seconds=4.0)


def _make_utterance(spec: UttSpec) -> str | None:
    """Synthesises and writes one utterance; returns its text, None when dropped. A finished
    utterance (wav and text file present) is not redone."""
    text_path = Path(spec.path).with_suffix(".txt")
    if Path(spec.path).exists() and text_path.exists():
        return text_path.read_text().strip()
    try:
        made = synthesize(spec)
    except subprocess.CalledProcessError as err:
        raise VibError(f"synthesis of utterance {spec.utt} with voice {spec.voice.donor} failed: "
                       f"{err.stderr.decode(errors='replace').strip()[:300]}")
    if made is None:
        return None
    audio, text = made
    with atomic_output(str(text_path)) as f:
        f.write(text + "\n")
    write_wav(spec.path, audio)
    return text


def _speaker_specs(out: Path, spk: str, voice, warp: float, num_utts: int, seed: int) -> list[UttSpec]:
    """Utterance specs of one speaker; text kinds alternate so every speaker has both, and each
    utterance's seed is (seed, crc32 of its id): independent of worker, order and other speakers."""
    specs = []
    for j in range(num_utts):
        utt = f"{spk}-{j:04d}"
        specs.append(UttSpec(utt, spk, str(out / "wav" / spk / f"{utt}.wav"), voice,
                             TEXT_KINDS[(j + zlib.crc32(spk.encode())) % 2], warp,
                             (seed, 3, zlib.crc32(utt.encode()))))
    return specs


def _check_params(out: Path, params: dict) -> bool:
    """True when ``out`` holds a finished corpus made with ``params``; an unfinished or empty dir
    is claimed; a dir made with other options is an error."""
    path = out / "params.json"
    text = json.dumps(params, indent=1, sort_keys=True) + "\n"
    if path.is_file():
        if path.read_text() != text:
            raise VibError(f"{out} holds a corpus generated with other options ({path}); "
                           f"remove it or choose another output dir")
        return (out / ".done").is_file()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(path)) as f:
        f.write(text)
    return False


def prepare_mini(out_dir: Path | str, num_train_donors: int = DEFAULTS["num_train_donors"],
                 num_test_donors: int = DEFAULTS["num_test_donors"],
                 num_dev_donors: int = DEFAULTS["num_dev_donors"],
                 utts_per_speaker: int = DEFAULTS["utts_per_speaker"],
                 warps: Sequence[float] = DEFAULTS["warps"], seed: int = DEFAULTS["seed"],
                 num_jobs: int = 2, nontarget_ratio: float = DEFAULTS["nontarget_ratio"],
                 num_rooms: int = DEFAULTS["num_rooms"], rirs_per_room: int = DEFAULTS["rirs_per_room"],
                 num_noises: int = DEFAULTS["num_noises"],
                 noise_seconds: float = DEFAULTS["noise_seconds"]) -> dict[str, Path]:
    """Generates the mini corpus in ``out_dir`` (layout: see the module docstring).

    Speakers: ``num_train_donors`` training donors, each also warped by every factor in
    ``warps`` (sox ``speed``) into extra classes, ``num_test_donors`` other donors for test and
    ``num_dev_donors`` others again for dev (configs and calibration are chosen on dev, so that
    test is looked at once); ``utts_per_speaker`` utterances each (near-silent outputs are
    dropped). Trials: all target pairs plus ``nontarget_ratio`` times as many sampled non-targets. Augmentation sources:
    ``num_rooms`` rooms x ``rirs_per_room`` RIRs per room size; ``num_noises`` files of
    ``noise_seconds`` s each of noise, music and speech. ``num_jobs`` parallel processes
    change nothing in the output.

    Returns paths: ``train``, ``test``, ``dev`` (Kaldi data dirs; test and dev hold ``trials``
    and ``trials_hard``), ``trials``, ``trials_hard`` (the test lists, Kaldi form), ``musan``,
    ``rirs`` (the RIRS_NOISES dir), ``voices`` (voices.json).
    """
    out = Path(out_dir).resolve()
    warps = tuple(float(w) for w in warps)
    if utts_per_speaker < 2:
        raise VibError(f"--utts-per-speaker must be at least 2 (digit and word texts), got {utts_per_speaker}")
    if any(w <= 0 or w == 1.0 for w in warps) or len(set(warps)) != len(warps):
        raise VibError(f"--warps must be distinct positive factors other than 1, got {warps}")
    result = {"train": out / "data/train", "test": out / "data/test", "dev": out / "data/dev",
              "trials": out / "data/test/trials",
              "trials_hard": out / "data/test/trials_hard", "musan": out / "musan",
              "rirs": out / "RIRS_NOISES", "voices": out / "voices.json"}
    params = dict(num_train_donors=num_train_donors, num_test_donors=num_test_donors,
                  num_dev_donors=num_dev_donors, utts_per_speaker=utts_per_speaker, warps=list(warps), seed=seed,
                  nontarget_ratio=nontarget_ratio, num_rooms=num_rooms, rirs_per_room=rirs_per_room,
                  num_noises=num_noises, noise_seconds=noise_seconds)
    for tool in ("sox", "espeak-ng"):
        require_tool(tool)
    if _check_params(out, params):
        log.info("%s is complete; nothing to do", out)
        return result

    voices = usable_voices(out / "voices.json", check_voice)
    log.info("voices: %d usable donors (verdicts in %s)", len(voices), out / "voices.json")
    num_donors = num_train_donors + num_test_donors + num_dev_donors
    if len(voices) < num_donors:
        raise not_enough_donors(num_donors, voices, out / "voices.json")
    train_donors, test_donors, dev_donors = split_donors(voices, num_train_donors, num_test_donors,
                                                         np.random.default_rng([seed, 0]), num_dev_donors)
    eval_donors = {"test": test_donors, "dev": dev_donors}
    speakers = {"train": [(v.donor if w == 1.0 else f"{v.donor}-w{w:g}", v, w)
                          for v in train_donors for w in (1.0, *warps)],
                **{split: [(v.donor, v, 1.0) for v in donors] for split, donors in eval_donors.items()}}
    specs = {split: [s for spk, v, w in spks for s in _speaker_specs(out, spk, v, w, utts_per_speaker, seed)]
             for split, spks in speakers.items()}
    all_specs = [s for split_specs in specs.values() for s in split_specs]
    log.info("synthesis: %d train speakers (%d donors x %d warps), %d test and %d dev donors, %d utterances, "
             "%d jobs", len(speakers["train"]), len(train_donors), 1 + len(warps), len(test_donors),
             len(dev_donors), len(all_specs), num_jobs)
    try:  # a worker that dies (killed, out of memory) is an error here; multiprocessing.Pool would hang
        with ProcessPoolExecutor(max(1, num_jobs), mp_context=multiprocessing.get_context("fork")) as pool:
            kept = list(tqdm(pool.map(_make_utterance, all_specs, chunksize=8), total=len(all_specs),
                             desc="synthesis", unit="utt", disable=None))
    except BrokenProcessPool as err:
        raise VibError(f"a synthesis worker died ({err}); run again to resume: finished utterances are kept") from err
    dropped = [s.utt for s, text in zip(all_specs, kept) if text is None]
    if dropped:
        log.info("dropped %d near-silent or too-short utterances: %s", len(dropped), " ".join(dropped[:10]))
    utt2text = {s.utt: text for s, text in zip(all_specs, kept) if text is not None}

    for split, split_specs in specs.items():
        split_specs = [s for s in split_specs if s.utt in utt2text]
        spk_of = {s.utt: s.spk for s in split_specs}
        write_kaldi_data_dir(result[split], {s.utt: s.path for s in split_specs}, spk_of,
                             extra={"text": {s.utt: utt2text[s.utt] for s in split_specs},
                                    "utt2lang": {s.utt: s.voice.lang for s in split_specs},
                                    "utt2donor": {s.utt: s.voice.donor for s in split_specs}})
    for offset, (split, donors) in enumerate(eval_donors.items()):
        if not donors:
            continue
        eval_utt2spk = {s.utt: s.spk for s in specs[split] if s.utt in utt2text}
        spk2lang = {v.donor: v.lang for v in donors}
        for name, rng_index, same_lang in (("trials", 4, False), ("trials_hard", 5, True)):
            trials = make_trials(eval_utt2spk, spk2lang, nontarget_ratio,
                                 np.random.default_rng([seed, rng_index + 2 * offset]), same_lang_only=same_lang)
            write_trials(result[split], name, trials)
            log.info("%s/%s: %d target, %d non-target trials", split, name, sum(t[2] for t in trials),
                     sum(not t[2] for t in trials))
    write_rirs(out, num_rooms, rirs_per_room, seed)
    write_musan(out, num_noises, noise_seconds, seed)
    log.info("augmentation sources: %d RIRs, %d noise/music/speech files", 3 * num_rooms * rirs_per_room,
             3 * num_noises)
    (out / ".done").touch()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("generate.py", __doc__.split("\n\n", 1)[0],
                         usage="python -m local.mini_corpus.generate [options] <out-dir>")
    parser.add_argument("out_dir", type=Path, help="output dir (created)")
    add_bool(parser, "--tiny", False,
             f"test size: {', '.join(f'{k}={v}' for k, v in TINY.items())}; explicit options win")
    for name, default in DEFAULTS.items():
        kind = (lambda s: tuple(float(x) for x in s.split(","))) if name == "warps" else type(default)
        shown = ",".join(f"{w:g}" for w in default) if name == "warps" else default
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, metavar=type(default).__name__
                            if name != "warps" else "list", help=f"{HELP[name]} (default: {shown})")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis jobs; output does not depend "
                        "on it (default: 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mini_corpus: %(message)s", stream=sys.stderr)
    options = {**DEFAULTS, **(TINY if args.tiny else {}),
               **{k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None}}
    paths = prepare_mini(args.out_dir, num_jobs=args.nj, **options)
    log.info("done: train %s, test %s", paths["train"], paths["test"])
    return 0


if __name__ == "__main__":
    run(main)
