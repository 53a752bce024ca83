"""Trial lists and score files.

Trials: ``enroll test``, Kaldi ``enroll test target|nontarget``, or VoxCeleb
label-first ``1|0 enroll test`` (the form is taken from the first line).
Scores: ``enroll test score`` (written with 7 significant digits, as Kaldi's
ivector-plda-scoring prints a float).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from itertools import repeat
from typing import Sequence, Union

import numpy as np

from vib.errors import VibError
from vib.io.kaldi_objects import read_int_table
from vib.io.tables import atomic_output, open_rxfilename
from vib.io.text_columns import float_cells, join_cells, key_cells

_KALDI_LABELS = {"target": True, "nontarget": False}
_VOX_LABELS = {"1": True, "0": False}


@dataclass
class Trials:
    """enroll, test: keys [M]; labels: bool [M] (True = target) or None for an unlabelled list."""

    enroll: list[str]
    test: list[str]
    labels: np.ndarray | None


def _read_text(rxfilename: str) -> str:
    with open_rxfilename(rxfilename, binary=True) as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise VibError(f"{rxfilename}: not a text file (byte {err.start} is not UTF-8 text)") from None


_ASCII_SPACE = np.zeros(256, dtype=bool)  # byte -> is it one of str.split()'s ASCII separators
_ASCII_SPACE[list(b" \t\n\r\x0b\x0c")] = True


def _columns(text: str) -> tuple[int, list[list[str]]] | None:
    """(fields per line, columns) when every non-blank line of ``text`` has the same number of
    ASCII-whitespace-separated fields, else None. Counts fields per line on the raw bytes with
    numpy and splits the whole text once, so no per-line Python object is made."""
    if not text.strip():
        return None
    raw = np.frombuffer(text.encode(), dtype=np.uint8)
    space = _ASCII_SPACE[raw]
    starts = np.flatnonzero(~space & np.r_[True, space[:-1]])  # first byte of each field
    newlines = np.flatnonzero(raw == 10)
    per_line = np.bincount(np.searchsorted(newlines, starts), minlength=newlines.size + 1)
    widths = np.unique(per_line[per_line > 0])
    tokens = text.split()
    if widths.size != 1 or len(tokens) != starts.size:  # ragged, or non-ASCII whitespace
        return None
    width = int(widths[0])
    return width, [tokens[k::width] for k in range(width)]


def read_trials(rxfilename: str, need_labels: bool = False) -> Trials:
    """Reads a trial list; errors name file:line for a malformed line or unknown label."""
    text = _read_text(rxfilename)
    trials = _read_trials_fast(text)
    if trials is None:  # something is off: parse line by line to say where
        trials = _read_trials_by_line(rxfilename, text.splitlines())
    if need_labels and trials.labels is None:
        raise VibError(f"{rxfilename}: trials have no target/nontarget labels")
    return trials


def write_trials(wxfilename: str, enroll: Sequence[str], test: Sequence[str],
                 labels: Sequence[bool] | np.ndarray | None = None) -> None:
    """Writes a Kaldi trial list: ``enroll test target|nontarget`` lines, or ``enroll test``
    without ``labels`` (atomically)."""
    ends = ["\n"] * len(enroll) if labels is None else [" target\n" if y else " nontarget\n" for y in labels]
    with atomic_output(wxfilename) as f:
        f.write("".join(f"{e} {t}{end}" for e, t, end in zip(enroll, test, ends)))


def _form(first: list[str]) -> str | None:
    if len(first) == 2:
        return "plain"
    if len(first) == 3 and first[2] in _KALDI_LABELS:
        return "kaldi"
    if len(first) == 3 and first[0] in _VOX_LABELS:
        return "voxceleb"
    return None


def _read_trials_fast(text: str) -> Trials | None:
    """Column-wise parse; None unless every line has the same fields and every label is valid."""
    parsed = _columns(text)
    if parsed is None:
        return None
    width, columns = parsed
    form = _form([c[0] for c in columns])
    if form is None:
        return None
    if form == "plain":
        return Trials(columns[0], columns[1], None)
    if form == "kaldi":
        enroll, test, labels, table = columns[0], columns[1], columns[2], _KALDI_LABELS
    else:
        labels, enroll, test, table = columns[0], columns[1], columns[2], _VOX_LABELS
    if not set(labels) <= set(table):
        return None
    positive = next(k for k, v in table.items() if v)
    return Trials(enroll, test, np.array(labels) == positive)


def _read_trials_by_line(rxfilename: str, lines: list[str]) -> Trials:
    rows = [(n, line.split()) for n, line in enumerate(lines, 1) if line.strip()]
    if not rows:
        raise VibError(f"{rxfilename}: no trials")
    first = rows[0][1]
    form = _form(first)
    if form is None:
        raise VibError(f"{rxfilename}:{rows[0][0]}: expected 'enroll test [target|nontarget]' or "
                       f"'1|0 enroll test', got '{' '.join(first)}'")
    width = 2 if form == "plain" else 3
    enroll, test, labels = [], [], []
    for lineno, fields in rows:
        if len(fields) != width:
            raise VibError(f"{rxfilename}:{lineno}: expected {width} fields like line {rows[0][0]}, "
                           f"got '{' '.join(fields)}'")
        if form == "kaldi":
            e, t, lab = fields
            table = _KALDI_LABELS
        elif form == "voxceleb":
            lab, e, t = fields
            table = _VOX_LABELS
        else:
            (e, t), lab, table = fields, None, None
        if table is not None:
            if lab not in table:
                raise VibError(f"{rxfilename}:{lineno}: label '{lab}' is not one of {', '.join(table)}")
            labels.append(table[lab])
        enroll.append(e)
        test.append(t)
    return Trials(enroll, test, np.array(labels, dtype=bool) if form != "plain" else None)


def index_keys(keys: list[str], row_of: dict[str, int]) -> np.ndarray:
    """Row index of each key, -1 where ``row_of`` has none."""
    return np.fromiter(map(row_of.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))


def index_trials(trials: Trials, enroll_rows: dict[str, int], test_rows: dict[str, int],
                 trials_name: str, skip_missing: bool, prog: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maps trials to (enroll index, test index, kept mask). A key without a vector is an error
    naming it, unless ``skip_missing``: then those trials are dropped and counted on stderr."""
    ei = index_keys(trials.enroll, enroll_rows)
    ti = index_keys(trials.test, test_rows)
    keep = (ei >= 0) & (ti >= 0)
    if not keep.all():
        bad = int(np.flatnonzero(~keep)[0])
        side, key = ("enrollment", trials.enroll[bad]) if ei[bad] < 0 else ("test", trials.test[bad])
        if not skip_missing:
            raise VibError(f"{trials_name}: trial {bad + 1} ({trials.enroll[bad]} {trials.test[bad]}): "
                           f"no {side} vector for '{key}' (use --skip-missing to drop such trials)")
        print(f"{prog}: WARNING: skipped {int((~keep).sum())} of {keep.size} trials whose key has no "
              f"vector (first: {side} '{key}')", file=sys.stderr)
    return ei[keep], ti[keep], keep


KeyColumn = Union[Sequence[str], tuple[Sequence[str], np.ndarray]]


def _key_cells(keys: KeyColumn) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    return (key_cells(keys[0]), np.asarray(keys[1])) if isinstance(keys, tuple) else key_cells(keys)


def _key_of(keys: KeyColumn, k: int) -> str:
    return keys[0][int(keys[1][k])] if isinstance(keys, tuple) else keys[k]


def write_scores(wxfilename: str, enroll: KeyColumn, test: KeyColumn, scores: np.ndarray) -> None:
    """Writes ``enroll test score`` lines, scores with 7 significant digits (as ``%.7g``); a NaN
    or infinite score is an error naming its trial (and nothing is written). ``enroll`` and
    ``test`` each give one key per score, or (key table, row of each score) as a scorer has them."""
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        k = int(bad[0])
        raise VibError(f"{wxfilename}: the score of trial {_key_of(enroll, k)} {_key_of(test, k)} is {scores[k]} "
                       f"({bad.size} non-finite scores); nothing written")
    text = join_cells([_key_cells(enroll), _key_cells(test), float_cells(scores)])
    with atomic_output(wxfilename, binary=True) as f:
        f.write(text)


def read_scores(rxfilename: str) -> tuple[list[str], list[str], np.ndarray]:
    """Reads ``enroll test score`` lines -> (enroll keys, test keys, float64 scores)."""
    text = _read_text(rxfilename)
    parsed = _columns(text) if text.strip() else (3, [[], [], []])
    if parsed is not None and parsed[0] == 3:
        enroll, test, values = parsed[1]
    else:  # line by line, to name the bad line
        rows = [(n, line, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        for lineno, line, fields in rows:
            if len(fields) != 3:
                raise VibError(f"{rxfilename}:{lineno}: expected 'enroll test score', got '{line}'")
        enroll, test, values = (list(col) for col in zip(*(fields for _, _, fields in rows)))
    try:
        scores = np.array(values, dtype=np.float64)
    except ValueError:
        bad = next(i for i, v in enumerate(values) if not _is_float(v))
        raise VibError(f"{rxfilename}: score '{values[bad]}' of trial {enroll[bad]} {test[bad]} "
                       "is not a number") from None
    if not np.all(np.isfinite(scores)):
        bad = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise VibError(f"{rxfilename}: score of trial {enroll[bad]} {test[bad]} is NaN or inf")
    return enroll, test, scores


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def align_scores(trials: Trials, enroll: list[str], test: list[str], scores: np.ndarray,
                 scores_name: str) -> np.ndarray:
    """Scores in trial order [M]; a trial with no score, or a score for no trial, is an error."""
    if enroll == trials.enroll and test == trials.test:
        return scores
    table = {(e, t): s for e, t, s in zip(enroll, test, scores.tolist())}
    if len(table) != len(enroll):
        raise VibError(f"{scores_name}: a trial is scored more than once")
    out = np.empty(len(trials.enroll))
    for k, pair in enumerate(zip(trials.enroll, trials.test)):
        if pair not in table:
            raise VibError(f"{scores_name}: no score for trial '{pair[0]} {pair[1]}'")
        out[k] = table[pair]
    if len(table) != len(trials.enroll):
        raise VibError(f"{scores_name}: has {len(table)} scored trials, the trial list {len(trials.enroll)}")
    return out


def add_num_utts_option(parser) -> None:
    """``--num-utts``: how many vectors each enrollment key averages (Kaldi's ivector-plda-scoring)."""
    parser.add_argument("--num-utts", default="", help="int table of vectors averaged per enrollment "
                        "key, e.g. ark:num_utts.ark (default: 1 each)")


def enroll_counts(num_utts: str, keys: list[str], skip_missing: bool, prog: str) -> tuple[np.ndarray, np.ndarray]:
    """(counts [E], kept mask [E]) from a --num-utts table; a missing key is an error unless skipped."""
    if not num_utts:
        return np.ones(len(keys), dtype=np.int64), np.ones(len(keys), dtype=bool)
    table = read_int_table(num_utts)
    counts = np.array([table.get(k, 0) for k in keys], dtype=np.int64)
    keep = counts > 0
    if not keep.all():
        first = keys[int(np.flatnonzero(~keep)[0])]
        if not skip_missing:
            raise VibError(f"{num_utts}: no positive count for enrollment key '{first}'")
        print(f"{prog}: WARNING: {int((~keep).sum())} enrollment keys have no count in {num_utts}; "
              f"their trials are skipped (first: '{first}')", file=sys.stderr)
    return np.maximum(counts, 1), keep
