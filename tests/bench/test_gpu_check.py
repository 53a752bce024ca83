"""bench/gpu_check.sh runs on the CPU at tiny sizes (so that it cannot rot before a GPU
run) and writes a GPU_RESULTS.md with every check; no timing is asserted."""
from __future__ import annotations

import pytest

from tests.conftest import run_bash

CHECKS = ["environment", "tests marked gpu", "train softmax, 2 epochs", "train aam, 2 epochs",
          "train vib, 2 epochs", "train vib_aam, 2 epochs", "torchrun --nproc-per-node 1 (gloo)",
          "extraction on cpu vs cpu", "training crops/s, tiny ResNet, pipeline vs bare step"]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_reports_every_check(tmp_path):
    out = tmp_path / "GPU_RESULTS.md"
    proc = run_bash(f"bench/gpu_check.sh --device cpu --size tiny --work {tmp_path}/work --out {out}", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(CHECKS)
    for row, check in zip(rows, CHECKS):
        assert row.startswith(f"| {check}"), row
        assert "| FAIL |" not in row
    assert sum("| pass |" in row for row in rows) == len(CHECKS) - 2  # gpu tests and the tiny ratio: skipped
    assert "killed after epoch 1, resumed" in out.read_text()
