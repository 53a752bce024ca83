"""The voice actors of The Ur-Quan Masters (Debian: uqm-voice, non-free; uqm-content, main).

The voice pack (``usr/share/games/uqm/content/addons/uqm-0.8.0-voice.uqm``, a zip) holds each
alien race's dialogue as Ogg Vorbis clips ``3dovoice/<race>/<race>-NNN.ogg`` (11,025 Hz). Each
race's conversation file ``<race>.txt`` (in the voice pack, else in the content package's
``base/comm/<race>/``) maps a dialogue key to its clip and lists its subtitle pages::

    #(HELLO_BEFORE_AMBUSH_1)	syreen-000.ogg
    Attention unidentified space vessel!
    ...

and ``<race>.ts`` in the voice pack gives the duration of every page in ms
(``#(HELLO_BEFORE_AMBUSH_1) 2593,5649,...``), so a clip is cut at its page boundaries into
sentence-long segments with their text. A key without page times is one segment.

Speakers are the actors, not the races. The mapping is the credits of the content package
(``base/cutscene/credits/credits.txt``, "STARRING THE VOICES OF")::

    Richard Antaki   Thraddash            Bruce Leyland     Yehat
    Alex Bennett     Starbase, Commander  Erol Otus         Chmmr
    Rich Betz        Ariloulaleelay,      Paul Reiche III   Mycon, Talking Pet
                     Druuge               Brad Van Tighem   Slylandro Speaker
    David Bryce      Kohr-Ah, Ilwrath,    Madeleine Wild    Zoq-Fot-Pik, Syreen, VUX
                     Shofixti, Spathi     Larry Zee         Umgah, Melnorme, Ur-Quan
    Lauren Forcella  Supox                840-AV            Slylandro Probe
    Greg Johnson     Orz, Pkunk, Utwig    Roy Blumenfeld    Zoq-Fot-Pik

Left out: ``zoqfotpik`` (two actors), ``probe`` (840-AV, synthetic), ``safeones`` and
``yehatrebels`` (not credited). Several races carry voice effects (the credits name a voice
effects crew), so one actor's races can sound unlike each other.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from local.real_speech.source import Segment, Source, speaker_id
from vib.errors import VibError

VOICE_ZIP = "usr/share/games/uqm/content/addons/uqm-0.8.0-voice.uqm"
CONTENT_ZIP = "usr/share/games/uqm/content/packages/uqm-0.8.0-content.uqm"
LICENCE = "CC BY-NC-SA 2.5 (uqm-voice, Debian non-free; uqm-content, main; Toys for Bob)"
ACTORS = {  # race dir -> actor (credits.txt, above)
    "thraddash": "Richard Antaki", "starbase": "Alex Bennett", "commander": "Alex Bennett",
    "arilou": "Rich Betz", "druuge": "Rich Betz", "kohrah": "David Bryce", "ilwrath": "David Bryce",
    "shofixti": "David Bryce", "spathi": "David Bryce", "supox": "Lauren Forcella", "orz": "Greg Johnson",
    "pkunk": "Greg Johnson", "utwig": "Greg Johnson", "yehat": "Bruce Leyland", "chmmr": "Erol Otus",
    "mycon": "Paul Reiche III", "talkingpet": "Paul Reiche III", "slylandro": "Brad Van Tighem",
    "syreen": "Madeleine Wild", "vux": "Madeleine Wild", "umgah": "Larry Zee", "melnorme": "Larry Zee",
    "urquan": "Larry Zee",
}
PREFIX = "uqm"
_KEY = re.compile(r"^#\((?P<key>[^)]+)\)\s*(?P<rest>.*)$")


def parse_conversation(text: str) -> dict[str, tuple[str, list[str]]]:
    """``<race>.txt`` -> {key: (clip file name, subtitle pages)}; keys without a clip are skipped."""
    out: dict[str, tuple[str, list[str]]] = {}
    key = clip = None
    for line in text.splitlines():
        m = _KEY.match(line)
        if m:
            key, clip = m["key"], m["rest"].strip() or None
            if clip:
                out[key] = (clip, [])
        elif key in out and clip and line.strip():
            out[key][1].append(line.strip())
    return out


def parse_timestamps(text: str, where: str) -> dict[str, list[int]]:
    """``<race>.ts`` -> {key: page durations in ms} (an empty list: no times); a time that is
    not a non-negative integer is an error naming the file and line."""
    out: dict[str, list[int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        m = _KEY.match(line)
        if not m:
            continue
        fields = [f.strip() for f in m["rest"].split(",") if f.strip()]
        if not all(f.isdigit() for f in fields):
            raise VibError(f"{where}:{number}: page times must be integers (ms), got '{m['rest']}'")
        out[m["key"]] = [int(f) for f in fields]
    return out


def uqm_segments(voice: zipfile.ZipFile, content: zipfile.ZipFile | None) -> list[Segment]:
    """Every subtitle-page segment of the credited races' clips, in race and clip order; a
    segment is named ``<race>-NNN-<page>`` and is English."""
    names = set(voice.namelist())
    segments = []
    for race in sorted(ACTORS):
        folder = f"3dovoice/{race}/"
        conv_name = folder + f"{race}.txt"
        if conv_name in names:
            conv = voice.read(conv_name)
        elif content is not None and f"base/comm/{race}/{race}.txt" in content.namelist():
            conv = content.read(f"base/comm/{race}/{race}.txt")
        else:
            continue
        ts_name = folder + f"{race}.ts"
        times = parse_timestamps(voice.read(ts_name).decode("latin-1"), ts_name) if ts_name in names else {}
        actor = ACTORS[race]
        for key, (clip, pages) in parse_conversation(conv.decode("latin-1")).items():
            member = folder + clip
            if member not in names:
                continue
            durations = times.get(key, [])
            stem = Path(clip).stem
            if not durations:
                segments.append(Segment(speaker_id(PREFIX, actor), actor, "en", member, f"{stem}-00", 0, None,
                                        " ".join(pages)))
                continue
            start = 0
            for page, ms in enumerate(durations):
                segments.append(Segment(speaker_id(PREFIX, actor), actor, "en", member, f"{stem}-{page:02d}", start,
                                        start + ms, pages[page] if page < len(pages) else ""))
                start += ms
    return segments


class UqmSource(Source):
    """The actors' segments, read from the voice pack's zip (held open until ``close``)."""

    packages = ("uqm-voice", "uqm-content")
    licence = LICENCE

    def __init__(self, unpacked: dict[str, Path]) -> None:
        super().__init__(unpacked)
        self._voice = zipfile.ZipFile(unpacked["uqm-voice"] / VOICE_ZIP)
        self._content = zipfile.ZipFile(unpacked["uqm-content"] / CONTENT_ZIP)

    def segments(self) -> list[Segment]:
        return uqm_segments(self._voice, self._content)

    def read(self, clip: str) -> bytes:
        return self._voice.read(clip)

    def close(self) -> None:
        self._voice.close()
        self._content.close()
