"""Tables from elsewhere are data: no pickle runs, no scp command runs unasked, a record
that lies about its size is refused, and outputs never replace what is not a regular file."""
from __future__ import annotations

import os
import pickle
import stat
import struct
import subprocess
import threading

import kaldiio
import numpy as np
import pytest

from tests.conftest import run_bash
from tests.planted import Planted
from vib.errors import VibError
from vib.io import tables
from vib.io.tables import TableWriter, atomic_output, read_table_dict, write_table


def _pickle_ark(tmp_path, marker):
    """A one-record ark whose record is a kaldiio PKL record, plus an scp pointing at it."""
    ark, scp = tmp_path / "evil.ark", tmp_path / "evil.scp"
    ark.write_bytes(b"utt1 PKL" + pickle.dumps(Planted(marker)))
    scp.write_text(f"utt1 {ark}:5\n")
    return ark, scp


def test_planted_pickle_record_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    ark, scp = _pickle_ark(tmp_path, marker)
    assert not marker.exists()
    for spec in (f"ark:{ark}", f"scp:{scp}"):
        with pytest.raises(VibError, match="unsupported record type.*PKL") as err:
            read_table_dict(spec)
        assert "utt1" in str(err.value)
        assert not marker.exists()


@pytest.mark.parametrize("tool", ["vib-ivector-mean {spec} {out}", "vib-ivector-normalize-length {spec} ark:{out}",
                                  "vib-compute-plda ark:{spk2utt} {spec} {out}",
                                  "vib-transform-vec {mat} {spec} ark:{out}"])
def test_backend_tools_refuse_a_pickle_in_one_line(tmp_path, tool):
    marker = tmp_path / "marker"
    ark, scp = _pickle_ark(tmp_path, marker)
    (tmp_path / "spk2utt").write_text("s utt1\n")
    mat = tmp_path / "m.txt"
    mat.write_text(" [\n 1 0 \n 0 1 ]\n")
    cmd = tool.format(spec=f"scp:{scp}", out=tmp_path / "out", spk2utt=tmp_path / "spk2utt", mat=mat)
    proc = run_bash(cmd)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "ERROR" in proc.stderr and "PKL" in proc.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("payload,fragment", [
    (b"NPY" + b"\x00" * 20, "NPY"),
    (b"RIFF" + b"\x00" * 40, "RIFF"),
    (b"\0B\x04\x04" + struct.pack("<i", 1), "unsupported binary record type"),     # int32 vector
    (b"\0BZZ \x04\x01\x00\x00\x00", "unsupported binary record type 'ZZ'"),
])
def test_other_foreign_records_are_refused(tmp_path, payload, fragment):
    ark = tmp_path / "x.ark"
    ark.write_bytes(b"utt1 " + payload)
    with pytest.raises(VibError) as err:
        read_table_dict(f"ark:{ark}")
    assert fragment in str(err.value) and str(ark) in str(err.value) and "utt1" in str(err.value)


@pytest.mark.parametrize("record,fragment", [
    (b"\0BFV \x04" + struct.pack("<i", 2 ** 31 - 1) + b"\x00" * 32, "truncated record"),
    (b"\0BFM \x04" + struct.pack("<i", 3) + b"\x04" + struct.pack("<i", 4) + b"\x00" * 8, "truncated record"),
    (b"\0BFM \x04" + struct.pack("<i", -2) + b"\x04" + struct.pack("<i", 4), "negative size -2"),
    (b"\0BFV \x04\x08\x00", "truncated record"),
    (b"\0BCM2 " + struct.pack("<ffii", 0.0, 1.0, 2 ** 31 - 1, 10) + b"\x00" * 16, "truncated record"),
    (b" [ 1 1 1", "no ']'"),
    (b" [ 1 x 1 ]\n", "bad number"),
    (b" [\n 1 2 \n 3 ]\n", "rows of different lengths"),
])
def test_truncated_and_absurd_records_are_refused(tmp_path, record, fragment):
    ark = tmp_path / "x.ark"
    ark.write_bytes(b"utt1 " + record)
    with pytest.raises(VibError) as err:
        read_table_dict(f"ark:{ark}")
    assert fragment in str(err.value) and str(ark) in str(err.value)


def test_lone_truncated_text_record_is_not_written_out(tmp_path):
    """Before: ``[ 1 1 1`` (no ']') was copied to the output as ``[ 1 1 1 ]`` with exit 0."""
    src = tmp_path / "in.txt"
    src.write_text("utt1 [ 1 1 1\n")
    proc = run_bash(f"vib-ivector-normalize-length ark:{src} ark,t:{tmp_path}/out.txt")
    assert proc.returncode == 1 and "no ']'" in proc.stderr and not (tmp_path / "out.txt").exists()


def test_scp_offset_past_the_end_and_missing_file_name_the_line(tmp_path):
    ark, scp = tmp_path / "x.ark", tmp_path / "x.scp"
    write_table(f"ark:{ark}", {"a": np.ones(3, np.float32)})
    scp.write_text(f"a {ark}:2\nb {ark}:99999\n")
    with pytest.raises(VibError, match=r"x.scp:2: 'b': offset 99999 is past the end"):
        read_table_dict(f"scp:{scp}")
    scp.write_text(f"a {tmp_path}/none.ark:5\n")
    with pytest.raises(VibError, match=r"x.scp:1: 'a': no such file"):
        read_table_dict(f"scp:{scp}")


def test_scp_command_entry_runs_only_when_allowed(tmp_path):
    marker = tmp_path / "marker"
    good = tmp_path / "v.txt"
    good.write_text(" [ 1 2 3 ]\n")
    scp = tmp_path / "x.scp"
    scp.write_text(f"utt1 touch {marker}; cat {good} |\n")
    with pytest.raises(VibError, match="commands in a vector/matrix scp are not run"):
        read_table_dict(f"scp:{scp}")
    assert not marker.exists()
    proc = run_bash(f"vib-ivector-normalize-length --scaleup=false scp:{scp} ark,t:-")
    assert proc.returncode == 1 and "--allow-scp-pipes" in proc.stderr and not marker.exists()
    proc = run_bash(f"vib-ivector-normalize-length --allow-scp-pipes --scaleup=false scp:{scp} ark,t:-", check=True)
    assert marker.exists() and proc.stdout.startswith("utt1  [ 0.267")
    tables.allow_scp_pipes(False)


def test_kaldi_types_still_read_compressed_and_ranges(tmp_path):
    rng = np.random.default_rng(0)
    mat = rng.standard_normal((7, 5)).astype(np.float32)
    ark = tmp_path / "c.ark"
    for method in (1, 2, 3):  # kaldiio's CM, CM2, CM3
        kaldiio.save_ark(str(ark), {"u": mat}, compression_method=method)
        ours = read_table_dict(f"ark:{ark}")["u"]
        np.testing.assert_array_equal(ours, kaldiio.load_ark(str(ark)).__next__()[1])
    write_table(f"ark,scp:{tmp_path}/m.ark,{tmp_path}/m.scp", {"u": mat})
    line = (tmp_path / "m.scp").read_text().strip()
    (tmp_path / "r.scp").write_text(f"{line}[1:3,0:1]\n")
    np.testing.assert_array_equal(read_table_dict(f"scp:{tmp_path}/r.scp")["u"], mat[1:4, 0:2])
    (tmp_path / "r.scp").write_text(f"{line}[1:9]\n")
    with pytest.raises(VibError, match="bad range"):
        read_table_dict(f"scp:{tmp_path}/r.scp")


# ---------------------------------------------------------------- outputs
def test_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    with atomic_output(str(fifo), binary=True) as f:
        f.write(b"hello")
    reader.join(10)
    assert got == [b"hello"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.fifo"]


def _no_rename(monkeypatch):
    """Any rename fails before it happens: a regression cannot replace a machine's /dev/null."""
    def refuse(src, dst):
        raise AssertionError(f"renamed {src} over {dst}")

    monkeypatch.setattr(os, "replace", refuse)
    monkeypatch.setattr(os, "rename", refuse)


def test_character_device_is_written_in_place(tmp_path, monkeypatch):
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with open(null, "wb") as f:
            f.write(b"x")
    except (PermissionError, OSError) as err:
        pytest.skip(f"cannot create a character device here ({err})")
    _no_rename(monkeypatch)
    write_table(f"ark:{null}", {"a": np.ones(3, np.float32)})
    assert stat.S_ISCHR(os.stat(null).st_mode) and [p.name for p in tmp_path.iterdir()] == ["null"]


def test_dev_null_and_dev_stdout_outputs(tmp_path, monkeypatch):
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode), "this machine's /dev/null is not a device"
    with monkeypatch.context() as patch:
        _no_rename(patch)
        write_table("ark:/dev/null", {"a": np.ones(3, np.float32)})
        with atomic_output("/dev/null") as f:
            f.write("x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    vec = tmp_path / "v.ark"
    write_table(f"ark:{vec}", {"a": np.ones(3, np.float32)})
    proc = run_bash(f"vib-ivector-mean ark:{vec} /dev/stdout | cat", check=True)
    assert proc.stdout.strip() == "[ 1 1 1 ]"
    # /dev/stdout redirected to a regular file: written through, not renamed over
    run_bash(f"vib-ivector-mean ark:{vec} /dev/stdout > {tmp_path}/mean.txt", check=True)
    assert (tmp_path / "mean.txt").read_text().strip() == "[ 1 1 1 ]"


def test_symlinked_output_keeps_the_link(tmp_path):
    target, link = tmp_path / "real.txt", tmp_path / "link.txt"
    target.write_text("old")
    link.symlink_to(target)
    with atomic_output(str(link)) as f:
        f.write("new")
    assert link.is_symlink() and target.read_text() == "new"


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "out.txt"
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, live = tmp_path / f"out.txt.tmp.{dead.pid}", tmp_path / f"out.txt.tmp.{os.getppid()}"
    stale.write_text("half")
    live.write_text("another writer's")
    with atomic_output(str(out)) as f:
        f.write("done")
    assert out.read_text() == "done" and not stale.exists() and live.exists()


def test_outputs_are_fsynced_before_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    with atomic_output(str(tmp_path / "a.txt")) as f:
        f.write("x")
    assert len(synced) == 1


def test_kill_between_the_two_renames_never_leaves_an_old_scp(tmp_path, monkeypatch):
    """The ark is renamed first and the old scp removed before it: a kill in between
    leaves no scp (an error to read), never an old scp pointing into a new ark."""
    ark, scp = tmp_path / "x.ark", tmp_path / "x.scp"
    spec = f"ark,scp:{ark},{scp}"
    write_table(spec, {f"u{i}": np.full(3, i, np.float32) for i in range(3)})
    renamed = []
    real = os.replace

    def replace_then_die(src, dst):
        real(src, dst)
        renamed.append(os.path.basename(dst))
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        with TableWriter(spec) as w:
            w.write("longer_key_than_before", np.arange(5, dtype=np.float32))
    monkeypatch.setattr(os, "replace", real)
    assert renamed == ["x.ark"] and not scp.exists()
    with pytest.raises(VibError, match="no such file"):
        read_table_dict(f"scp:{scp}")
