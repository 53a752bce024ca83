"""What a result depends on besides the code: the numeric software and how it runs.

Two machines with the same code, corpus and seed can still train different models: float
results depend on the BLAS and oneDNN kernels torch picks for the CPU (AVX2 vs AVX-512
change summation order), on the thread count, and on the versions of torch and numpy.
:func:`software_fingerprint` names each, so that two RESULTS.md files can be compared.
"""
from __future__ import annotations

import hashlib
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterable


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def blas_info() -> str:
    """numpy's BLAS (name and version) as numpy reports it."""
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '?')}"
    except (TypeError, KeyError, AttributeError):
        return "unknown"


def software_fingerprint() -> str:
    """One line: Python, torch, numpy (+ its BLAS), lhotse, torch's CPU capability and threads."""
    import numpy as np
    import torch

    return (f"Python {platform.python_version()}, torch {torch.__version__} (CPU kernels "
            f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads), numpy {np.__version__} "
            f"(BLAS {blas_info()}), lhotse {_version('lhotse')}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")


def files_digest(paths: Iterable[str | Path]) -> tuple[str, int]:
    """sha256 of the files' base names and bytes, in sorted path order, and their count."""
    digest = hashlib.sha256()
    count = 0
    for path in sorted(map(str, paths)):
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        count += 1
    return digest.hexdigest(), count


__all__ = ["blas_info", "files_digest", "software_fingerprint"]
