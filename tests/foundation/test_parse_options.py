"""Every rule of utils/parse_options.sh, driven through bash."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, run_bash

SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
stage=0
nj=4
use_gpu=false
foo_bar=abc
help_message="Usage: demo.sh [options] <dir>"
. {repo}/utils/parse_options.sh
echo "stage=$stage nj=$nj use_gpu=$use_gpu foo_bar=$foo_bar rest=$*"
"""


@pytest.fixture()
def demo(tmp_path: Path) -> Path:
    path = tmp_path / "demo.sh"
    path.write_text(SCRIPT.format(repo=REPO))
    return path


def call(demo: Path, args: str):
    return run_bash(f"bash {demo} {args}", cwd=demo.parent)


def test_space_and_equals_forms(demo):
    out = call(demo, "--stage 3 --foo-bar=xy --nj=8 a b")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "stage=3 nj=8 use_gpu=false foo_bar=xy rest=a b"


def test_value_with_spaces_and_equals(demo):
    out = call(demo, "--foo-bar 'x = y' d")
    assert out.stdout.strip() == "stage=0 nj=4 use_gpu=false foo_bar=x = y rest=d"


def test_unknown_option_lists_valid_ones(demo):
    out = call(demo, "--nope 1")
    assert out.returncode != 0
    assert "unknown option '--nope'" in out.stderr
    for opt in ("--stage", "--nj", "--use-gpu", "--foo-bar"):
        assert opt in out.stderr
    assert "--help-message" not in out.stderr


def test_exported_variables_are_not_options(demo):
    out = run_bash(f"export home_dir=/x; bash {demo} --home-dir /y", cwd=demo.parent)
    assert out.returncode != 0 and "unknown option '--home-dir'" in out.stderr


def test_boolean_accepts_only_true_false(demo):
    assert call(demo, "--use-gpu true").stdout.strip().startswith("stage=0 nj=4 use_gpu=true")
    bad = call(demo, "--use-gpu yes")
    assert bad.returncode != 0 and "expected true or false" in bad.stderr


def test_missing_value_is_an_error(demo):
    out = call(demo, "--stage")
    assert out.returncode != 0 and "needs a value" in out.stderr


def test_config_file_applied_first_command_line_overrides(demo, tmp_path):
    conf = tmp_path / "x.conf"
    conf.write_text("# a comment\n--nj=7\n\n--stage=2  # trailing comment\n")
    out = call(demo, f"--stage 5 --config {conf} d")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "stage=5 nj=7 use_gpu=false foo_bar=abc rest=d"


def test_config_file_errors_name_file_and_line(demo, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("--nj=7\nstage 3\n")
    out = call(demo, f"--config {conf}")
    assert out.returncode != 0 and f"{conf}:2" in out.stderr
    conf.write_text("--unknown=1\n")
    out = call(demo, f"--config={conf}")
    assert out.returncode != 0 and "unknown option '--unknown'" in out.stderr and str(conf) in out.stderr
    out = call(demo, f"--config {tmp_path}/missing.conf")
    assert out.returncode != 0 and "does not exist" in out.stderr


def test_help_prints_usage_and_options(demo):
    out = call(demo, "--help")
    assert out.returncode == 0
    assert "Usage: demo.sh [options] <dir>" in out.stdout and "--use-gpu" in out.stdout


def test_parsing_stops_at_positional_and_double_dash(demo):
    out = call(demo, "pos --stage 3")
    assert out.stdout.strip() == "stage=0 nj=4 use_gpu=false foo_bar=abc rest=pos --stage 3"
    out = call(demo, "--nj 2 -- --stage")
    assert out.stdout.strip() == "stage=0 nj=2 use_gpu=false foo_bar=abc rest=--stage"
