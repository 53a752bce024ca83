#!/usr/bin/env bash
# Computes 80-dim log-mel fbank (25 ms / 10 ms, Lhotse's Fbank, raw log-mel without
# mean normalisation) for <data-dir>/cuts.jsonl.gz, stored with LilcomChunkyWriter.
#
#   steps/compute_fbank.sh [--nj 4] [--write-kaldi false] <data-dir> <fbank-dir>
#
# Writes <fbank-dir>/cuts.jsonl.gz (cuts pointing at <fbank-dir>/feats.JOB.lca),
# <fbank-dir>/fbank.yaml (the options, read back by the training loader for
# on-the-fly features) and logs in <fbank-dir>/log/fbank.JOB.log. Parts already
# finished are skipped on a re-run; the final manifest appears only when all are done.
# A fbank.yaml already in <fbank-dir> overrides the default options.
# --write-kaldi true also writes <fbank-dir>/feats.{ark,scp} for Kaldi tools.
set -euo pipefail

nj=4
write_kaldi=false
help_message="Usage: $0 [--nj 4] [--write-kaldi false] <data-dir> <fbank-dir>
  e.g. $0 --nj 8 data/train fbank/train"
. "$(dirname "$0")/../utils/parse_options.sh"

if [ $# -ne 2 ]; then echo "$help_message" >&2; exit 1; fi
data=$1
dir=$2
log() { echo "$(date '+%F %T') $(basename "$0"): $*" >&2; }

[ -f "$data/cuts.jsonl.gz" ] || { log "ERROR: missing $data/cuts.jsonl.gz (make it with vib-kaldi-to-lhotse $data)"; exit 1; }
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
  log "computing fbank for $data in $parts parts -> $dir"
  pids=()
  for job in $(seq "$parts"); do
    if [ -f "$dir/split$nj/fbank.$job.jsonl.gz" ]; then
      log "part $job already done"; continue
    fi
    vib-compute-fbank --config-dir "$dir" "$dir/split$nj/cuts.$job.jsonl.gz" "$dir_abs/feats.$job" \
      "$dir/split$nj/fbank.$job.jsonl.gz" >"$dir/log/fbank.$job.log" 2>&1 &
    pids+=($!)
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  if [ $failed -gt 0 ]; then
    log "ERROR: $failed of $parts parts failed; see $dir/log/fbank.*.log:"
    grep -h ERROR "$dir"/log/fbank.*.log >&2 || true
    exit 1
  fi
  # gzip members concatenate into one valid .gz; the parts come from one manifest, so ids are unique
  for job in $(seq "$parts"); do cat "$dir/split$nj/fbank.$job.jsonl.gz"; done >"$dir/cuts.jsonl.gz.tmp.$$"
  mv "$dir/cuts.jsonl.gz.tmp.$$" "$dir/cuts.jsonl.gz"
  log "wrote $dir/cuts.jsonl.gz"
fi

if $write_kaldi; then
  vib-fbank-to-kaldi "$dir/cuts.jsonl.gz" "ark,scp:$dir_abs/feats.ark,$dir/feats.scp"
  log "wrote $dir/feats.scp"
fi
