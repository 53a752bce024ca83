#!/usr/bin/env bash
# Extracts embeddings (x-vectors) of every cut of <fbank-dir>/cuts.jsonl.gz into
# <out-dir>/xvector.{ark,scp} (Kaldi binary float vectors), then per-speaker means
# spk_xvector.{ark,scp} and num_utts.ark with vib-ivector-mean, as Kaldi's
# extract_xvectors.sh does. Finished stages are skipped when re-run.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"

cmd=run.pl          # job runner (Kaldi's cmd.sh: run.pl, queue.pl, slurm.pl ...)
nj=4
chunk_frames=6000   # utterances longer than this are averaged over chunks of this many frames (0: whole)
batch_size=32
num_threads=1       # torch threads per job
device=cpu
write_var=false     # also write the VIB variance as xvector_var.{ark,scp}
write_quality=true  # also write quality measures (log duration, VIB mean log-variance) as quality.{ark,scp}
help_message="Usage: $0 [options] <model.pt | exp-dir> <fbank-dir> <out-dir>
 e.g.: $0 --nj 4 exp/cpu_vib fbank/test exp/cpu_vib/xvectors_test
Options:
  --cmd 'run.pl ...'   job runner for the extraction jobs (default: $cmd)
  --nj N               parallel jobs, merged into one xvector.scp (default: $nj)
  --chunk-frames N     chunk length for long utterances; 0 = whole utterance (default: $chunk_frames)
  --batch-size N       utterances / chunks per batch (default: $batch_size)
  --num-threads N      torch threads per job (default: $num_threads)
  --device cpu|cuda    (default: $device)
  --write-var true|false  write the VIB variance table too (default: $write_var)
  --write-quality true|false  write the quality measures for calibration too (default: $write_quality)"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
model=$1; fbank=$2; out=$3
[ -d "$model" ] && model=$model/final.pt
[ -f "$model" ] || die "no model '$model'"
[ -f "$fbank/cuts.jsonl.gz" ] || die "no '$fbank/cuts.jsonl.gz'"
mkdir -p "$out/log"

if [ -f "$out/xvector.scp" ] && [ "$out/xvector.scp" -nt "$model" ] && [ "$out/xvector.scp" -nt "$fbank/cuts.jsonl.gz" ] &&
   { [ "$write_quality" = false ] || [ -f "$out/quality.scp" ]; } && { [ "$write_var" = false ] || [ -f "$out/xvector_var.scp" ]; }; then
  log "$out/xvector.scp is up to date; not extracting again"
else
  log "extracting embeddings of $fbank with $model ($nj jobs, logs: $out/log/extract.*.log)"
  $cmd JOB=1:$nj "$out/log/extract.JOB.log" vib-extract --nj "$nj" --job JOB --chunk-frames "$chunk_frames" \
    --batch-size "$batch_size" --num-threads "$num_threads" --device "$device" --write-var="$write_var" \
    --write-quality="$write_quality" --progress=false "$model" "$fbank" "$out" \
    || { grep -h ERROR "$out"/log/extract.*.log >&2 || true; die "extraction failed; see $out/log/extract.*.log"; }
  vib-extract --nj "$nj" --merge --write-var="$write_var" --write-quality="$write_quality" "$model" "$fbank" "$out" >"$out/log/merge.log" 2>&1 \
    || { tail -n 3 "$out/log/merge.log" >&2; die "merging the extraction jobs failed; see $out/log/merge.log"; }
fi

if [ -f "$out/spk2utt" ]; then
  log "computing per-speaker mean embeddings"
  vib-ivector-mean "$out/spk2utt" "scp:$out/xvector.scp" "ark,scp:$out/spk_xvector.ark,$out/spk_xvector.scp" \
    "ark,t:$out/num_utts.ark"
else
  log "no speakers in $fbank/cuts.jsonl.gz; skipping per-speaker means"
fi
log "done: $out/xvector.scp"
