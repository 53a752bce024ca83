"""The narrators of Tux Paint's stamp descriptions (Debian: tuxpaint-stamps-default, main).

Each stamp ``usr/share/tuxpaint/stamps/<category>/.../<stamp>.png`` may have a spoken
description per language, ``<stamp>_desc_<lang>.ogg`` (Ogg Vorbis, 44.1 kHz but for five
8-kHz Catalan ones; one clip is one segment, e.g. "Una granota." for the frog), and
``<stamp>.txt`` holds the written descriptions (first line English, then
``<lang>.utf8=<text>``; the text is today's translation and may differ from what was
recorded).

Speakers are the narrators credited in the package's upstream changelog
(``usr/share/doc/tuxpaint-stamps-default/changelog.gz``), one per language:

    Belarusian  Kseniya Buraya       "Descriptive sounds by Kseniya Buraya"; GCI students list
    Bulgarian   Krasimir Petkov      "Descriptive sounds Krasimir Petkov"; GCI students list
    Catalan     Pere Pujal Carabantes  "Catalan spoken translations of all (almost all?) stamps!"
    Danish      Joe Dalton           "Danish descriptive sounds"
    Greek       Kiriaki Serafeim     "Greek descriptive sounds" (2009, as Serafeim Kyriaki, and later)
    Spanish     Estefanía Ortiz      "Descriptive sounds Estefanía Ortiz"
    Romanian    Tabbytha             "Descriptive sounds by GCI students ... Romanian: Tabbytha"
    Russian     Edwin Veber          "Descriptive sounds by GCI students ... Rusian: Edwin Veber"

Left out: French (two narrators credited, Jacques Chion and PaulK, and no way to tell their
clips apart), English ``_desc.ogg``, Dutch, Lithuanian, Malayalam and Brazilian Portuguese
(not credited to one person: "various Brazilian school children"), and every clip under
``symbols/alphabets/`` and ``symbols/math/``: letters and numbers were recorded by others
(Schoolsplay, "his son did the sounds", the Greek i18n team, ...).
"""
from __future__ import annotations

from pathlib import Path

import soundfile as sf

from local.real_speech.source import Segment, Source, speaker_id

PACKAGE = "tuxpaint-stamps-default"
STAMPS = "usr/share/tuxpaint/stamps"
LICENCE = "GPL-2 (tuxpaint-stamps-default, Debian main; Tux Paint contributors)"
PREFIX = "tux"
NARRATORS = {  # language -> narrator (the changelog, above)
    "be": "Kseniya Buraya", "bg": "Krasimir Petkov", "ca": "Pere Pujal Carabantes", "da": "Joe Dalton",
    "el": "Kiriaki Serafeim", "es": "Estefanía Ortiz", "ro": "Tabbytha", "ru": "Edwin Veber",
}
EXCLUDED = ("symbols/alphabets/", "symbols/math/")  # letters and numbers: other voices


def parse_descriptions(text: str) -> dict[str, str]:
    """A stamp's ``.txt`` -> {language: description}; the first line is ``en``, ``xx.utf8=``
    lines the others (``xx@variant`` kept as written)."""
    lines = text.splitlines()
    out = {"en": lines[0].strip()} if lines and "=" not in lines[0] else {}
    for line in lines:
        lang, sep, value = line.partition("=")
        if sep and lang.endswith(".utf8"):
            out[lang[:-len(".utf8")]] = value.strip()
    return out


def tuxpaint_segments(root: Path, skipped: list[str]) -> list[Segment]:
    """Every credited narrator's description clips under ``root`` (the unpacked package), one
    segment each (its length from the file's header; a clip without a readable header goes to
    ``skipped``), sorted by path; a clip is named by its stamp's path, ``/`` as ``-``
    (``animals-amphibians-frog``)."""
    stamps = root / STAMPS
    segments = []
    for lang, person in sorted(NARRATORS.items()):
        for path in sorted(stamps.rglob(f"*_desc_{lang}.ogg")):
            relative = path.relative_to(stamps).as_posix()
            if relative.startswith(EXCLUDED):
                continue
            stem = relative[:-len(f"_desc_{lang}.ogg")]
            txt = stamps / f"{stem}.txt"
            text = parse_descriptions(txt.read_text(encoding="utf-8", errors="replace")).get(lang, "") \
                if txt.is_file() else ""
            try:
                end_ms = round(1000 * sf.info(str(path)).duration)
            except (sf.LibsndfileError, RuntimeError) as err:
                skipped.append(f"{path}\t{type(err).__name__}: {err}")
                continue
            segments.append(Segment(speaker_id(PREFIX, person), person, lang, str(path), stem.replace("/", "-"),
                                    0, end_ms, text))
    return segments


class TuxpaintSource(Source):
    """The narrators' clips, read from the unpacked package's files."""

    packages = (PACKAGE,)
    licence = LICENCE

    def segments(self) -> list[Segment]:
        return tuxpaint_segments(self.unpacked[PACKAGE], self.skipped)

    def read(self, clip: str) -> bytes:
        return Path(clip).read_bytes()
