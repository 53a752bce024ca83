"""Back-end model files and score files from elsewhere: non-finite, impossible, truncated
or binary-garbled ones fail at load in one line naming the file; a NaN score is never written."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.conftest import run_bash
from vib.backend.trials import write_scores
from vib.errors import VibError
from vib.io.kaldi_objects import Plda, read_int_table, read_kaldi_matrix, read_kaldi_vector, read_plda, write_plda
from vib.io.tables import write_table


def _plda(**change) -> Plda:
    rng = np.random.default_rng(0)
    parts = {"mean": rng.standard_normal(3), "transform": np.eye(3) + 0.1 * rng.standard_normal((3, 3)),
             "psi": np.array([2.0, 1.0, 0.5])}
    parts.update(change)
    return parts


def _write_raw_plda(path, mean, transform, psi):
    dim = b"\x04" + struct.pack("<i", len(mean))
    path.write_bytes(b"\0B<Plda> DV " + dim + np.asarray(mean, "<f8").tobytes() + b"DM " + dim + dim
                     + np.asarray(transform, "<f8").tobytes() + b"DV " + dim + np.asarray(psi, "<f8").tobytes()
                     + b"</Plda> ")


@pytest.mark.parametrize("change,fragment", [
    ({"psi": np.array([2.0, np.nan, 0.5])}, "psi contains NaN or inf"),
    ({"psi": np.array([2.0, -1.0, 0.5])}, "negative between-class variance psi[1]"),
    ({"transform": np.full((3, 3), np.inf)}, "transform contains NaN or inf"),
    ({"transform": np.ones((3, 3))}, "not positive definite"),
])
def test_impossible_plda_fails_at_load_and_scoring_exits_in_one_line(tmp_path, change, fragment):
    path = tmp_path / "plda"
    _write_raw_plda(path, **_plda(**change))
    with pytest.raises(VibError, match="plda") as err:
        read_plda(str(path))
    assert fragment in str(err.value)
    vec = tmp_path / "v.ark"
    write_table(f"ark:{vec}", {"a": np.ones(3, np.float32), "b": np.zeros(3, np.float32)})
    (tmp_path / "trials").write_text("a b\n")
    proc = run_bash(f"vib-plda-scoring {path} ark:{vec} ark:{vec} {tmp_path}/trials {tmp_path}/scores")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and fragment in proc.stderr
    assert not (tmp_path / "scores").exists()


def test_truncated_plda_after_a_size_marker(tmp_path):
    path = tmp_path / "plda"
    write_plda(str(path), Plda(**_plda()))
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"DM ") + 5])  # 'DM ' + marker + 2 bytes of the row count
    with pytest.raises(VibError, match="truncated file after a size marker") as err:
        read_plda(str(path))
    assert str(path) in str(err.value)


def test_binary_bytes_in_a_text_plda(tmp_path):
    path = tmp_path / "plda.txt"
    write_plda(str(path), Plda(**_plda()), binary=False)
    text = path.read_bytes()
    path.write_bytes(text.replace(b"1", b"\xff\xfe", 1))
    proc = run_bash(f"vib-copy-plda {path} {tmp_path}/out")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and str(path) in proc.stderr


def test_non_finite_transform_and_mean_fail_at_load(tmp_path):
    (tmp_path / "m.txt").write_text(" [\n 1 nan \n 0 1 ]\n")
    with pytest.raises(VibError, match="m.txt.*NaN or inf"):
        read_kaldi_matrix(str(tmp_path / "m.txt"))
    (tmp_path / "v.txt").write_text(" [ 1 inf ]\n")
    with pytest.raises(VibError, match="v.txt.*NaN or inf"):
        read_kaldi_vector(str(tmp_path / "v.txt"))
    write_table(f"ark:{tmp_path}/x.ark", {"a": np.ones(2, np.float32)})
    proc = run_bash(f"vib-transform-vec {tmp_path}/m.txt ark:{tmp_path}/x.ark ark:{tmp_path}/y.ark")
    assert proc.returncode == 1 and "NaN or inf" in proc.stderr and not (tmp_path / "y.ark").exists()


def test_truncated_binary_num_utts(tmp_path):
    path = tmp_path / "num_utts.ark"
    path.write_bytes(b"spk1 \0B\x04" + struct.pack("<i", 3) + b"spk2 \0B\x04\x02\x00")
    with pytest.raises(VibError, match="truncated binary int32 table"):
        read_int_table(f"ark:{path}")


def test_binary_score_file_is_one_line(tmp_path):
    (tmp_path / "trials").write_text("a b target\na c nontarget\n")
    (tmp_path / "scores").write_bytes(b"a b 1.0\na c \xff\xfe\x00\n")
    proc = run_bash(f"vib-compute-metrics {tmp_path}/trials {tmp_path}/scores")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "not a text file" in proc.stderr


def test_nan_score_is_never_written(tmp_path):
    out = tmp_path / "scores"
    with pytest.raises(VibError, match="score of trial a c is nan"):
        write_scores(str(out), ["a", "a"], ["b", "c"], np.array([1.0, np.nan]))
    assert not out.exists()
