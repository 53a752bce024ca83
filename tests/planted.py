"""A planted pickle: unpickling :class:`Planted` writes a marker file, so a test can prove
that no code ran from a file (an ark record, a checkpoint, a feature store)."""
from __future__ import annotations


def touch(path: str) -> None:
    """What the planted pickle runs: writes ``path``."""
    with open(path, "w") as f:
        f.write("code ran")


class Planted:
    """Pickles as a call of :func:`touch` on ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (touch, (self.marker,))
