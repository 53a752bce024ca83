"""Shared conventions for the command-line tools in :mod:`vib.bin`.

Every tool builds its parser with :func:`make_parser`, declares Kaldi-style
boolean options with :func:`add_bool`, and runs through :func:`run`, which turns
any :class:`VibError` (and I/O or value errors) into one line on stderr,
``<prog>: ERROR: <message>``, and exit status 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence


class VibError(Exception):
    """An error caused by the user's input; the message names the file, key or line."""


def kaldi_bool(text: str) -> bool:
    """Parses Kaldi's boolean option values: ``true`` or ``false``."""
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def make_parser(prog: str, description: str, usage: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser that accepts ``--opt value`` and ``--opt=value``."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        usage=usage,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )


def add_bool(parser: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    """Adds a Kaldi boolean option: ``--name``, ``--name=true`` or ``--name=false``."""
    parser.add_argument(
        name, type=kaldi_bool, nargs="?", const=True, default=default, metavar="true|false",
        help=f"{help} (default: {str(default).lower()})",
    )


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Runs ``main(argv)`` and exits; user errors become one line on stderr and exit 1."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "vib"
    try:
        status = main(argv)
    except (VibError, OSError, ValueError) as err:
        print(f"{prog}: ERROR: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)
