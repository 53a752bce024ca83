"""Fingerprint of a generated mini corpus: a hash of its audio and the versions of the packages
that made it (the TTS engines, their voices, sox).

Usage: python -m local.mini_corpus.fingerprint <corpus-dir>   (prints two lines for RESULTS.md)

The corpus is the same bytes for the same options and seed on one machine; another machine
gives another corpus when a voice package or sox differs, which the package line shows.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Sequence

from local.mini_corpus.voices import TOOL_PACKAGES
from vib.cli import make_parser, run
from vib.errors import VibError
from vib.fingerprint import files_digest


def package_versions(packages: Sequence[str]) -> dict[str, str]:
    """Installed versions (dpkg) of ``packages``; "absent" for one dpkg does not know."""
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *packages],
                          capture_output=True, text=True)
    found = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    return {p: found.get(p, "absent") for p in packages}


def corpus_fingerprint(corpus_dir: str | Path) -> list[str]:
    """Lines: the audio digest (sha256 of every wav, first 16 hex digits) and the package versions."""
    corpus = Path(corpus_dir)
    voices = corpus / "voices.json"
    if not voices.is_file():
        raise VibError(f"{corpus}: no voices.json (not a generated mini corpus)")
    digest, count = files_digest((corpus / "wav").rglob("*.wav"))
    tools = sorted(set(TOOL_PACKAGES.values()))
    voice_packages = sorted({v["package"] for v in json.loads(voices.read_text())["voices"] if v["usable"]}
                            - set(tools))
    versions = package_versions(tools + voice_packages)
    listing = "".join(f"{p} {versions[p]}\n" for p in voice_packages).encode()
    return [f"Corpus audio: sha256 {digest[:16]} of {count} wav files",
            "Corpus packages: " + ", ".join(f"{p} {versions[p]}" for p in tools) +
            f"; {len(voice_packages)} voice packages, sha256 of their 'name version' lines "
            f"{hashlib.sha256(listing).hexdigest()[:16]}"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("fingerprint.py", __doc__.split("\n\n", 1)[0],
                         usage="python -m local.mini_corpus.fingerprint <corpus-dir>")
    parser.add_argument("corpus_dir")
    args = parser.parse_args(argv)
    print("\n".join(corpus_fingerprint(args.corpus_dir)))
    return 0


if __name__ == "__main__":
    run(main)
