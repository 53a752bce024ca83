#!/usr/bin/env bash
# Trains a speaker embedding extractor with vib-train (resumes when <exp-dir> holds
# checkpoints; does nothing when it is complete). With --nproc N > 1 it runs
# torchrun --standalone (DDP; nccl on GPUs, gloo on CPU).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"

nproc=1
num_threads=0    # torch CPU threads per process (0: the config's train.num_threads)
overrides=""     # space-separated section.key=value config overrides, e.g. "train.epochs=3"
help_message="Usage: $0 [options] <config.yaml> <fbank-dir | shard-dir> <exp-dir>
 e.g.: $0 conf/cpu_vib.yaml fbank/train exp/cpu_vib
       $0 conf/cpu_vib.yaml shards/train exp/cpu_vib     # shards of steps/make_shards.sh
       $0 --nproc 4 conf/resnet34_aam.yaml fbank/train exp/resnet34_aam
Options:
  --nproc N          processes (GPUs) on this machine; >1 uses torchrun (default: 1)
  --num-threads N    torch CPU threads per process (default: from config)
  --overrides 'a.b=v ...'  config overrides passed to vib-train --set
Outputs: <exp-dir>/{final.pt,checkpoints/,train.jsonl,curve.png,spk2id,config.yaml,train.log}"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
config=$1; fbank=$2; exp=$3
[ -f "$config" ] || die "no config file '$config'"
[ -f "$fbank/cuts.jsonl.gz" ] || [ -f "$fbank/cuts.000000.jsonl.gz" ] ||
  die "no '$fbank/cuts.jsonl.gz' (run steps/compute_fbank.sh) nor shards (steps/make_shards.sh)"
mkdir -p "$exp"

args=()
for kv in $overrides; do args+=(--set "$kv"); done
if [ "$num_threads" -gt 0 ]; then args+=(--set "train.num_threads=$num_threads"); fi

log "training $exp from $config on $fbank (log: $exp/train.log)"
if [ "$nproc" -gt 1 ]; then
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} torchrun --standalone --nproc_per_node="$nproc" -m vib.bin.train \
    "${args[@]}" "$config" "$fbank" "$exp" 2>&1 | tee -a "$exp/train.log"
else
  vib-train "${args[@]}" "$config" "$fbank" "$exp" 2>&1 | tee -a "$exp/train.log"
fi
[ -f "$exp/final.pt" ] || die "training did not produce $exp/final.pt (see $exp/train.log)"
log "done: $exp/final.pt"
