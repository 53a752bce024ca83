"""The shared command-line conventions of vib.cli."""
from __future__ import annotations

import argparse

import pytest

from vib.cli import VibError, add_bool, kaldi_bool, make_parser, run


def test_kaldi_bool():
    assert kaldi_bool("true") is True and kaldi_bool("false") is False
    with pytest.raises(argparse.ArgumentTypeError):
        kaldi_bool("yes")


def test_bool_option_forms():
    parser = make_parser("demo", "demo tool")
    add_bool(parser, "--binary", True, "write binary")
    assert parser.parse_args([]).binary is True
    assert parser.parse_args(["--binary=false"]).binary is False
    assert parser.parse_args(["--binary", "false"]).binary is False
    assert parser.parse_args(["--binary"]).binary is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--binary=maybe"])


def test_run_turns_user_errors_into_one_line(capsys):
    def main(argv):
        raise VibError("data/utt2spk:3: bad line")

    with pytest.raises(SystemExit) as exit_info:
        run(main, [])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ERROR: data/utt2spk:3: bad line" in err


def test_run_returns_status(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(lambda argv: 0, [])
    assert exit_info.value.code == 0
