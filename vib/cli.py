"""Shared conventions for the command-line tools in :mod:`vib.bin`.

Every tool builds its parser with :func:`make_parser`, declares Kaldi-style
boolean options with :func:`add_bool`, and runs through :func:`run`, which turns
any :class:`VibError` (and I/O or value errors) into one line on stderr,
``<prog>: ERROR: <message>``, and exit status 1.

Booleans follow Kaldi's C++ tools: a bare ``--flag`` means true and a value is
given only with ``=`` (``--flag=false``); the word after a bare flag is never
taken as its value. Every tool has ``--allow-scp-pipes`` (default false): only
then may an scp entry such as ``utt1 gunzip -c x.gz |`` run its command.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from typing import Callable, Sequence

from vib.errors import VibError


def kaldi_bool(text: str) -> bool:
    """Parses Kaldi's boolean option values: ``true`` or ``false``."""
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


class KaldiArgumentParser(argparse.ArgumentParser):
    """argparse with Kaldi's boolean rule: a bare ``--flag`` (declared with
    :func:`add_bool`) is read as ``--flag=true`` before parsing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bool_options: set[str] = set()

    def parse_known_args(self, args=None, namespace=None):
        from vib.io.tables import allow_scp_pipes

        allow_scp_pipes(False)  # process-wide: set again only by this command line
        args = list(sys.argv[1:] if args is None else args)
        rewritten = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[i:])
                break
            rewritten.append(f"{arg}=true" if arg in self.bool_options else arg)
        return super().parse_known_args(rewritten, namespace)


class _AllowScpPipes(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        from vib.io.tables import allow_scp_pipes

        setattr(namespace, self.dest, values)
        allow_scp_pipes(values)


def make_parser(prog: str, description: str, usage: str | None = None) -> KaldiArgumentParser:
    """An argparse parser that accepts ``--opt value`` and ``--opt=value`` (booleans: see
    :func:`add_bool`), with the common ``--allow-scp-pipes`` option."""
    parser = KaldiArgumentParser(
        prog=prog,
        description=description,
        usage=usage,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_bool(parser, "--allow-scp-pipes", False,
             "run the commands of scp entries such as 'utt1 gunzip -c x.gz |' (only for scp files you wrote)",
             action=_AllowScpPipes)
    return parser


def add_bool(parser: KaldiArgumentParser, name: str, default: bool, help: str, **kwargs) -> None:
    """Adds a Kaldi boolean option: ``--name`` (= true), ``--name=true`` or ``--name=false``;
    ``--name false`` leaves ``false`` as a positional argument, as Kaldi's tools do."""
    parser.bool_options.add(name)
    parser.add_argument(name, type=kaldi_bool, default=default, metavar="true|false",
                        help=f"{help} (default: {str(default).lower()})", **kwargs)


def _terminated(signum: int, frame) -> None:
    """SIGTERM in the tool's own process unwinds (temporary outputs are removed)."""
    raise SystemExit(128 + signum)


def _default_sigterm() -> None:
    """A forked child (a multiprocessing worker that its pool terminates) gets the default
    SIGTERM back: the kernel ends it at once, even inside a wait that runs no Python signal
    handler (a pool worker left waiting on its queue's lock hung Pool.terminate that way)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_sigterm)


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Runs ``main(argv)`` and exits; user errors become one line on stderr and exit 1."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "vib"
    # SIGTERM (kill, a cluster's job limit) unwinds like Ctrl-C, so that temporary outputs are removed.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        status = main(argv)
    except (VibError, OSError, ValueError) as err:
        print(f"{prog}: ERROR: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)


def name_value_pairs(items: Sequence[str], option: str) -> dict[str, str]:
    """``NAME=VALUE`` option values (a repeatable option such as ``--trials``) as a dict; a value
    without ``=``, or with an empty side, is an error naming the option."""
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise VibError(f"{option}: expected NAME=VALUE, got '{item}'")
        pairs[name] = value
    return pairs


def add_config_options(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """One ``--field-name`` option per field of a library's config dataclass, as Kaldi's
    ``Config::Register``: the default, the type and the help (``metadata["help"]``) are the
    field's own, so an option is declared once, beside the code that reads it."""
    for f in dataclasses.fields(config_cls):
        flag, text = "--" + f.name.replace("_", "-"), f.metadata.get("help", "")
        if isinstance(f.default, bool):
            add_bool(parser, flag, f.default, text)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, help=f"{text} (default: {f.default})")


def config_from_options(config_cls: type, opts: argparse.Namespace):
    """The config dataclass filled from the options that :func:`add_config_options` added."""
    return config_cls(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(config_cls)})

