"""Trial lists and score files.

Trials: ``enroll test``, Kaldi ``enroll test target|nontarget``, or VoxCeleb
label-first ``1|0 enroll test`` (the form is taken from the first line).
Scores: ``enroll test score`` (written with 7 significant digits, as Kaldi's
ivector-plda-scoring prints a float).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from vib.cli import VibError
from vib.io.tables import atomic_output, open_rxfilename

_KALDI_LABELS = {"target": True, "nontarget": False}
_VOX_LABELS = {"1": True, "0": False}


@dataclass
class Trials:
    """enroll, test: keys [M]; labels: bool [M] (True = target) or None for an unlabelled list."""

    enroll: list[str]
    test: list[str]
    labels: np.ndarray | None


def _lines(rxfilename: str) -> list[str]:
    with open_rxfilename(rxfilename) as f:
        return f.read().splitlines()


def read_trials(rxfilename: str, need_labels: bool = False) -> Trials:
    """Reads a trial list; errors name file:line for a malformed line or unknown label."""
    rows = [(n, line.split()) for n, line in enumerate(_lines(rxfilename), 1) if line.strip()]
    if not rows:
        raise VibError(f"{rxfilename}: no trials")
    first = rows[0][1]
    if len(first) == 2:
        form = "plain"
    elif len(first) == 3 and first[2] in _KALDI_LABELS:
        form = "kaldi"
    elif len(first) == 3 and first[0] in _VOX_LABELS:
        form = "voxceleb"
    else:
        raise VibError(f"{rxfilename}:{rows[0][0]}: expected 'enroll test [target|nontarget]' or "
                       f"'1|0 enroll test', got '{' '.join(first)}'")
    width = 2 if form == "plain" else 3
    if need_labels and form == "plain":
        raise VibError(f"{rxfilename}: trials have no target/nontarget labels")
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
    get = row_of.get
    return np.fromiter((get(k, -1) for k in keys), dtype=np.int64, count=len(keys))


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


def write_scores(wxfilename: str, enroll: list[str], test: list[str], scores: np.ndarray) -> None:
    """Writes ``enroll test score`` lines, scores with 7 significant digits."""
    with atomic_output(wxfilename) as f:
        f.write("".join(f"{e} {t} {s:.7g}\n" for e, t, s in zip(enroll, test, scores.tolist())))


def read_scores(rxfilename: str) -> tuple[list[str], list[str], np.ndarray]:
    """Reads ``enroll test score`` lines -> (enroll keys, test keys, float64 scores)."""
    enroll, test, values = [], [], []
    for lineno, line in enumerate(_lines(rxfilename), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise VibError(f"{rxfilename}:{lineno}: expected 'enroll test score', got '{line}'")
        enroll.append(fields[0])
        test.append(fields[1])
        values.append(fields[2])
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
