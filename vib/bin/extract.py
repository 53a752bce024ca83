"""vib-extract: speaker embeddings of every cut of a feature manifest, as Kaldi tables."""
from __future__ import annotations

import os
from typing import Sequence

from vib.cli import add_bool, make_parser, run

USAGE = """vib-extract [options] <model.pt> <fbank-dir | cuts.jsonl.gz> <out-dir>
e.g.: vib-extract --nj 4 --chunk-frames 6000 exp/resnet34_vib/final.pt fbank/test exp/resnet34_vib/xvectors_test
      run.pl JOB=1:4 log/extract.JOB.log vib-extract --nj 4 --job JOB final.pt fbank/test out   # then:
      vib-extract --nj 4 --merge final.pt fbank/test out
Writes <out-dir>/xvector.ark, xvector.scp (sorted), optionally xvector_var.{ark,scp}, and utt2spk, spk2utt.
With --job J only job J's share (every Nth utterance in length order) goes to xvector.J.{ark,scp};
--merge then merges the N shares."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-extract", __doc__, USAGE)
    parser.add_argument("model", help="final.pt or an epoch checkpoint written by vib-train")
    parser.add_argument("cuts", help="a fbank dir holding cuts.jsonl.gz, or the manifest itself")
    parser.add_argument("out_dir")
    parser.add_argument("--nj", type=int, default=1, help="parallel jobs, merged into one table (default: 1)")
    parser.add_argument("--chunk-frames", type=int, default=6000,
                        help="utterances longer than this are averaged over chunks of this many frames; "
                             "0: always the whole utterance (default: 6000)")
    parser.add_argument("--batch-size", type=int, default=32, help="utterances/chunks per batch (default: 32)")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads per job (default: 1)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda (with --nj: job j on GPU j mod the GPU count) or cuda:N (default: cpu)")
    add_bool(parser, "--write-var", False, "also write the VIB variance as xvector_var.{ark,scp}")
    add_bool(parser, "--write-quality", False, "also write quality measures for calibration as quality.{ark,scp}: "
             "[ln duration (s)] or, for a VIB model, [ln duration, mean ln variance]")
    add_bool(parser, "--progress", True, "show a progress bar")
    parser.add_argument("--job", type=int, default=0, help="extract only job J (1..nj) of --nj, for a job runner")
    add_bool(parser, "--merge", False, "merge the --nj job outputs of --job runs (extracts nothing)")
    args = parser.parse_args(argv)
    from vib.extract import ExtractOptions, extract, extract_share, load_cuts, merge_shares

    if args.nj < 1 or args.batch_size < 1 or args.chunk_frames < 0:
        raise ValueError("--nj and --batch-size must be >= 1 and --chunk-frames >= 0")
    if args.merge and args.job:
        raise ValueError("--job and --merge are separate steps: run the jobs, then merge")
    cuts = os.path.join(args.cuts, "cuts.jsonl.gz") if os.path.isdir(args.cuts) else args.cuts
    opts = ExtractOptions(chunk_frames=args.chunk_frames, batch_size=args.batch_size, write_var=args.write_var,
                          write_quality=args.write_quality, num_threads=args.num_threads, device=args.device)
    if args.merge:
        merge_shares(load_cuts(cuts), args.out_dir, args.nj, opts)
        print(f"vib-extract: merged {args.nj} job(s) into {args.out_dir}/xvector.scp")
    elif args.job:
        count = extract_share(args.model, cuts, args.out_dir, args.nj, args.job, opts, progress=args.progress)
        print(f"vib-extract: job {args.job}/{args.nj}: wrote {count} embeddings to {args.out_dir}/xvector.{args.job}.scp")
    else:
        count = extract(args.model, cuts, args.out_dir, args.nj, opts, progress=args.progress)
        print(f"vib-extract: wrote {count} embeddings to {args.out_dir}/xvector.scp")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
