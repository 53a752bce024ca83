"""The corpus's donors: TTS voices, each built from one recorded human speaker.

Candidates are every MBROLA voice espeak-ng can drive (``mb-<db>``, one donor
per MBROLA database), SVOX Pico's six languages and flite's four voices. A
voice is usable only if it speaks: :func:`usable_voices` synthesises a digit
string and a word text with each candidate and drops near-silent ones (e.g.
mbrola-hb1/hb2), caching the verdict in ``voices.json`` of the output dir.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from vib.errors import VibError
from vib.io.tables import atomic_output

ESPEAK_DATA_DIRS = ("/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
                    "/usr/share/espeak-ng-data")
MBROLA_DIRS = ("/usr/share/mbrola", "/usr/lib/mbrola")
PICO_LANGS = ("de-DE", "en-GB", "en-US", "es-ES", "fr-FR", "it-IT")
FLITE_VOICES = {"awb": "en-gb", "kal16": "en-us", "rms": "en-us", "slt": "en-us"}
# Tools and the Debian package that provides each.
TOOL_PACKAGES = {"espeak-ng": "espeak-ng", "mbrola": "mbrola", "sox": "sox", "flite": "flite",
                 "pico2wave": "libttspico-utils"}


@dataclass(frozen=True)
class Voice:
    """One donor. ``donor`` is the speaker id stem (``mb-de1``, ``pico-en-US``, ``flite-slt``);
    ``lang`` the base language (``de``, ``en``) used for same-language trials."""

    donor: str
    engine: str      # "espeak-mbrola" | "pico" | "flite"
    name: str        # the engine's voice name: mb-de1, en-US, slt
    lang: str
    package: str     # the apt package that installs it


def require_tool(tool: str) -> str:
    """The path of ``tool``; a missing tool is an error naming its apt package."""
    path = shutil.which(tool)
    if path is None:
        raise VibError(f"'{tool}' not found on PATH: install the Debian package {TOOL_PACKAGES[tool]} "
                       f"(apt-get install {TOOL_PACKAGES[tool]}, or run utils/setup_env.sh)")
    return path


def _espeak_voice_dir() -> Path | None:
    for d in ESPEAK_DATA_DIRS:
        if (Path(d) / "voices" / "mb").is_dir():
            return Path(d) / "voices" / "mb"
    return None


def mbrola_database(db: str) -> str | None:
    """The path of MBROLA database ``db`` (e.g. de1), None when not installed."""
    return next((str(Path(d) / db / db) for d in MBROLA_DIRS if (Path(d) / db / db).is_file()), None)


def candidate_voices() -> tuple[list[Voice], list[str]]:
    """(installed candidate voices sorted by donor id, apt packages of voices espeak-ng knows
    but whose MBROLA database is not installed)."""
    require_tool("espeak-ng")
    voices: list[Voice] = []
    missing: list[str] = []
    mb_dir = _espeak_voice_dir()
    if mb_dir is not None and not shutil.which("mbrola"):
        missing.append("mbrola")
    elif mb_dir is not None:
        for path in sorted(mb_dir.iterdir()):
            fields = dict(line.split(maxsplit=1) for line in path.read_text(errors="replace").splitlines()
                          if len(line.split(maxsplit=1)) == 2)
            if "mbrola" not in fields:
                continue
            db = fields["mbrola"].split()[0]
            if path.name != f"mb-{db}":      # mb-de1-en etc. reuse a donor: one voice per database
                continue
            if mbrola_database(db) is None:
                missing.append(f"mbrola-{db}")
                continue
            lang = fields.get("language", "xx").split()[0].split("-")[0]
            voices.append(Voice(f"mb-{db}", "espeak-mbrola", path.name, lang, f"mbrola-{db}"))
    if shutil.which("pico2wave"):
        voices += [Voice(f"pico-{lang}", "pico", lang, lang.split("-")[0], "libttspico-utils")
                   for lang in PICO_LANGS]
    if shutil.which("flite"):
        voices += [Voice(f"flite-{name}", "flite", name, lang.split("-")[0], "flite")
                   for name, lang in FLITE_VOICES.items()]
    return sorted(voices, key=lambda v: v.donor), sorted(missing)


def usable_voices(cache_path: Path, check) -> list[Voice]:
    """The candidates that pass ``check(voice) -> (ok, reason)``; verdicts are cached in
    ``cache_path`` (JSON) and re-checked only for voices the cache does not know."""
    candidates, missing = candidate_voices()
    cached: dict[str, dict] = {}
    if cache_path.is_file():
        cached = {entry["donor"]: entry for entry in json.loads(cache_path.read_text())["voices"]}
    verdicts = []
    for voice in candidates:
        entry = cached.get(voice.donor)
        if entry is None or {k: entry[k] for k in asdict(voice)} != asdict(voice):
            ok, reason = check(voice)
            entry = {**asdict(voice), "usable": ok, "reason": reason}
        verdicts.append(entry)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(cache_path)) as f:
        json.dump({"voices": verdicts, "not_installed": missing}, f, indent=1, sort_keys=True)
        f.write("\n")
    return [v for v, e in zip(candidates, verdicts) if e["usable"]]


def not_enough_donors(needed: int, usable: list[Voice], cache_path: Path) -> VibError:
    """The error for a request that needs more donors than are usable, naming what to install."""
    _, missing = candidate_voices()
    hint = (f"install the voice packages: apt-get install {' '.join(missing)} (or run utils/setup_env.sh)"
            if missing else "install more voices (mbrola-*, libttspico-utils, flite; utils/setup_env.sh "
            "installs them all) or ask for fewer donors")
    return VibError(f"need {needed} donors but only {len(usable)} usable voices are installed "
                    f"(verdicts in {cache_path}); {hint}")

