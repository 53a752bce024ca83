#!/usr/bin/env bash
# Writes a training set as Lhotse Shar shards (vib-make-shards): the cuts of <fbank-dir> in a
# seeded random order, features (lilcom) and with --audio true the audio (FLAC) in tar files of
# --shard-size cuts, read front to back by vib-train (steps/train.sh <shard-dir> ...).
#
#   steps/make_shards.sh [--shard-size 1000] [--audio false] [--nj 1] <fbank-dir> <shard-dir>
#
# Skipped when <shard-dir>/utt2spk is newer than <fbank-dir>/cuts.jsonl.gz; a killed run leaves
# no shard dir (it is renamed into place when complete) and is redone by the next one.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"

shard_size=1000
audio=false
nj=1
seed=0
help_message="Usage: $0 [--shard-size 1000] [--audio false] [--nj 1] [--seed 0] <fbank-dir> <shard-dir>
  e.g. $0 --audio true --nj 4 fbank/voxceleb2_dev shards/voxceleb2_dev"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -ne 2 ]; then echo "$help_message" >&2; exit 1; fi
fbank=$1
dir=$2

[ -f "$fbank/cuts.jsonl.gz" ] || die "missing $fbank/cuts.jsonl.gz (run steps/compute_fbank.sh)"
if [ -f "$dir/utt2spk" ] && [ "$dir/utt2spk" -nt "$fbank/cuts.jsonl.gz" ] &&
   { [ "$audio" != true ] || [ -f "$dir/recording.000000.tar" ]; }; then
  log "$dir is up to date"
  exit 0
fi
log "writing shards of $fbank (audio: $audio) -> $dir"
mkdir -p "$(dirname "$dir")"
vib-make-shards --shard-size "$shard_size" --audio="$audio" --nj "$nj" --seed "$seed" "$fbank" "$dir"
