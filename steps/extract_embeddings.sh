#!/usr/bin/env bash
# Extracts embeddings (x-vectors) of every cut of <fbank-dir>/cuts.jsonl.gz into
# <out-dir>/xvector.{ark,scp} (Kaldi binary float vectors), then per-speaker means
# spk_xvector.{ark,scp} and num_utts.ark with vib-ivector-mean, as Kaldi's
# extract_xvectors.sh does. Finished stages are skipped when re-run.
set -euo pipefail
[ -f ./path.sh ] && . ./path.sh

nj=4
chunk_frames=6000   # utterances longer than this are averaged over chunks of this many frames (0: whole)
batch_size=32
num_threads=1       # torch threads per job
device=cpu
write_var=false     # also write the VIB variance as xvector_var.{ark,scp}
help_message="Usage: $0 [options] <model.pt | exp-dir> <fbank-dir> <out-dir>
 e.g.: $0 --nj 4 exp/cpu_vib fbank/test exp/cpu_vib/xvectors_test
Options:
  --nj N               parallel jobs, merged into one xvector.scp (default: $nj)
  --chunk-frames N     chunk length for long utterances; 0 = whole utterance (default: $chunk_frames)
  --batch-size N       utterances / chunks per batch (default: $batch_size)
  --num-threads N      torch threads per job (default: $num_threads)
  --device cpu|cuda    (default: $device)
  --write-var true|false  write the VIB variance table too (default: $write_var)"
. utils/parse_options.sh

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
model=$1; fbank=$2; out=$3
[ -d "$model" ] && model=$model/final.pt
[ -f "$model" ] || { echo "$0: no model '$model'" >&2; exit 1; }
[ -f "$fbank/cuts.jsonl.gz" ] || { echo "$0: no '$fbank/cuts.jsonl.gz'" >&2; exit 1; }
mkdir -p "$out/log"

if [ -f "$out/xvector.scp" ] && [ "$out/xvector.scp" -nt "$model" ] && [ "$out/xvector.scp" -nt "$fbank/cuts.jsonl.gz" ]; then
  echo "$0: $out/xvector.scp is up to date; not extracting again"
else
  echo "$0: extracting embeddings of $fbank with $model ($nj jobs, log: $out/log/extract.log)"
  vib-extract --nj "$nj" --chunk-frames "$chunk_frames" --batch-size "$batch_size" --num-threads "$num_threads" \
    --device "$device" --write-var="$write_var" --progress=false "$model" "$fbank" "$out" >"$out/log/extract.log" 2>&1 \
    || { tail -n 5 "$out/log/extract.log" >&2; echo "$0: extraction failed; see $out/log/extract.log" >&2; exit 1; }
fi

if [ -f "$out/spk2utt" ]; then
  echo "$0: computing per-speaker mean embeddings"
  vib-ivector-mean "$out/spk2utt" "scp:$out/xvector.scp" "ark,scp:$out/spk_xvector.ark,$out/spk_xvector.scp" \
    "ark,t:$out/num_utts.ark"
else
  echo "$0: no speakers in $fbank/cuts.jsonl.gz; skipping per-speaker means"
fi
echo "$0: done: $out/xvector.scp"
