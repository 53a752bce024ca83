"""Embedding extraction from a Lhotse CutSet with stored features to Kaldi tables.

Each utterance (cut) becomes one or more *pieces*: the whole utterance, or, when it
is longer than ``chunk_frames``, consecutive chunks of ``chunk_frames`` frames (the
last one aligned to the utterance's end). Pieces are processed in order of length,
in padded batches of similar length (padding is masked inside the models, so a
batch gives the same embeddings as one-by-one); an utterance's embedding is the
mean of its pieces' ``mu`` (and its variance the mean of their ``exp(logvar)``).
Memory is bounded by one utterance's features plus one batch.

Outputs in ``out_dir``: ``xvector.ark`` / ``xvector.scp`` (Kaldi binary float
vectors, ``FV``; scp sorted by key), optionally ``xvector_var.ark/.scp`` (the VIB variance)
and ``quality.ark/.scp`` (per-utterance quality measures for calibration: log duration in
seconds and, for VIB, the mean predicted log-variance), and
``utt2spk`` / ``spk2utt`` from the cuts' speakers. With ``nj > 1`` the cuts are
dealt round-robin (in length order) to ``nj`` jobs whose tables are merged: processes
here (:func:`extract`), or jobs run by a job runner (:func:`extract_share` per job, then
:func:`merge_shares`), with the same result.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from vib import checkpoint as ckpt
from vib.backend.calibration import quality_vector
from vib.data.kaldi_dir import write_kaldi_map
from vib.data.manifests import utterance_key
from vib.errors import VibError
from vib.heads import head_needs_logvar
from vib.io.tables import TableWriter, atomic_output
from vib.models import Extractor, build_model


@dataclass(frozen=True)
class ExtractOptions:
    """``chunk_frames``: longer utterances are averaged over chunks of this many frames
    (0: always whole); ``batch_size``: pieces per batch; ``max_length_ratio``: a batch's
    longest piece is at most this times its shortest; ``write_var``: also write the
    VIB variance; ``write_quality``: also write the quality measures; ``num_threads``: torch
    threads per job; ``device``: cpu or cuda."""

    chunk_frames: int = 6000
    batch_size: int = 32
    max_length_ratio: float = 1.2
    write_var: bool = False
    write_quality: bool = False
    num_threads: int = 1
    device: str = "cpu"


def load_network(model_path: str | Path, device: str | torch.device = "cpu") -> Extractor:
    """The extractor from ``final.pt`` (or any epoch checkpoint), in eval mode."""
    return network_of(ckpt.load(model_path, require=("model", "config")), model_path).to(device).eval()


def network_of(state: dict, model_path: str | Path) -> Extractor:
    """The extractor of a loaded checkpoint ``state`` (``model`` weights, ``config``) read from
    ``model_path`` (named in errors), on the CPU."""
    config = state["config"]
    if not isinstance(config, dict) or not all(isinstance(config.get(k), dict) for k in ("model", "head")):
        raise VibError(f"'{model_path}': its config has no 'model' and 'head' sections")
    try:
        model = build_model(config["model"], head_needs_logvar(config["head"]))
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0]
        raise VibError(f"'{model_path}': its weights do not fit its config: {first}") from None
    return model


def piece_bounds(num_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """(start, end) frames of the pieces of an utterance (see module doc)."""
    if chunk_frames <= 0 or num_frames <= chunk_frames:
        return [(0, num_frames)]
    bounds = [(s, s + chunk_frames) for s in range(0, num_frames - chunk_frames + 1, chunk_frames)]
    if bounds[-1][1] < num_frames:
        bounds.append((num_frames - chunk_frames, num_frames))
    return bounds


def load_cuts(cuts_path: str | Path) -> list:
    """The cuts of ``cuts.jsonl.gz``, checked to have features and unique keys,
    sorted by piece length (longest first)."""
    from vib.data.manifests import load_cuts

    if not os.path.exists(cuts_path):
        raise VibError(f"no cut manifest at '{cuts_path}' (run steps/compute_fbank.sh first)")
    cuts = list(load_cuts(cuts_path))
    seen: set[str] = set()
    for cut in cuts:
        if not cut.has_features:
            raise VibError(f"{cuts_path}: cut '{cut.id}' has no stored features")
        key = utterance_key(cut)
        if key in seen:
            raise VibError(f"{cuts_path}: utterance id '{key}' appears twice")
        seen.add(key)
    return cuts


def _pieces(utterances: Iterable[tuple[str, np.ndarray]], chunk_frames: int
            ) -> Iterator[tuple[str, int, np.ndarray]]:
    """(key, number of pieces of that utterance, features [T, F]) per piece."""
    for key, feats in utterances:
        bounds = piece_bounds(feats.shape[0], chunk_frames)
        for start, end in bounds:
            yield key, len(bounds), feats[start:end]


def batch_pieces(pieces: Iterator[tuple[str, int, np.ndarray]], batch_size: int, ratio: float
                  ) -> Iterator[list[tuple[str, int, np.ndarray]]]:
    """Groups consecutive pieces (sorted longest first) into batches of at most
    ``batch_size`` whose longest piece is at most ``ratio`` times the shortest."""
    batch: list[tuple[str, int, np.ndarray]] = []
    for piece in pieces:
        if batch and (len(batch) == batch_size or len(piece[2]) * ratio < len(batch[0][2])
                      or len(piece[2]) > len(batch[0][2])):
            yield batch
            batch = []
        batch.append(piece)
    if batch:
        yield batch


@torch.inference_mode()
def embed_batch(model: Extractor, feats: list[np.ndarray], device: torch.device
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """``mu [N, D]`` and variance ``[N, D]`` (or None) of a list of ``[T_i, F]`` arrays."""
    lengths = torch.tensor([len(f) for f in feats])
    padded = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1])
    for i, f in enumerate(feats):
        padded[i, : len(f)] = torch.from_numpy(np.asarray(f, dtype=np.float32))
    same = bool((lengths == lengths[0]).all())
    mu, logvar = model(padded.to(device), None if same else lengths.to(device))
    var = logvar.float().exp().cpu().numpy() if logvar is not None else None
    return mu.float().cpu().numpy(), var


def embed_utterances(model: Extractor, utterances: Iterable[tuple[str, np.ndarray]], opts: ExtractOptions,
                     device: torch.device) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(key, mu [D], variance [D] or None)`` of each utterance ``(key, features [T, F])``, float32:
    the mean over its pieces (see the module doc), yielded as each is complete. Give the
    utterances longest first for full batches."""
    sums: dict[str, list] = {}
    for batch in batch_pieces(_pieces(utterances, opts.chunk_frames), opts.batch_size, opts.max_length_ratio):
        mu, var = embed_batch(model, [p[2] for p in batch], device)
        for row, (key, count, _) in enumerate(batch):
            acc = sums.setdefault(key, [np.zeros_like(mu[row], dtype=np.float64), None, 0])
            acc[0] += mu[row]
            if var is not None:
                acc[1] = var[row].astype(np.float64) + (0.0 if acc[1] is None else acc[1])
            acc[2] += 1
            if acc[2] == count:
                del sums[key]
                yield key, (acc[0] / count).astype(np.float32), None if acc[1] is None else (
                    acc[1] / count).astype(np.float32)


def extract_job(model_path: str, cuts: list, ark: str, scp: str, opts: ExtractOptions,
                progress: bool = True) -> int:
    """Writes the embeddings of ``cuts`` to ``ark,scp``; returns the number written."""
    torch.set_num_threads(opts.num_threads)
    device = torch.device(opts.device)
    model = load_network(model_path, device)
    # seconds of features (frames x shift), as the API measures its inputs
    duration = {utterance_key(cut): cut.num_frames * cut.frame_shift for cut in cuts}
    written = 0
    with ExitStack() as stack:
        writers = {table: stack.enter_context(TableWriter(f"ark,scp:{_table_path(ark, table)},"
                                                          f"{_table_path(scp, table)}"))
                   for table in output_tables(opts)}
        bar = tqdm(total=len(cuts), unit="utt", desc="extract", disable=not progress, leave=False)
        utterances = ((utterance_key(cut), cut.load_features()) for cut in cuts)
        for key, mu, var in embed_utterances(model, utterances, opts, device):
            rows = {"xvector": mu, "xvector_var": var}
            if opts.write_quality:
                rows["quality"] = quality_vector(duration[key], var)
            for table, writer in writers.items():
                writer.write(key, rows[table])
            written += 1
            bar.update(1)
        bar.close()
    return written


def output_tables(opts: ExtractOptions) -> list[str]:
    """The tables an extraction writes: ``xvector``, then ``xvector_var`` and ``quality`` when asked."""
    return ["xvector"] + ["xvector_var"] * opts.write_var + ["quality"] * opts.write_quality


def _table_path(path: str, table: str) -> str:
    """The ``table`` file of an xvector file: ``.../xvector.3.ark`` -> ``.../quality.3.ark``."""
    folder, name = os.path.split(path)
    return os.path.join(folder, name.replace("xvector", table, 1))


def merge_tables(parts: list[tuple[str, str]], ark: str, scp: str) -> None:
    """Concatenates job arks into ``ark`` and writes one scp sorted by key, with
    offsets shifted to the merged ark; job files are removed afterwards."""
    lines: list[tuple[str, str]] = []
    with atomic_output(ark, binary=True) as out:
        for part_ark, part_scp in parts:
            base = out.tell()
            with open(part_ark, "rb") as f:
                while chunk := f.read(1 << 22):
                    out.write(chunk)
            with open(part_scp) as f:
                for line in f:
                    key, location = line.split()
                    offset = int(location.rsplit(":", 1)[1])
                    lines.append((key, f"{ark}:{base + offset}"))
    with atomic_output(scp) as out:
        for key, location in sorted(lines):
            out.write(f"{key} {location}\n")
    for part in parts:
        for path in part:
            os.remove(path)


def job_device(device: str, job: int) -> str:
    """The device of extraction job ``job``: ``cuda`` spreads the jobs over the visible GPUs
    (job j on ``cuda:j % count``); ``cuda:N`` and ``cpu`` are used as given."""
    if device == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{job % torch.cuda.device_count()}"
    return device


def _run_job(args: tuple) -> int:
    model_path, cuts, ark, scp, opts, progress = args
    return extract_job(model_path, cuts, ark, scp, opts, progress)


def _prepared(model_path: str | Path, cuts_path: str | Path, out_dir: str | Path, opts: ExtractOptions) -> list:
    """The cuts in job order (longest first); checks the model first (before any job starts)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    model = load_network(model_path)
    if opts.write_var and model.logvar is None:
        raise VibError(f"{model_path}: --write-var needs a VIB model with the bottleneck on the embedding")
    cuts = load_cuts(cuts_path)
    if not cuts:
        raise VibError(f"{cuts_path}: no cuts")
    cuts.sort(key=lambda c: -min(c.num_frames, opts.chunk_frames or c.num_frames))
    return cuts


def _part(out_dir: str | Path, job: int) -> tuple[str, str]:
    return str(Path(out_dir) / f"xvector.{job}.ark"), str(Path(out_dir) / f"xvector.{job}.scp")


def _job_args(model_path, cuts: list, out_dir, nj: int, job: int, opts: ExtractOptions, progress: bool) -> tuple:
    """Job ``job`` (1-based) of ``nj``: every nj-th cut of the length order, on its device."""
    return (str(model_path), cuts[job - 1::nj], *_part(out_dir, job),
            dataclasses.replace(opts, device=job_device(opts.device, job - 1)), progress)


def extract_share(model_path: str | Path, cuts_path: str | Path, out_dir: str | Path, nj: int, job: int,
                  opts: ExtractOptions = ExtractOptions(), progress: bool = True) -> int:
    """Job ``job`` of ``nj`` (1-based), run on its own (e.g. by ``run.pl JOB=1:nj``): writes
    ``xvector.<job>.{ark,scp}`` (and the variance) for :func:`merge_shares`; returns the count."""
    if not 1 <= job <= nj:
        raise VibError(f"job {job} is outside 1..{nj}")
    return _run_job(_job_args(model_path, _prepared(model_path, cuts_path, out_dir, opts), out_dir, nj, job, opts,
                              progress))


def merge_shares(cuts: Iterable, out_dir: str | Path, nj: int, opts: ExtractOptions = ExtractOptions()) -> None:
    """Merges the ``nj`` job tables of :func:`extract_share` into ``xvector.{ark,scp}`` (and
    ``xvector_var``, ``quality`` as ``opts`` asks), removes them, and writes ``utt2spk`` /
    ``spk2utt`` from the speakers of ``cuts`` (those the jobs extracted)."""
    out = Path(out_dir)
    parts = [_part(out, j) for j in range(1, nj + 1)]
    tables = output_tables(opts)
    for path in (_table_path(p, table) for part in parts for p in part for table in tables):
        if not os.path.isfile(path):
            raise VibError(f"missing extraction job output '{path}': run every job first")
    ark, scp = str(out / "xvector.ark"), str(out / "xvector.scp")
    for table in tables:
        merge_tables([(_table_path(a, table), _table_path(s, table)) for a, s in parts], _table_path(ark, table),
                     _table_path(scp, table))
    cuts = list(cuts)
    speakers = {utterance_key(c): c.supervisions[0].speaker for c in cuts
                if len(c.supervisions) == 1 and c.supervisions[0].speaker}
    if len(speakers) == len(cuts):
        write_kaldi_map(out / "utt2spk", speakers)
        spk2utt: dict[str, list[str]] = {}
        for utt, spk in sorted(speakers.items()):
            spk2utt.setdefault(spk, []).append(utt)
        write_kaldi_map(out / "spk2utt", spk2utt)


def extract(model_path: str | Path, cuts_path: str | Path, out_dir: str | Path, nj: int = 1,
            opts: ExtractOptions = ExtractOptions(), progress: bool = True) -> int:
    """Extracts every cut of ``cuts_path`` into ``out_dir`` (see module doc) with ``nj`` processes
    here; returns the count."""
    cuts = _prepared(model_path, cuts_path, out_dir, opts)
    nj = max(1, min(nj, len(cuts)))
    jobs = [_job_args(model_path, cuts, out_dir, nj, j, opts, progress and j == 1) for j in range(1, nj + 1)]
    if nj == 1:
        written = _run_job(jobs[0])
    else:
        try:  # a job that dies (killed, out of memory) is an error; multiprocessing.Pool would hang
            with ProcessPoolExecutor(nj, mp_context=multiprocessing.get_context("spawn")) as pool:
                written = sum(pool.map(_run_job, jobs))
        except BrokenProcessPool as err:
            raise VibError(f"an extraction job died ({err}); nothing was merged into {out_dir}: run again") from err
    merge_shares(cuts, out_dir, nj, opts)
    return written
