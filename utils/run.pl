#!/usr/bin/env python3
"""run.pl: runs a command, or an array of numbered jobs, on this machine, with Kaldi's run.pl interface.

    run.pl [options] [JOB=1:N] <log-file> <command> [<args> ...]
    e.g. run.pl JOB=1:4 exp/log/fbank.JOB.log vib-compute-fbank cuts.JOB.jsonl.gz feats.JOB out.JOB.jsonl.gz

Written in Python (standard library only) rather than Perl, with the behaviour of Kaldi's
egs/wsj/s5/utils/parallel/run.pl, so that a recipe's cmd.sh can name this, Kaldi's run.pl,
queue.pl or slurm.pl alike:
  * every occurrence of the job name (``JOB``) in the log file and the command becomes the
    job number; ``JOB=3`` runs one job; a range needs the name in the log file;
  * arguments without whitespace are joined as they are (so ``\\|`` makes a pipe, as in
    Kaldi); one with whitespace is quoted ('...' if it holds a double quote, else "...");
    the command line runs in bash with stdout and stderr appended to the job's log;
  * each log starts with ``# <command>`` and ``# Started at <date>`` and ends with
    ``# Accounting: time=<s> threads=1`` and ``# Ended (code <status>) at <date>,
    elapsed time <s> seconds``;
  * ``--max-jobs-run N`` (``-tc N``) jobs at a time (default: the number of CPUs; all of
    them when there are fewer than 1.4 x as many jobs; with ``--gpu``: the GPUs nvidia-smi lists);
  * ``--pick failed|incomplete`` re-runs only jobs whose log does not end in ``code 0``
    (``all``, the default, runs every job);
  * ``--num-threads``, ``--mem``, ``--config``, ``-pe``, ``-sync``, ``-V`` are accepted and ignored
    (they matter to cluster runners), ``--gpu N`` only sets the default job count;
  * exit status 0 when every job succeeded, else 1, with one line on stderr naming the failed
    jobs' logs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

_VALUED = {"--num-threads", "--mem", "--config", "--gpu", "-sync", "--pick"}


def _fail(message: str) -> None:
    print(f"run.pl: {message}", file=sys.stderr)
    sys.exit(1)


def _parse(argv: list[str]) -> tuple[dict, str | None, int, int, str, list[str]]:
    opts = {"max_jobs": -1, "gpu": 0, "pick": "all"}
    name, start, end = None, 1, 1
    args = list(argv)
    for _ in range(2):  # options may come before and after JOB=1:N, as in Kaldi
        while len(args) >= 2 and args[0].startswith("-"):
            switch = args.pop(0)
            if switch == "-V":
                continue
            if switch in ("--max-jobs-run", "-tc"):
                value = int(args.pop(0))
                if value <= 0:
                    _fail(f"invalid option {switch} {value}")
                opts["max_jobs"] = value if opts["max_jobs"] <= 0 else min(opts["max_jobs"], value)
            elif switch == "-pe":
                del args[:2]
            else:
                value = args.pop(0)
                if switch == "--gpu":
                    opts["gpu"] = int(value)
                elif switch == "--pick":
                    if value not in ("all", "failed", "incomplete"):
                        _fail("--pick argument must be one of 'all', 'failed' or 'incomplete'")
                    opts["pick"] = value
                elif switch not in _VALUED:
                    print(f"run.pl: WARNING: ignoring option {switch} {value}", file=sys.stderr)
        if args:
            ranged = re.fullmatch(r"([A-Za-z_]\w*)=(\d+):(\d+)", args[0])
            single = re.fullmatch(r"([A-Za-z_]\w*)=(\d+)", args[0])
            if ranged:
                name, start, end = ranged.group(1), int(ranged.group(2)), int(ranged.group(3))
                if start > end:
                    _fail(f"invalid job range {args[0]}")
                if start <= 0:
                    _fail(f"invalid job range {args[0]}, start must be strictly positive")
                args.pop(0)
            elif single:
                name, start, end = single.group(1), int(single.group(2)), int(single.group(2))
                args.pop(0)
    if len(args) < 2:
        _fail("usage: run.pl [options] [JOB=1:N] <log-file> <command> [<args> ...]")
    return opts, name, start, end, args[0], args[1:]


def _command_line(args: list[str]) -> str:
    parts = []
    for arg in args:
        if re.fullmatch(r"\S+", arg):
            parts.append(arg)
        elif '"' in arg:
            parts.append(f"'{arg}'")
        else:
            parts.append(f'"{arg}"')
    return " ".join(parts) + " "


def _default_jobs(gpu: int, num_jobs: int) -> int:
    if gpu:
        smi = shutil.which("nvidia-smi")
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True).stdout.splitlines() if smi else []
        if not listed:
            print("run.pl: Warning: failed to detect number of GPUs from nvidia-smi, using 1", file=sys.stderr)
        return max(1, len(listed))
    cpus = os.cpu_count() or 10
    return num_jobs if cpus < num_jobs < 1.4 * cpus else cpus


def _finished_ok(log: str) -> bool | None:
    """True/False: the log's last ``# Ended`` line says code 0 / not; None: no such line."""
    try:
        with open(log, errors="replace") as f:
            ended = [line for line in f if line.startswith("# Ended (code ")]
    except OSError:
        return None
    return ended[-1].startswith("# Ended (code 0)") if ended else None


def main(argv: list[str]) -> int:
    opts, name, start, end, log_pattern, command = _parse(argv)
    if name is not None and name not in log_pattern and end > start:
        _fail(f"you are trying to run a parallel job but you are putting the output into just one log file "
              f"({log_pattern})")
    cmd = _command_line(command)
    jobs = list(range(start, end + 1))
    max_jobs = opts["max_jobs"] if opts["max_jobs"] > 0 else _default_jobs(opts["gpu"], len(jobs))

    def substituted(text: str, job: int) -> str:
        return text.replace(name, str(job)) if name is not None else text

    if opts["pick"] != "all":
        jobs = [j for j in jobs if _finished_ok(substituted(log_pattern, j)) is not True]
    running: dict[subprocess.Popen, tuple[int, str, float, object]] = {}
    failed: list[str] = []

    def reap(proc: subprocess.Popen) -> None:
        job, log, began, handle = running.pop(proc)
        code = proc.returncode
        status = f"code {code}" if code >= 0 else f"code 0; signal {-code}"
        elapsed = int(time.time() - began)
        handle.write(f"# Accounting: time={elapsed} threads=1\n"
                     f"# Ended ({status}) at {time.strftime('%a %b %e %H:%M:%S %Z %Y')}, elapsed time {elapsed} seconds\n")
        handle.close()
        if code != 0:
            failed.append(log)

    for job in jobs:
        while len(running) >= max_jobs:
            pid, status = os.wait()  # the first job to end; its status is set on its Popen by hand
            proc = next(p for p in running if p.pid == pid)
            proc.returncode = os.waitstatus_to_exitcode(status)
            reap(proc)
        log, line = substituted(log_pattern, job), substituted(cmd, job)
        os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
        handle = open(log, "w")
        handle.write(f"# {line}\n# Started at {time.strftime('%a %b %e %H:%M:%S %Z %Y')}\n#\n")
        handle.flush()
        proc = subprocess.Popen(["bash", "-c", f"( {line})"], stdout=handle, stderr=subprocess.STDOUT)
        running[proc] = (job, log, time.time(), handle)
    while running:
        proc = next(iter(running))
        proc.wait()
        reap(proc)
    if failed:
        if len(jobs) == 1:
            print(f"run.pl: job failed, log is in {failed[0]}", file=sys.stderr)
        else:
            pattern = log_pattern.replace(name, "*") if name is not None else log_pattern
            print(f"run.pl: {len(failed)} / {len(jobs)} failed, log is in {pattern} (failed: "
                  f"{' '.join(sorted(failed, key=lambda p: (len(p), p)))})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
