"""What every source of the real-speech set gives: the segments of its credited speakers
(:class:`Segment`) and the bytes of a clip (:class:`Source`)."""
from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Segment:
    """A piece of one clip of one credited person: ``start_ms`` to ``end_ms`` (None: not timed,
    not used) of ``clip``; ``name`` is unique among the speaker's segments (the utterance id is
    ``<speaker>-<name>``)."""

    speaker: str       # speaker id, speaker_id(prefix, person)
    person: str        # as the package credits them
    lang: str          # ISO 639-1 code of what is spoken
    clip: str          # what the source's read() takes
    name: str
    start_ms: int
    end_ms: int | None
    text: str          # what is said, or "" when the package does not say


class Source(ABC):
    """A package set's credited voices, made from the packages' unpacked trees
    ({package: folder}); a context manager (``close`` on exit). Clips that ``segments`` finds
    unreadable go to :attr:`skipped` (``clip<TAB>why`` lines)."""

    packages: tuple[str, ...] = ()   # Debian packages it needs, the one with the audio first
    licence: str = ""

    def __init__(self, unpacked: dict[str, Path]) -> None:
        self.unpacked = unpacked
        self.skipped: list[str] = []

    @abstractmethod
    def segments(self) -> list[Segment]:
        """Every segment of the credited speakers, in a fixed order."""

    @abstractmethod
    def read(self, clip: str) -> bytes:
        """The encoded bytes of ``clip`` (a :attr:`Segment.clip`)."""

    def close(self) -> None:
        """Releases what the source holds open."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def speaker_id(prefix: str, person: str) -> str:
    """``<prefix>-<person>`` in ASCII lower case with underscores, e.g. ``uqm-larry_zee``,
    ``tux-estefania_ortiz`` (accents dropped, other letters kept)."""
    plain = unicodedata.normalize("NFKD", person).encode("ascii", "ignore").decode() or person
    return f"{prefix}-" + "_".join(plain.lower().replace(".", "").split())
