"""The project's error type: raised for bad input, printed by every CLI as one line."""
from __future__ import annotations


class VibError(Exception):
    """An error caused by the user's input; the message names the file, key or line."""


def one_line(err: Exception) -> str:
    """An exception's message on one line (YAML errors, for one, span several)."""
    return " ".join(str(err).split())
