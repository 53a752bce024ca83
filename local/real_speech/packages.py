"""Debian packages as data: fetched with ``apt-get download`` (never installed) into a cache
folder of the user's choice and unpacked with ``dpkg-deb -x``; nothing in them is run."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vib.errors import VibError


def fetch_package(name: str, cache: Path) -> Path:
    """The ``.deb`` of package ``name`` in ``cache`` (downloaded once); a package apt cannot
    download is an error naming it and apt's last line."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{name}_*.deb"))
    if found:
        return found[-1]
    proc = subprocess.run(["apt-get", "download", name], cwd=cache, capture_output=True, text=True)
    found = sorted(cache.glob(f"{name}_*.deb"))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no .deb written"])[-1]
        raise VibError(f"package '{name}' is not available: apt-get download failed ({last})")
    return found[-1]


def unpack_package(deb: Path, dest: Path) -> Path:
    """``dest`` holding the files of ``deb`` (``dpkg-deb -x`` into a temporary folder, then
    renamed; an existing ``dest`` is kept)."""
    if dest.is_dir():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise VibError(f"{deb}: dpkg-deb -x failed ({(proc.stderr.strip().splitlines() or ['?'])[-1]})")
    tmp.rename(dest)
    return dest
