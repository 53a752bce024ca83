"""Log-mel filterbank features: one configuration, stored (lilcom) or computed on the fly.

The configuration (80 filters, 25 ms window, 10 ms shift, no dither, raw log-mel
without mean normalisation) lives in :data:`FBANK_DEFAULTS`; ``compute_fbank.sh``
writes it to ``<fbank-dir>/fbank.yaml`` and the training loader reads it back, so
augmented crops get exactly the features stored for clean ones.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml
from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter
from lhotse.utils import fastcopy
from tqdm import tqdm

from vib.data.audio import cut_samples
from vib.data.manifests import load_cuts
from vib.errors import VibError, one_line
from vib.io.tables import TableWriter, atomic_output

FBANK_DEFAULTS: dict[str, Any] = {
    "sampling_rate": 16000, "num_filters": 80, "frame_length": 0.025, "frame_shift": 0.01, "dither": 0.0,
}
FBANK_CONFIG_NAME = "fbank.yaml"


def fbank_extractor(config: dict[str, Any] | None = None) -> Fbank:
    """Lhotse's Fbank with :data:`FBANK_DEFAULTS` updated by ``config``."""
    return Fbank(FbankConfig(**{**FBANK_DEFAULTS, **(config or {})}))


def read_fbank_config(fbank_dir: str | os.PathLike) -> dict[str, Any]:
    """The fbank options stored beside a feature dir's cuts, or the defaults when absent."""
    path = Path(fbank_dir) / FBANK_CONFIG_NAME
    if not path.is_file():
        return dict(FBANK_DEFAULTS)
    try:
        with open(path) as f:
            stored = yaml.safe_load(f) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise VibError(f"{path}: not valid YAML: {one_line(err)}") from None
    if not isinstance(stored, dict):
        raise VibError(f"{path}: expected fbank options (name: value lines), got a {type(stored).__name__}")
    unknown = sorted(set(stored) - set(FbankConfig.__dataclass_fields__))
    if unknown:
        raise VibError(f"{path}: unknown fbank option(s) {', '.join(unknown)}")
    return {**FBANK_DEFAULTS, **stored}


def write_fbank_config(fbank_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    """Writes ``fbank.yaml`` atomically."""
    with atomic_output(str(Path(fbank_dir) / FBANK_CONFIG_NAME)) as f:
        yaml.safe_dump(config, f, sort_keys=True)


def compute_fbank_part(cuts_in: str | os.PathLike, storage: str | os.PathLike, cuts_out: str | os.PathLike,
                       config: dict[str, Any] | None = None) -> int:
    """Computes fbank for every cut of ``cuts_in``, stores it in the lilcom archive
    ``<storage>.lca`` and writes the cuts pointing at it to ``cuts_out`` (atomically).
    Unreadable audio is an error naming the utterance and its source. Returns the cut count."""
    extractor = fbank_extractor(config)
    cuts = load_cuts(cuts_in)
    done = []
    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    with LilcomChunkyWriter(storage) as writer:
        for cut in tqdm(cuts, desc=f"fbank {Path(cuts_in).name}", unit="utt", mininterval=10):
            try:
                features = extractor.extract_from_samples_and_store(
                    samples=cut_samples(cut)[None, :], storage=writer, sampling_rate=cut.sampling_rate,
                    offset=cut.start, channel=cut.channel)
                done.append(fastcopy(cut, features=features))
            except Exception as err:  # audio backends raise many types; name the utterance
                source = cut.recording.sources[0].source if cut.has_recording else "?"
                raise VibError(f"utterance '{cut.id}' (audio '{source}'): cannot compute fbank: {err}") from err
    write_cuts(CutSet.from_cuts(done), cuts_out)
    return len(done)


def write_cuts(cuts: CutSet | Iterable, path: str | os.PathLike) -> None:
    """Writes a cut manifest under a temporary name and renames it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name.split('.')[0]}.tmp{os.getpid()}.jsonl.gz")
    try:
        CutSet.from_cuts(cuts).to_file(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def export_kaldi_feats(cuts_path: str | os.PathLike, wspecifier: str) -> int:
    """Writes the stored features of every cut as a Kaldi table (float32 matrices [T, 80])."""
    count = 0
    with TableWriter(wspecifier) as writer:
        for cut in load_cuts(cuts_path):
            if not cut.has_features:
                raise VibError(f"{cuts_path}: utterance '{cut.id}' has no stored features")
            writer.write(cut.id, cut.load_features().astype(np.float32))
            count += 1
    return count
