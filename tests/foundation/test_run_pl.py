"""utils/run.pl, the local job runner: job ranges, logs, failures, limits, and Kaldi's run.pl interface."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

OURS = REPO / "utils" / "run.pl"
KALDI = REPO.parent / "shared" / "kaldi" / "utils" / "run.pl"


def _run(runner: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*runner, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _without_dates(text: str) -> str:
    return re.sub(r"^# (Started|Ended \(code \d+\)) at .*$", r"# \1 at DATE", text, flags=re.M)


def test_job_range_substitutes_the_job_number_in_log_and_command(tmp_path):
    proc = _run([str(OURS)], "JOB=2:4", "log/x.JOB.log", "echo", "job", "JOB", ">", "out.JOB", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for job in (2, 3, 4):
        assert (tmp_path / f"out.{job}").read_text() == f"job {job}\n"
        log = (tmp_path / "log" / f"x.{job}.log").read_text().splitlines()
        assert log[0] == f"# echo job {job} > out.{job} " and log[1].startswith("# Started at ")
        assert log[-2].startswith("# Accounting: time=") and log[-1].startswith("# Ended (code 0) at ")
    assert not (tmp_path / "log" / "x.1.log").exists()
    single = _run([str(OURS)], "X=7", "one.X.log", "echo", "X", cwd=tmp_path)
    assert single.returncode == 0 and "\n7\n" in (tmp_path / "one.7.log").read_text()


def test_failed_jobs_exit_1_naming_their_logs(tmp_path):
    proc = _run([str(OURS)], "JOB=1:4", "log/f.JOB.log", "test", "JOB", "-ne", "2", "-a", "JOB", "-ne", "4",
                cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "run.pl: 2 / 4 failed, log is in log/f.*.log (failed: log/f.2.log log/f.4.log)"
    assert (tmp_path / "log/f.2.log").read_text().splitlines()[-1].startswith("# Ended (code 1) at ")
    one = _run([str(OURS)], "log/one.log", "false", cwd=tmp_path)
    assert one.returncode == 1 and one.stderr.strip() == "run.pl: job failed, log is in log/one.log"


def test_quoting_pipes_and_a_range_into_one_log(tmp_path):
    """Arguments without whitespace are taken as they are (``|`` makes a pipe, as in Kaldi);
    one with whitespace is quoted; a range must not write one log file."""
    proc = _run([str(OURS)], "log", "echo", "a b  c", "|", "tr", "a", "A", cwd=tmp_path)
    assert proc.returncode == 0 and "\nA b  c\n" in (tmp_path / "log").read_text()
    bad = _run([str(OURS)], "JOB=1:2", "same.log", "true", cwd=tmp_path)
    assert bad.returncode == 1 and "putting the output into just one log file" in bad.stderr


def test_max_jobs_run_limits_concurrency_and_pick_reruns_only_failed(tmp_path):
    marks = tmp_path / "marks"
    proc = _run([str(OURS)], "--max-jobs-run", "1", "--num-threads", "4", "--gpu", "0", "JOB=1:3", "log/s.JOB.log",
                "echo", "s", "JOB", ">>", str(marks), ";", "sleep", "0.2", ";", "echo", "e", "JOB", ">>", str(marks),
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert marks.read_text().split("\n")[:-1] == ["s 1", "e 1", "s 2", "e 2", "s 3", "e 3"]
    flag = tmp_path / "ok2"
    job = ("echo", "ran", ">>", f"{tmp_path}/runs.JOB", ";", "test", "JOB", "-ne", "2", "-o", "-e", str(flag))
    first = _run([str(OURS)], "JOB=1:3", "log/p.JOB.log", *job, cwd=tmp_path)
    assert first.returncode == 1
    flag.touch()
    again = _run([str(OURS)], "--pick", "failed", "JOB=1:3", "log/p.JOB.log", *job, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [(tmp_path / f"runs.{j}").read_text().count("ran") for j in (1, 2, 3)] == [1, 2, 1]


@pytest.mark.skipif(not KALDI.is_file() or shutil.which("perl") is None,
                    reason=f"Kaldi's run.pl ({KALDI}) or perl is not on this machine")
@pytest.mark.parametrize("args", [
    ("JOB=1:3", "log/a.JOB.log", "echo", "job JOB", ";", "test", "JOB", "-ne", "2"),
    ("--num-threads", "2", "--mem", "4G", "JOB=2:3", "log/b.JOB.log", "echo", 'say "hi" JOB', "|", "tr", "a-z", "A-Z"),
    ("log/c.log", "echo", "one", "two", "&&", "false"),
    ("JOB=1:2", "--max-jobs-run", "1", "log/d.JOB.log", "printf", "%s\\n", "JOB"),
])
def test_same_behaviour_as_kaldis_run_pl(tmp_path, args):
    """Our runner and Kaldi's own on the same arguments: exit status, the first word of the
    failure line, and every log line but the dates are the same."""
    results = {}
    for name, runner in (("ours", [str(OURS)]), ("kaldi", ["perl", str(KALDI)])):
        work = tmp_path / name
        work.mkdir()
        proc = _run(runner, *args, cwd=work)
        logs = {str(p.relative_to(work)): _without_dates(p.read_text()) for p in sorted(work.rglob("*.log"))}
        results[name] = (proc.returncode, proc.stderr.split(",")[0].split(" (failed")[0], logs)
    assert results["ours"] == results["kaldi"]


def test_steps_run_through_the_given_runner(tmp_path):
    """compute_fbank.sh starts its parts through --cmd: a runner that records its arguments."""
    spy = tmp_path / "spy.pl"
    spy.write_text(f"#!/usr/bin/env bash\necho \"$*\" >> {tmp_path}/calls\nexec {OURS} \"$@\"\n")
    spy.chmod(0o755)
    from tests.data.audio_fixtures import write_wav
    from vib.data.kaldi_dir import write_kaldi_data_dir
    from vib.data.manifests import import_kaldi_data_dir

    wav = {f"s{i}-u": str(write_wav(tmp_path / "wav" / f"{i}.wav", 1.0, i)) for i in range(3)}
    write_kaldi_data_dir(tmp_path / "data", wav, {u: u.split("-")[0] for u in wav})
    import_kaldi_data_dir(tmp_path / "data")
    proc = subprocess.run(["bash", str(REPO / "steps/compute_fbank.sh"), "--cmd", str(spy), "--nj", "2",
                           str(tmp_path / "data"), str(tmp_path / "fbank")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith(f"JOB=1:2 {tmp_path}/fbank/log/fbank.JOB.log [ -f ")
    assert (tmp_path / "fbank/log/fbank.2.log").read_text().splitlines()[-1].startswith("# Ended (code 0)")
