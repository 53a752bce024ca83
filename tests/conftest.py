"""Shared fixtures: the repository root and a runner for shell scripts."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


def run_bash(script: str, cwd: Path | str | None = None, check: bool = False,
             env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs a bash snippet with the repository's path.sh sourced; returns the completed process."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        ["bash", "-c", f". {REPO}/path.sh && {script}"], cwd=cwd or REPO, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"command failed ({proc.returncode}): {script}\n{proc.stdout}\n{proc.stderr}")
    return proc
