"""bench/run.sh runs every benchmark end to end at tiny sizes and writes a table with every figure.

The scripts' loop baselines also check their outputs against the vectorised code (PLDA and
cosine scores, PLDA E-M). No timing is asserted: the figures at these sizes mean nothing.
"""
from __future__ import annotations

import re

import pytest

from tests.conftest import run_bash
from tests.kaldi_tools import kaldi_bin_dirs

# (section, figure name pattern, has a baseline) for every figure the issue asks for
FIGURES = [
    ("Back-end", r"PLDA scoring, 3,000 trials", True),
    ("Back-end", r"cosine scoring, 3,000 trials", True),
    ("Back-end", r"PLDA scoring with uncertainty propagation, 3,000 trials", True),
    ("Back-end", r"metrics \(EER \+ 2 minDCF\), 20,000 scores", True),
    ("Back-end", r"speaker bootstrap \(EER \+ 2 minDCF\), 20 resamples of 3,000 trials", True),
    ("Back-end", r"PLDA training, 600 x 16 vectors of 60 speakers", True),
    ("Data", r"fbank RTF, compute_fbank.sh --nj 2", True),
    ("Data", r"loader crops/s, augmented on the fly, 2 workers", True),
    ("Training and extraction", r"trainer crops/s", True),
    ("Training and extraction", r"extraction RTF, CPU preset, batch 3", True),
    ("Training and extraction", r"extraction RTF, ResNet34, batch 3", True),
    ("Training and extraction", r"peak RSS, extracting one 0.2-minute recording", True),
    ("Peer: SpeechBrain PLDA", r"PLDA training, 1,000 x 32 vectors of 100 speakers", True),
    ("Peer: SpeechBrain PLDA", r"PLDA scoring, 10,000 trials", True),
    ("Peer: SpeechBrain PLDA", r"Pearson correlation of SpeechBrain's scores with ours", False),
    ("Peer: SpeechBrain PLDA", r"EER on the same trials", True),
    ("Corpus", r"mini-corpus generator \(tiny", True),
    ("Export: extraction RTF on one thread", r"ONNX Runtime [0-9.]+ RTF \(tiny ResNet", True),
    ("Export: extraction RTF on one thread", r"TorchScript RTF \(tiny ResNet", True),
    ("Beside Kaldi: whole processes", r"vib-plda-scoring-up, 2,000 trials", True),
]
# Beside Kaldi's binaries: with a baseline where they are found or built, else the reason they are not
KALDI_FIGURES = [r"vib-plda-scoring, 2,000 trials of 16-dim vectors", r"vib-compute-plda, 600 x 16 vectors"]
NUMBER = r"[0-9][0-9,.e+-]*"


def sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.mark.slow
def test_run_sh_tiny_writes_every_figure(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = run_bash(f"bench/run.sh --size tiny --repeats 1 --threads 2 --out {out}", check=True)
    assert "wrote" in proc.stdout
    text = out.read_text()
    assert "Written by `bench/run.sh --size tiny --repeats 1 --threads 2 --out" in text
    by_section = sections(text)
    machine = by_section["Machine"]
    for what in ("cores", "CPU", "threads used", "load average (1, 5, 15 min) at start", "torch"):
        assert re.search(rf"^\| {re.escape(what)} \| \S", machine, flags=re.M), what
    for section, name, has_baseline in FIGURES:
        rows = [line for line in by_section[section].splitlines() if re.match(rf"\| {name}", line)]
        assert len(rows) == 1, (section, name, by_section[section])
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        assert re.match(NUMBER, cells[1]), rows[0]  # ours
        if has_baseline:
            assert re.match(NUMBER, cells[2]), rows[0]
    kaldi_found = not kaldi_bin_dirs()[1]
    for name in KALDI_FIGURES:
        rows = [line for line in by_section["Beside Kaldi: whole processes"].splitlines() if re.match(rf"\| {name}", line)]
        assert len(rows) == 1, name
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        assert re.match(NUMBER, cells[1]) and (re.match(NUMBER, cells[2]) if kaldi_found else
                                               "Kaldi skipped: " in cells[4]), rows[0]  # --tiny builds nothing
    assert not list((out.parent).glob(".*tmp*")), "temporary file left behind"


def test_run_sh_rejects_unknown_benchmark(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = run_bash(f"bench/run.sh --only 'backend nonsense' --out {out}")
    assert proc.returncode != 0
    assert "unknown benchmark 'nonsense'" in proc.stderr
    assert not out.exists()
