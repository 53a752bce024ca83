"""Kaldi table specifiers: every form parses, malformed ones fail clearly, and
records round-trip through kaldiio in Kaldi's binary and text layouts."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vib.errors import VibError
from vib.io.tables import (TableSpecError, TableWriter, atomic_output, parse_rspecifier,
                           parse_wspecifier, read_table, read_table_dict, read_text_table,
                           write_table)


@pytest.mark.parametrize("spec,kind,path,opts", [
    ("scp:data/feats.scp", "scp", "data/feats.scp", set()),
    ("ark:x.ark", "ark", "x.ark", set()),
    ("ark,t:x.txt", "ark", "x.txt", {"t"}),
    ("ark:-", "ark", "-", set()),
    ("ark,s,cs:gunzip -c x.gz |", "ark", "gunzip -c x.gz |", {"s", "cs"}),
    ("scp,p:a b.scp", "scp", "a b.scp", {"p"}),
])
def test_rspecifier_forms(spec, kind, path, opts):
    parsed = parse_rspecifier(spec)
    assert (parsed.kind, parsed.path, set(parsed.options)) == (kind, path, opts)


@pytest.mark.parametrize("spec,ark,scp,text", [
    ("ark:x.ark", "x.ark", None, False),
    ("ark,t:-", "-", None, True),
    ("ark,scp:x.ark,x.scp", "x.ark", "x.scp", False),
    ("scp,ark:x.scp,x.ark", "x.ark", "x.scp", False),
    ("ark,t,scp:x.txt,x.scp", "x.txt", "x.scp", True),
])
def test_wspecifier_forms(spec, ark, scp, text):
    parsed = parse_wspecifier(spec)
    assert (parsed.ark, parsed.scp, parsed.text) == (ark, scp, text)


@pytest.mark.parametrize("spec,fragment", [
    ("x.ark", "expected TYPE:FILE"),
    ("ark:", "no filename"),
    ("foo:x.ark", "exactly one of ark or scp"),
    ("ark,scp:x.ark", "exactly one of ark or scp"),
    ("ark,zz:x.ark", "unknown option(s) zz"),
])
def test_malformed_rspecifiers(spec, fragment):
    with pytest.raises(TableSpecError, match="malformed rspecifier") as err:
        parse_rspecifier(spec)
    assert fragment in str(err.value) and spec in str(err.value)


@pytest.mark.parametrize("spec,fragment", [
    ("scp:x.scp", "scp alone"),
    ("ark,scp:x.ark", "two filenames"),
    ("ark,scp:-,x.scp", "stdout"),
    ("ark,q:x", "unknown option(s) q"),
    ("x.ark", "expected TYPE:FILE"),
])
def test_malformed_wspecifiers(spec, fragment):
    with pytest.raises(TableSpecError, match="malformed wspecifier") as err:
        parse_wspecifier(spec)
    assert fragment in str(err.value)


def _records(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {f"utt{i}": rng.standard_normal(5).astype(np.float32) for i in range(4)}


def test_binary_ark_scp_roundtrip_and_layout(tmp_path):
    recs = _records(np.random.default_rng(0))
    ark, scp = tmp_path / "x.ark", tmp_path / "x.scp"
    write_table(f"ark,scp:{ark},{scp}", recs)
    raw = ark.read_bytes()
    assert raw.startswith(b"utt0 \0BFV \x04") and int.from_bytes(raw[11:15], "little") == 5
    for spec in (f"ark:{ark}", f"scp:{scp}"):
        back = read_table_dict(spec)
        assert list(back) == list(recs)
        for key in recs:
            np.testing.assert_array_equal(back[key], recs[key])
    # scp offsets point at the "\0B" binary marker
    for line in scp.read_text().splitlines():
        key, loc = line.split()
        offset = int(loc.rsplit(":", 1)[1])
        assert raw[offset - len(key) - 1:offset] == f"{key} ".encode() and raw[offset:offset + 2] == b"\0B"
    assert not list(tmp_path.glob("*.tmp.*"))


def test_text_ark_roundtrip(tmp_path):
    recs = {"a": np.array([1.5, -2.0, 3.25], dtype=np.float32)}
    write_table(f"ark,t:{tmp_path}/t.ark", recs)
    text = (tmp_path / "t.ark").read_text()
    assert text.startswith("a  [") and text.rstrip().endswith("]")
    np.testing.assert_allclose(read_table_dict(f"ark,t:{tmp_path}/t.ark")["a"], recs["a"])


def test_pipe_and_stdin(tmp_path):
    recs = _records(np.random.default_rng(1))
    write_table(f"ark:{tmp_path}/p.ark", recs)
    back = dict(read_table(f"ark:cat {tmp_path}/p.ark |"))
    np.testing.assert_array_equal(back["utt3"], recs["utt3"])
    code = ("from vib.io.tables import read_table_dict; d = read_table_dict('ark:-'); "
            "print(sorted(d), d['utt1'].shape)")
    out = subprocess.run([sys.executable, "-c", code], stdin=open(tmp_path / "p.ark", "rb"),
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['utt0', 'utt1', 'utt2', 'utt3'] (5,)"


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with TableWriter(f"ark,scp:{tmp_path}/x.ark,{tmp_path}/x.scp") as w:
            w.write("a", np.zeros(3, dtype=np.float32))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_bad_keys_and_missing_files(tmp_path):
    with pytest.raises(VibError, match="written twice"):
        with TableWriter(f"ark:{tmp_path}/x.ark") as w:
            w.write("a", np.zeros(2, dtype=np.float32))
            w.write("a", np.zeros(2, dtype=np.float32))
    with pytest.raises(VibError, match="whitespace"):
        write_table(f"ark:{tmp_path}/y.ark", {"a b": np.zeros(2, dtype=np.float32)})
    with pytest.raises(VibError, match="no such file"):
        list(read_table(f"scp:{tmp_path}/missing.scp"))


def test_duplicate_key_in_table_is_an_error(tmp_path):
    write_table(f"ark:{tmp_path}/a.ark", {"k": np.ones(2, dtype=np.float32)})
    (tmp_path / "dup.ark").write_bytes((tmp_path / "a.ark").read_bytes() * 2)
    with pytest.raises(VibError, match="key 'k' appears twice"):
        read_table_dict(f"ark:{tmp_path}/dup.ark")


def test_corrupt_ark_names_the_table(tmp_path):
    (tmp_path / "bad.ark").write_bytes(b"k \0BFV \x04\x05\x00\x00\x00\x00\x00")
    with pytest.raises(VibError, match="bad.ark"):
        read_table_dict(f"ark:{tmp_path}/bad.ark")


def test_text_table_reports_line(tmp_path):
    (tmp_path / "utt2spk").write_text("u1 s1\n\nu2\n")
    with pytest.raises(VibError, match=r"utt2spk:3: expected at least 2 fields"):
        list(read_text_table(str(tmp_path / "utt2spk")))


def test_atomic_output_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(str(target)) as f:
        f.write("hello\n")
        assert not target.exists()
    assert target.read_text() == "hello\n"
