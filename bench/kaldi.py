#!/usr/bin/env python3
"""Whole processes, as a user runs them, beside Kaldi's own binaries on the same files.

1. PLDA scoring of --trials trials (default 1,000,000 of 128-dim vectors; start-up, reading,
   trial parsing and score writing included): vib-plda-scoring vs Kaldi's ivector-plda-scoring;
   the two score files must be byte-identical.
2. PLDA scoring with uncertainty propagation: vib-plda-scoring-up on the raw vectors and their
   variances (the mean / LDA / length-norm chain done in-process) vs 1.'s vib-plda-scoring on
   vectors already through that chain.
3. PLDA training, 10 E-M iterations on --train-vectors vectors: vib-compute-plda vs
   ivector-compute-plda (the models must agree).

Kaldi's binaries are found as the parity tests find them (tests/kaldi_tools.py: $KALDI_ROOT or
../shared/kaldi-build or bench/work/kaldi), else built into bench/work/kaldi with
../shared/kaldi/build.sh (not with --tiny); where neither works, figures 1 and 3 say why they
have no Kaldi baseline.

    python bench/kaldi.py                       # 1M trials, 128 dims; PLDA training on 20,000 x 128
    python bench/kaldi.py --tiny --threads 1    # smoke test
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench.common import REPO, Figure, FigureLog, add_common_options, median_of, pin_threads, threads_from_argv  # noqa: E402

if __name__ == "__main__":  # BLAS reads its thread count when numpy is first imported
    pin_threads(threads_from_argv(2))

import numpy as np  # noqa: E402

from tests.kaldi_tools import kaldi_bin_dirs, kaldi_path  # noqa: E402
from vib.backend.trials import read_scores  # noqa: E402
from vib.io.kaldi_objects import read_plda  # noqa: E402
from vib.io.tables import write_table  # noqa: E402

GROUP = "Beside Kaldi: whole processes"
BUILD = REPO / "bench" / "work" / "kaldi"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1_000_000, help="trials to score (default 1,000,000)")
    p.add_argument("--dim", type=int, default=128, help="vector dimension (default 128)")
    p.add_argument("--enroll", type=int, default=1000, help="enrollment vectors (default 1000)")
    p.add_argument("--test", type=int, default=1000, help="test vectors (default 1000)")
    p.add_argument("--train-vectors", type=int, default=20_000, help="PLDA training vectors (default 20,000)")
    p.add_argument("--train-speakers", type=int, default=1_000, help="their speakers (default 1,000)")
    add_common_options(p)
    args = p.parse_args()
    if args.tiny:
        args.trials, args.dim, args.enroll, args.test = 2000, 16, 40, 50
        args.train_vectors, args.train_speakers = 600, 60
    return args


def find_kaldi(build_them: bool) -> tuple[list[Path], str]:
    """Kaldi's binary dirs, built when ``build_them`` and ../shared/kaldi/build.sh is there; ([], why) otherwise."""
    dirs, why = kaldi_bin_dirs()
    if dirs:
        return dirs, ""
    dirs, _ = kaldi_bin_dirs(BUILD)
    if dirs:
        return dirs, ""
    if not build_them:
        return [], f"{why} (--tiny builds nothing)"
    build = REPO.parent / "shared" / "kaldi" / "build.sh"
    if not build.is_file():
        return [], f"{why}, and {build} is not there to build them"
    print(f"building Kaldi's binaries into {BUILD} ({build})", flush=True)
    proc = subprocess.run(["bash", str(build), str(BUILD)], capture_output=True, text=True)
    dirs, _ = kaldi_bin_dirs(BUILD)
    return (dirs, "") if dirs else ([], f"{build} failed: {proc.stderr.strip().splitlines()[-1:]}")


def run_seconds(argv: list[str], env: dict[str, str], repeats: int) -> float:
    """Median wall seconds of one whole process (its output checked for success)."""
    def once() -> float:
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start
    return median_of(once, repeats)


def make_files(work: Path, args: argparse.Namespace) -> None:
    """Training vectors of speakers (train.ark, spk2utt, utt2spk), enrollment and test vectors with
    variances, all trials between them, and the chain's models (mean.vec, transform.mat, plda)."""
    rng = np.random.default_rng(0)
    d = args.dim
    labels = np.sort(rng.integers(0, args.train_speakers, args.train_vectors))
    centres = rng.standard_normal((args.train_speakers, d)) * 2
    train = (centres[labels] + rng.standard_normal((labels.size, d))).astype(np.float32)
    keys = [f"spk{s:05d}-utt{i:06d}" for i, s in enumerate(labels)]
    write_table(f"ark:{work}/train.ark", dict(zip(keys, train)))
    (work / "utt2spk").write_text("".join(f"{k} spk{s:05d}\n" for k, s in zip(keys, labels)))
    spk2utt: dict[str, list[str]] = {}
    for k, s in zip(keys, labels):
        spk2utt.setdefault(f"spk{s:05d}", []).append(k)
    (work / "spk2utt").write_text("".join(f"{s} {' '.join(u)}\n" for s, u in spk2utt.items()))
    for side, n in (("enroll", args.enroll), ("test", args.test)):
        vectors = (centres[rng.integers(0, args.train_speakers, n)] + rng.standard_normal((n, d))).astype(np.float32)
        names = [f"{side}{i:05d}" for i in range(n)]
        write_table(f"ark:{work}/{side}.ark", dict(zip(names, vectors)))
        write_table(f"ark:{work}/{side}_var.ark", dict(zip(names, rng.uniform(0.05, 0.5, (n, d)).astype(np.float32))))
    ei = rng.integers(0, args.enroll, args.trials)
    ti = rng.integers(0, args.test, args.trials)
    (work / "trials").write_text("".join(f"enroll{a:05d} test{b:05d}\n" for a, b in zip(ei.tolist(), ti.tolist())))
    chain = (f"vib-ivector-subtract-global-mean {work}/mean.vec ark:{work}/{{}}.ark ark:- | vib-transform-vec "
             f"{work}/transform.mat ark:- ark:- | vib-ivector-normalize-length ark:-")
    script = f"""set -e
vib-ivector-mean ark:{work}/train.ark {work}/mean.vec
vib-compute-lda --dim={d} "ark:vib-ivector-subtract-global-mean ark:{work}/train.ark ark:- |" ark:{work}/utt2spk \
  {work}/transform.mat
{chain.format('train')} ark:{work}/train_prep.ark
{chain.format('enroll')} ark:{work}/enroll_prep.ark
{chain.format('test')} ark:{work}/test_prep.ark
vib-compute-plda ark:{work}/spk2utt ark:{work}/train_prep.ark {work}/plda"""
    proc = subprocess.run(["bash", "-c", f". {REPO}/path.sh && {script}"], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"bench/kaldi.py: making the files failed:\n{proc.stderr}")


def main() -> None:
    args = parse_args()
    log = FigureLog()
    work = REPO / "bench" / "work" / f"kaldi_files.{os.getpid()}"
    work.mkdir(parents=True)
    try:
        make_files(work, args)
        env = dict(os.environ, PATH=f"{REPO}/.venv/bin:{os.environ.get('PATH', '')}")
        kaldi_dirs, why = find_kaldi(build_them=not args.tiny)
        w = str(work)
        plain = ["vib-plda-scoring", f"{w}/plda", f"ark:{w}/enroll_prep.ark", f"ark:{w}/test_prep.ark",
                 f"{w}/trials", f"{w}/scores_vib"]
        ours = run_seconds(plain, env, args.repeats)
        name = f"vib-plda-scoring, {args.trials:,} trials of {args.dim}-dim vectors (whole process)"
        if kaldi_dirs:
            kenv = dict(env, PATH=kaldi_path(kaldi_dirs))
            kaldi = run_seconds(["ivector-plda-scoring", *plain[1:-1], f"{w}/scores_kaldi"], kenv, args.repeats)
            same = (work / "scores_vib").read_bytes() == (work / "scores_kaldi").read_bytes()
            if not same:
                raise SystemExit("bench/kaldi.py: vib-plda-scoring and ivector-plda-scoring wrote different scores")
            log.add(Figure(GROUP, name, ours, "s", "Kaldi's ivector-plda-scoring", kaldi, repeats=args.repeats,
                           note="score files byte-identical"))
        else:
            log.add(Figure(GROUP, name, ours, "s", repeats=args.repeats, note=f"Kaldi skipped: {why}"))
        up = ["vib-plda-scoring-up", f"--mean={w}/mean.vec", f"--lda={w}/transform.mat", f"{w}/plda",
              f"ark:{w}/enroll.ark", f"ark:{w}/enroll_var.ark", f"ark:{w}/test.ark", f"ark:{w}/test_var.ark",
              f"{w}/trials", f"{w}/scores_up"]
        up_seconds = run_seconds(up, env, args.repeats)
        # ratio = plain / UP seconds (< 1: UP is slower; the goal is at least 0.5)
        log.add(Figure(GROUP, f"vib-plda-scoring-up, {args.trials:,} trials, raw vectors + variances (whole process)",
                       up_seconds, "s", "vib-plda-scoring on vectors already through mean / LDA / length norm",
                       ours, repeats=args.repeats,
                       note=f"{len(read_scores(f'{w}/scores_up')[2]):,} scores; UP is {up_seconds / ours:.2f}x the "
                            "plain time"))
        train = ["vib-compute-plda", f"ark:{w}/spk2utt", f"ark:{w}/train_prep.ark", f"{w}/plda_vib"]
        name = (f"vib-compute-plda, {args.train_vectors:,} x {args.dim} vectors of {args.train_speakers:,} speakers, "
                "10 E-M iterations (whole process)")
        ours = run_seconds(train, env, args.repeats)
        if kaldi_dirs:
            kaldi = run_seconds(["ivector-compute-plda", *train[1:-1], f"{w}/plda_kaldi"], kenv, args.repeats)
            a, b = read_plda(f"{w}/plda_vib"), read_plda(f"{w}/plda_kaldi")
            gap = float(np.max(np.abs(a.psi - b.psi) / b.psi))
            if gap > 1e-4:
                raise SystemExit(f"bench/kaldi.py: the two PLDAs differ (psi relative gap {gap:.2g})")
            log.add(Figure(GROUP, name, ours, "s", "Kaldi's ivector-compute-plda", kaldi, repeats=args.repeats,
                           note=f"psi within {gap:.1g} (relative)"))
        else:
            log.add(Figure(GROUP, name, ours, "s", repeats=args.repeats, note=f"Kaldi skipped: {why}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.write(args.json, "bench/kaldi.py")


if __name__ == "__main__":
    main()
