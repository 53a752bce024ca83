"""Kaldi's own binaries for the parity tests and the bench.

Found in ``$KALDI_ROOT/src/{bin,ivectorbin}`` or in the folder ``../shared/kaldi/build.sh DIR``
filled (``$VIB_KALDI_BUILD``, default ``<repo>/../shared/kaldi-build``): ``DIR/bin``.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KALDI_TOOLS = ("ivector-mean", "ivector-subtract-global-mean", "ivector-compute-lda", "transform-vec",
               "ivector-normalize-length", "ivector-compute-plda", "ivector-copy-plda", "ivector-plda-scoring",
               "ivector-compute-dot-products", "compute-eer", "copy-vector")


def default_build_dir() -> Path:
    """Where ../shared/kaldi/build.sh is asked to put the binaries."""
    return Path(os.environ.get("VIB_KALDI_BUILD", REPO.parent / "shared" / "kaldi-build"))


def kaldi_bin_dirs(build_dir: Path | None = None) -> tuple[list[Path], str]:
    """(dirs holding every tool in KALDI_TOOLS, "") or ([], why they were not found)."""
    candidates: list[tuple[str, list[Path]]] = []
    if os.environ.get("KALDI_ROOT"):
        src = Path(os.environ["KALDI_ROOT"]) / "src"
        candidates.append((f"$KALDI_ROOT/src ({src})", [src / "bin", src / "ivectorbin"]))
    build = build_dir or default_build_dir()
    candidates.append((f"{build}/bin (../shared/kaldi/build.sh {build})", [build / "bin"]))
    for _, dirs in candidates:
        if all(any(os.access(d / t, os.X_OK) for d in dirs) for t in KALDI_TOOLS):
            return dirs, ""
    return [], "Kaldi's binaries are not in " + " nor in ".join(name for name, _ in candidates)


def kaldi_path(dirs: list[Path]) -> str:
    """PATH with the Kaldi dirs first."""
    return os.pathsep.join([*map(str, dirs), os.environ.get("PATH", "")])
