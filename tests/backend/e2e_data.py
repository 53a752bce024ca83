"""Writes small random x-vector dirs, data dirs and trials the way extraction would."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.backend.conftest import speaker_data
from vib.data.kaldi_dir import write_kaldi_map
from vib.io.kaldi_objects import write_int_table
from vib.io.tables import write_table


def write_xvector_dir(out: Path, vectors: np.ndarray, labels: np.ndarray, prefix: str) -> dict[str, str]:
    """xvector.{ark,scp}, spk_xvector.{ark,scp}, num_utts.ark, utt2spk, spk2utt; returns utt2spk."""
    out.mkdir(parents=True, exist_ok=True)
    utt2spk = {f"{prefix}spk{s:03d}-utt{i:03d}": f"{prefix}spk{s:03d}" for i, s in enumerate(labels)}
    utts = list(utt2spk)
    write_table(f"ark,scp:{out}/xvector.ark,{out}/xvector.scp", dict(zip(utts, vectors)))
    spk2utt: dict[str, list[str]] = {}
    for u, s in sorted(utt2spk.items()):
        spk2utt.setdefault(s, []).append(u)
    means = {s: vectors[[utts.index(u) for u in us]].mean(0) for s, us in spk2utt.items()}
    write_table(f"ark,scp:{out}/spk_xvector.ark,{out}/spk_xvector.scp", means)
    write_int_table(f"ark,t:{out}/num_utts.ark", {s: len(us) for s, us in spk2utt.items()})
    write_kaldi_map(out / "utt2spk", dict(sorted(utt2spk.items())))
    (out / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in spk2utt.items()))
    return utt2spk


def make_experiment(root: Path, dim: int = 12, seed: int = 0) -> dict[str, Path]:
    """Train and test xvector dirs from one model, plus Kaldi trials over all test pairs."""
    vectors, labels = speaker_data(dim=dim, num_spk=50, seed=seed, min_utts=2, max_utts=6)
    train_spk = labels < 35
    write_xvector_dir(root / "train", vectors[train_spk], labels[train_spk], "tr")
    utt2spk = write_xvector_dir(root / "test", vectors[~train_spk], labels[~train_spk] - 35, "te")
    utts = sorted(utt2spk)
    lines = [f"{a} {b} {'target' if utt2spk[a] == utt2spk[b] else 'nontarget'}\n"
             for i, a in enumerate(utts) for b in utts[i + 1:]]
    (root / "trials").write_text("".join(lines))
    return {"train": root / "train", "test": root / "test", "trials": root / "trials"}
