"""Set-up is idempotent and path.sh gives a working environment."""
from __future__ import annotations

import subprocess

from tests.conftest import REPO, run_bash


def test_second_setup_run_changes_nothing():
    venv = REPO / ".venv"
    before = {p: p.stat().st_mtime_ns for p in (venv / "bin").iterdir()}
    out = subprocess.run(["bash", str(REPO / "utils/setup_env.sh")], capture_output=True, text=True, check=True)
    assert "environment up to date" in out.stderr
    assert "installing" not in out.stderr
    after = {p: p.stat().st_mtime_ns for p in (venv / "bin").iterdir()}
    assert before == after


def test_path_sh_environment():
    out = run_bash('echo "$LC_ALL"; command -v parse_options.sh; python -c "import vib, sys; print(vib.__file__)"',
                   check=True)
    lc_all, parse_options, vib_file = out.stdout.split()
    assert lc_all == "C"
    assert parse_options == str(REPO / "utils/parse_options.sh")
    assert vib_file == str(REPO / "vib/__init__.py")


def test_path_sh_without_venv_names_the_setup_command(tmp_path):
    (tmp_path / "path.sh").write_text((REPO / "path.sh").read_text())
    out = subprocess.run(["bash", "-c", f". {tmp_path}/path.sh && echo sourced"], capture_output=True, text=True)
    assert out.returncode != 0 and "sourced" not in out.stdout
    assert "utils/setup_env.sh" in out.stderr and out.stderr.count("\n") == 1
