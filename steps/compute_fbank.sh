#!/usr/bin/env bash
# Computes 80-dim log-mel fbank (25 ms / 10 ms, Lhotse's Fbank, raw log-mel without
# mean normalisation) for <data-dir>/cuts.jsonl.gz, stored with LilcomChunkyWriter.
#
#   steps/compute_fbank.sh [--cmd run.pl] [--nj 4] [--write-kaldi false] <data-dir> <fbank-dir>
#
# Writes <fbank-dir>/cuts.jsonl.gz (cuts pointing at <fbank-dir>/feats.JOB.lca),
# <fbank-dir>/fbank.yaml (the options, read back by the training loader for
# on-the-fly features) and logs in <fbank-dir>/log/fbank.JOB.log. Parts already
# finished are skipped on a re-run; the final manifest appears only when all are done.
# A fbank.yaml already in <fbank-dir> overrides the default options.
# --write-kaldi true also writes <fbank-dir>/feats.{ark,scp} for Kaldi tools.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"

cmd=run.pl         # job runner (Kaldi's cmd.sh: run.pl, queue.pl, slurm.pl ...)
nj=4
write_kaldi=false
help_message="Usage: $0 [--cmd run.pl] [--nj 4] [--write-kaldi false] <data-dir> <fbank-dir>
  e.g. $0 --nj 8 data/train fbank/train"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -ne 2 ]; then echo "$help_message" >&2; exit 1; fi
data=$1
dir=$2

[ -f "$data/cuts.jsonl.gz" ] || die "missing $data/cuts.jsonl.gz (make it with vib-kaldi-to-lhotse $data)"
mkdir -p "$dir/log"
dir_abs=$(cd "$dir" && pwd -P)

if [ -f "$dir/cuts.jsonl.gz" ] && [ "$dir/cuts.jsonl.gz" -nt "$data/cuts.jsonl.gz" ]; then
  log "$dir/cuts.jsonl.gz is up to date"
else
  if [ -f "$dir/split$nj/num_parts" ] && [ "$data/cuts.jsonl.gz" -nt "$dir/split$nj/num_parts" ]; then
    log "$data/cuts.jsonl.gz changed since $dir/split$nj was made; starting again"
    rm -r "${dir:?}/split$nj"
  fi
  if [ -f "$dir/split$nj/num_parts" ]; then
    parts=$(cat "$dir/split$nj/num_parts")
  else
    parts=$(vib-split-cuts --fbank-dir "$dir" "$data/cuts.jsonl.gz" "$nj" "$dir/split$nj")
  fi
  log "computing fbank for $data in $parts parts -> $dir (logs: $dir/log/fbank.*.log)"
  # A part whose manifest exists is done (each is written atomically at its end): it is skipped.
  for job in $(seq "$parts"); do [ ! -f "$dir/split$nj/fbank.$job.jsonl.gz" ] || log "part $job already done"; done
  $cmd JOB=1:$parts "$dir/log/fbank.JOB.log" \
    [ -f "$dir/split$nj/fbank.JOB.jsonl.gz" ] \|\| vib-compute-fbank --config-dir "$dir" \
    "$dir/split$nj/cuts.JOB.jsonl.gz" "$dir_abs/feats.JOB" "$dir/split$nj/fbank.JOB.jsonl.gz" \
    || { grep -h ERROR "$dir"/log/fbank.*.log >&2 || true; die "computing fbank failed; see $dir/log/fbank.*.log"; }
  # gzip members concatenate into one valid .gz; the parts come from one manifest, so ids are unique
  for job in $(seq "$parts"); do cat "$dir/split$nj/fbank.$job.jsonl.gz"; done >"$dir/cuts.jsonl.gz.tmp.$$"
  mv "$dir/cuts.jsonl.gz.tmp.$$" "$dir/cuts.jsonl.gz"
  log "wrote $dir/cuts.jsonl.gz"
fi

if $write_kaldi; then
  vib-fbank-to-kaldi "$dir/cuts.jsonl.gz" "ark,scp:$dir_abs/feats.ark,$dir/feats.scp"
  log "wrote $dir/feats.scp"
fi
