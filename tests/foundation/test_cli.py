"""The shared command-line conventions of vib.cli."""
from __future__ import annotations

import argparse

import pytest

from vib.cli import add_bool, kaldi_bool, make_parser, run
from vib.errors import VibError


def test_kaldi_bool():
    assert kaldi_bool("true") is True and kaldi_bool("false") is False
    with pytest.raises(argparse.ArgumentTypeError):
        kaldi_bool("yes")


def test_bool_option_forms():
    parser = make_parser("demo", "demo tool")
    add_bool(parser, "--binary", True, "write binary")
    assert parser.parse_args([]).binary is True
    assert parser.parse_args(["--binary=false"]).binary is False
    assert parser.parse_args(["--binary"]).binary is True
    assert parser.parse_args(["--binary=true"]).binary is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--binary=maybe"])


def test_bare_bool_never_takes_the_next_word():
    """Kaldi's rule: ``--flag`` alone is true; ``--flag false`` leaves 'false' positional."""
    parser = make_parser("demo", "demo tool")
    add_bool(parser, "--json", False, "print JSON")
    parser.add_argument("trials")
    parser.add_argument("scores")
    opts = parser.parse_args(["--json", "trials", "scores"])
    assert (opts.json, opts.trials, opts.scores) == (True, "trials", "scores")
    opts = parser.parse_args(["--json", "false", "scores"])
    assert (opts.json, opts.trials) == (True, "false")
    opts = parser.parse_args(["--", "--json", "scores"])
    assert (opts.json, opts.trials) == (False, "--json")


def test_compute_metrics_bare_json_flag(tmp_path, capsys):
    """``vib-compute-metrics --json trials scores`` (failed before: --json ate 'trials')."""
    from vib.bin import compute_metrics

    trials, scores = tmp_path / "trials", tmp_path / "scores"
    trials.write_text("a b target\na c nontarget\nb c nontarget\nc c target\n")
    scores.write_text("a b 2.0\na c -1.0\nb c 0.5\nc c 3.0\n")
    compute_metrics.main(["--json", str(trials), str(scores)])
    import json

    assert json.loads(capsys.readouterr().out)["eer"] == 0.0


def test_run_turns_user_errors_into_one_line(capsys):
    def main(argv):
        raise VibError("data/utt2spk:3: bad line")

    with pytest.raises(SystemExit) as exit_info:
        run(main, [])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ERROR: data/utt2spk:3: bad line" in err


def test_run_returns_status(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(lambda argv: 0, [])
    assert exit_info.value.code == 0


def _run_script(tmp_path, body: str, timeout: float = 60):
    import subprocess
    import sys

    from tests.conftest import REPO

    script = tmp_path / "tool.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\n{body}")
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_removes_the_temporary_output_and_exits_143(tmp_path):
    import signal
    import time

    out = tmp_path / "out.txt"
    proc = _run_script(tmp_path, f"""
import time
from vib.cli import run
from vib.io.tables import atomic_output

def main(argv):
    with atomic_output({str(out)!r}) as f:
        f.write("half")
        print("writing", flush=True)
        time.sleep(60)

run(main)
""")
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert list(tmp_path.iterdir()) == [tmp_path / "tool.py"]


def test_forked_workers_of_a_tool_still_die_at_once_on_sigterm(tmp_path):
    """Pool.__exit__ terminates its workers with SIGTERM: a forked worker must not unwind, nor
    depend on a Python handler running at all (one waiting on its queue's lock never ran it, and
    Pool.terminate hung the mini-corpus generator): in a forked child SIGTERM is the default."""
    proc = _run_script(tmp_path, """
import multiprocessing, os, signal, sys, time
from vib.cli import run

def disposition():
    sys.exit(0 if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else 1)

def main(argv):
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    child.start()
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGTERM)
    child.join(30)
    probe = multiprocessing.get_context("fork").Process(target=disposition)
    probe.start()
    probe.join(30)
    print(child.exitcode, probe.exitcode, signal.getsignal(signal.SIGTERM).__name__)

run(main)
""")
    out, err = proc.communicate(timeout=60)
    # killed by the signal (not exit 143); the child's SIGTERM is SIG_DFL; the tool's own still unwinds
    assert proc.returncode == 0 and out.split() == ["-15", "0", "_terminated"], (out, err)


def test_vib_fingerprint_names_the_numeric_software():
    import numpy
    import torch

    from tests.conftest import run_bash

    proc = run_bash("OMP_NUM_THREADS=3 vib-fingerprint", check=True)
    line = proc.stdout.strip()
    assert line.count("\n") == 0 and f"torch {torch.__version__} (CPU kernels " in line
    assert f"numpy {numpy.__version__} (BLAS " in line and "OMP_NUM_THREADS=3" in line and " threads)" in line
