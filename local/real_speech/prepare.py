"""``prepare_real_speech``: an evaluation set of real recorded voices from Debian packages.

    python -m local.real_speech.prepare --cache ~/debs real_speech/

fetches the packages of ``--sources`` with ``apt-get download`` into ``--cache`` (kept for the
next run), unpacks them there with ``dpkg-deb -x`` and writes
``<out>/wav/<speaker>/<utt>.wav`` (16 kHz, 16-bit), ``<out>/data``: a Kaldi data dir
(``wav.scp``, ``utt2spk``, ``spk2utt``, ``text``, ``utt2lang``) with trial lists in Kaldi form
(and ``<list>.txt`` in VoxCeleb form): ``trials`` (every target pair and ``--nontarget-ratio``
times as many sampled non-target pairs) and ``trials_same_lang`` (the same targets, non-targets
only between speakers of one language, so the language gives nothing away), and
``<out>/speakers.tsv`` (speaker, person as credited, language, package, licence, segments,
seconds). Sources: The Ur-Quan Masters' voice actors (``uqm``, :mod:`local.real_speech.uqm`)
and Tux Paint's narrators (``tuxpaint``, :mod:`local.real_speech.tuxpaint`). Segments of
``--min-duration`` to ``--max-duration`` s are kept (segments without times are not), at most
``--max-per-speaker`` per speaker (drawn with ``--seed``); a clip that does not decode is
skipped and listed in ``<out>/skipped``. A package apt cannot fetch stops it before anything is
written. Everything is written under ``<out>.tmp`` and renamed at the end, so a killed run
leaves no half-written set.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from local.mini_corpus.splits import make_trials, write_trials
from local.real_speech.packages import fetch_package, unpack_package
from local.real_speech.source import Segment, Source
from local.real_speech.tuxpaint import TuxpaintSource
from local.real_speech.uqm import UqmSource
from vib.data.audio import BadAudio, decode_audio, resample
from vib.data.kaldi_dir import write_kaldi_data_dir
from vib.errors import VibError

RATE = 16000
SOURCES: dict[str, type[Source]] = {"uqm": UqmSource, "tuxpaint": TuxpaintSource}
FIELDS = ("person", "language", "package", "licence", "segments", "seconds")  # speakers.tsv, after speaker


def choose_segments(segments: list[Segment], min_duration: float, max_duration: float, max_per_speaker: int,
                    seed: int) -> dict[str, list[Segment]]:
    """{speaker id: at most ``max_per_speaker`` of its timed segments of ``min_duration`` to
    ``max_duration`` s, in clip order}, drawn with a generator of (``seed``, the speaker id), so
    adding a source leaves the others' draws alone; speakers with fewer than two are dropped."""
    pool: dict[str, list[Segment]] = defaultdict(list)
    for s in segments:
        if s.end_ms is not None and min_duration <= (s.end_ms - s.start_ms) / 1000 <= max_duration:
            pool[s.speaker].append(s)
    chosen = {}
    for spk in sorted(pool):
        rng = np.random.default_rng([seed, zlib.crc32(spk.encode())])
        picks = sorted(rng.choice(len(pool[spk]), size=min(max_per_speaker, len(pool[spk])), replace=False))
        if len(picks) >= 2:
            chosen[spk] = [pool[spk][i] for i in picks]
    return chosen


def _waves(source: Source, segments: list[Segment], min_duration: float, max_duration: float,
           skipped: list[str]) -> Iterator[tuple[Segment, np.ndarray]]:
    """(segment, its 16-kHz samples) for one speaker's ``segments`` that are still
    ``min_duration`` to ``max_duration`` s once cut (a clip may end before its page times); each
    clip is decoded once, and one that does not decode goes to ``skipped``."""
    clips: dict[str, tuple[np.ndarray, int] | None] = {}
    for s in segments:
        if s.clip not in clips:
            try:
                clips[s.clip] = decode_audio(source.read(s.clip), s.clip)
            except (BadAudio, zipfile.BadZipFile) as err:  # does not decode: listed, not fatal
                clips[s.clip] = None
                skipped.append(f"{s.clip}\t{type(err).__name__}: {err}")
        if clips[s.clip] is None:
            continue
        audio, rate = clips[s.clip]
        wave = resample(audio[s.start_ms * rate // 1000:s.end_ms * rate // 1000], rate, RATE)
        if min_duration <= len(wave) / RATE <= max_duration:
            yield s, wave


def prepare_real_speech(out_dir: Path, cache: Path, sources: tuple[str, ...] = tuple(SOURCES),
                        min_duration: float = 1.5, max_duration: float = 8.0, max_per_speaker: int = 40,
                        nontarget_ratio: float = 10.0, seed: int = 0) -> dict[str, dict]:
    """Writes the set into ``out_dir`` (see the module doc); returns {speaker: its speakers.tsv fields}."""
    if not 0 < min_duration <= max_duration or max_per_speaker < 2:
        raise VibError(f"need 0 < --min-duration <= --max-duration and --max-per-speaker >= 2, got "
                       f"{min_duration}, {max_duration}, {max_per_speaker}")
    unknown = [name for name in sources if name not in SOURCES]
    if unknown or not sources:
        raise VibError(f"unknown source(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(SOURCES)}")
    packages = [p for name in sources for p in SOURCES[name].packages]
    debs = {p: fetch_package(p, cache) for p in packages}  # every package first: a missing one stops before work
    unpacked = {p: unpack_package(deb, cache / "unpacked" / p) for p, deb in debs.items()}
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    wav_scp, utt2spk, text, utt2lang, info, skipped = {}, {}, {}, {}, {}, []
    for name in sources:
        with SOURCES[name](unpacked) as source:
            chosen = choose_segments(source.segments(), min_duration, max_duration, max_per_speaker, seed)
            skipped += source.skipped
            for spk, segments in chosen.items():
                seconds, kept = 0.0, 0
                for s, wave in _waves(source, segments, min_duration, max_duration, skipped):
                    utt = f"{spk}-{s.name}"
                    path = tmp / "wav" / spk / f"{utt}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, np.clip(wave, -1.0, 1.0), RATE, subtype="PCM_16")
                    wav_scp[utt] = str((out_dir / "wav" / spk / f"{utt}.wav").resolve())
                    utt2spk[utt], text[utt], utt2lang[utt] = spk, s.text or "-", s.lang
                    seconds, kept = seconds + len(wave) / RATE, kept + 1
                if kept:
                    info[spk] = {"person": segments[0].person, "language": segments[0].lang,
                                 "package": source.packages[0], "licence": source.licence, "segments": kept,
                                 "seconds": round(seconds, 1)}
    if len(info) < 2:
        raise VibError(f"only {len(info)} speaker(s) with segments of {min_duration}-{max_duration} s; need 2")
    data = tmp / "data"
    write_kaldi_data_dir(data, wav_scp, utt2spk, extra={"text": text, "utt2lang": utt2lang})
    spk2lang = {spk: v["language"] for spk, v in info.items()}
    rng = np.random.default_rng(seed)
    write_trials(data, "trials", make_trials(utt2spk, spk2lang, nontarget_ratio, rng))
    write_trials(data, "trials_same_lang", make_trials(utt2spk, spk2lang, nontarget_ratio, rng, same_lang_only=True))
    with open(tmp / "speakers.tsv", "w", encoding="utf-8") as f:
        f.write("speaker\t" + "\t".join(FIELDS) + "\n")
        f.writelines(f"{spk}\t" + "\t".join(str(v[k]) for k in FIELDS) + "\n" for spk, v in sorted(info.items()))
    (tmp / "skipped").write_text("".join(line + "\n" for line in skipped))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.real_speech.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", required=True, type=Path, help="where the .deb files are kept and unpacked")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help=f"comma-separated, of: {', '.join(SOURCES)} (default: all)")
    parser.add_argument("--min-duration", type=float, default=1.5, help="shortest segment kept (s)")
    parser.add_argument("--max-duration", type=float, default=8.0, help="longest segment kept (s)")
    parser.add_argument("--max-per-speaker", type=int, default=40, help="segments drawn per speaker")
    parser.add_argument("--nontarget-ratio", type=float, default=10.0, help="non-target trials per target trial")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        info = prepare_real_speech(args.out_dir, args.cache, tuple(filter(None, args.sources.split(","))),
                                   args.min_duration, args.max_duration,
                                   args.max_per_speaker, args.nontarget_ratio, args.seed)
    except VibError as err:
        print(f"local.real_speech.prepare: ERROR: {err}", file=sys.stderr)
        return 1
    total = sum(v["seconds"] for v in info.values())
    print(f"local.real_speech.prepare: {len(info)} speakers, {len({v['language'] for v in info.values()})} "
          f"languages, {sum(v['segments'] for v in info.values())} segments, "
          f"{total / 60:.1f} min -> {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
