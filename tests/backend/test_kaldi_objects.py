"""Kaldi object formats: PLDA, matrices, vectors and int tables, binary and text."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from vib.errors import VibError
from vib.io.kaldi_objects import (Plda, read_int_table, read_kaldi_matrix, read_kaldi_vector, read_plda,
                                  read_token_table, write_int_table, write_kaldi_matrix, write_kaldi_vector,
                                  write_plda)


def random_plda(dim=4, seed=0) -> Plda:
    rng = np.random.default_rng(seed)
    return Plda(rng.standard_normal(dim), rng.standard_normal((dim, dim)), np.sort(rng.random(dim))[::-1])


def test_plda_binary_layout_and_roundtrip(tmp_path):
    plda = random_plda()
    path = tmp_path / "plda"
    write_plda(str(path), plda, binary=True)
    data = path.read_bytes()
    dim = b"\x04" + struct.pack("<i", 4)
    expected = (b"\0B<Plda> " + b"DV " + dim + plda.mean.astype("<f8").tobytes()
                + b"DM " + dim + dim + plda.transform.astype("<f8").tobytes()
                + b"DV " + dim + plda.psi.astype("<f8").tobytes() + b"</Plda> ")
    assert data == expected
    back = read_plda(str(path))
    for name in ("mean", "transform", "psi"):
        np.testing.assert_array_equal(getattr(back, name), getattr(plda, name))


def test_plda_text_layout_and_roundtrip(tmp_path):
    plda = Plda([1.5, -2.0], [[1.0, 0.25], [0.125, 3.0]], [2.0, 0.5])
    path = tmp_path / "plda.txt"
    write_plda(str(path), plda, binary=False)
    assert path.read_text() == ("<Plda>  [ 1.5 -2 ]\n [\n  1 0.25 \n  0.125 3 ]\n [ 2 0.5 ]\n</Plda> ")
    back = read_plda(str(path))
    np.testing.assert_array_equal(back.transform, plda.transform)
    random = random_plda(5, 1)
    write_plda(str(path), random, binary=False)
    np.testing.assert_allclose(read_plda(str(path)).transform, random.transform, rtol=1e-6)


def test_reads_float_objects_as_kaldi_does(tmp_path):
    """Kaldi reads FV/FM into a double PLDA; so do we."""
    path = tmp_path / "plda_f"
    mean = np.array([1, 2], "<f4")
    mat = np.array([[1, 0], [0, 1]], "<f4")
    dim = b"\x04" + struct.pack("<i", 2)
    path.write_bytes(b"\0B<Plda> FV " + dim + mean.tobytes() + b"FM " + dim + dim + mat.tobytes()
                     + b"FV " + dim + mean.tobytes() + b"</Plda> ")
    plda = read_plda(str(path))
    assert plda.transform.dtype == np.float64 and plda.psi.tolist() == [1.0, 2.0]


def test_matrix_and_vector_files(tmp_path):
    mat = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    for binary in (True, False):
        write_kaldi_matrix(str(tmp_path / "m"), mat, binary=binary)
        np.testing.assert_allclose(read_kaldi_matrix(str(tmp_path / "m")), mat, rtol=1e-6)
        write_kaldi_vector(str(tmp_path / "v"), mat[1], binary=binary, double=True)
        np.testing.assert_allclose(read_kaldi_vector(str(tmp_path / "v")), mat[1], rtol=1e-6)
    write_kaldi_matrix(str(tmp_path / "m"), mat, binary=True)
    assert (tmp_path / "m").read_bytes()[:5] == b"\0BFM "
    write_kaldi_vector(str(tmp_path / "v"), mat[0], binary=True, double=True)
    assert (tmp_path / "v").read_bytes()[:5] == b"\0BDV "


def test_bad_objects_name_the_file(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\0B<Lda> ")
    with pytest.raises(VibError, match="bad.*expected token '<Plda>'"):
        read_plda(str(path))
    path.write_bytes(b"\0B<Plda> DV \x04" + struct.pack("<i", 9) + b"\0" * 8)
    with pytest.raises(VibError, match="truncated"):
        read_plda(str(path))
    with pytest.raises(VibError, match="no such file"):
        read_plda(str(tmp_path / "absent"))


def test_int_and_token_tables(tmp_path):
    table = {"spkA": 3, "spkB": 1}
    for spec in (f"ark,t:{tmp_path}/n.txt", f"ark:{tmp_path}/n.ark"):
        write_int_table(spec, table)
        assert read_int_table(spec) == table
    assert (tmp_path / "n.txt").read_text() == "spkA 3\nspkB 1\n"
    (tmp_path / "spk2utt").write_text("a u1 u2\nb u3\n")
    assert read_token_table(str(tmp_path / "spk2utt")) == {"a": ["u1", "u2"], "b": ["u3"]}
    assert read_token_table(f"ark:{tmp_path}/spk2utt")["b"] == ["u3"]
    (tmp_path / "bad").write_text("a 1\nb x\n")
    with pytest.raises(VibError, match="bad:2"):
        read_int_table(str(tmp_path / "bad"))
