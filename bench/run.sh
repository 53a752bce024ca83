#!/usr/bin/env bash
# Runs every benchmark of the project and writes bench/RESULTS.md: each figure the median
# of several repeats beside a baseline measured in the same run, and the ratio; the
# machine (cores, CPU, torch, threads, load average) and this command.
#   backend: PLDA / cosine scoring of 1M trials, metrics over 10M scores, the speaker bootstrap
#            (1,000 resamples of 1M trials), PLDA training on 100,000 x 256 of 5,000 speakers
#            (bench/backend.py)
#   data:    fbank RTF, loader crops/s with augmentation (bench/data.py)
#   train:   trainer crops/s vs a bare loop, extraction RTF (CPU preset, ResNet34; batch 1 and
#            batched), peak RSS for a 10-minute recording (bench/train.py)
#   peer:    SpeechBrain's PLDA beside ours (bench/peer_speechbrain.py; installs SpeechBrain
#            with --no-deps into bench/work/peer on first use)
#   corpus:  mini-corpus generator throughput vs bare synthesis calls (bench/corpus.py)
#   export:  extraction RTF on one thread, ONNX Runtime and TorchScript vs PyTorch (bench/export.py;
#            installs onnx and onnxruntime with --no-deps into bench/work/onnx on first use)
#   kaldi:   whole processes beside Kaldi's own binaries on the same files: PLDA scoring of 1M trials,
#            PLDA training; PLDA scoring with uncertainty propagation vs plain (bench/kaldi.py; finds
#            or builds Kaldi's binaries with ../shared/kaldi/build.sh, else says why it skipped them)
set -euo pipefail

_command=bench/run.sh  # as typed, for RESULTS.md (a leading _ keeps it out of the options)
for _arg in "$@"; do
  case "$_arg" in *[[:space:]]*) _arg="'$_arg'" ;; esac
  _command+=" $_arg"
done
cd "$(dirname "$0")/.."

only="backend data train peer corpus export kaldi"
threads=2
repeats=3
size=full
out=bench/RESULTS.md
help_message="Usage: bench/run.sh [options]
Runs the benchmarks and writes bench/RESULTS.md (atomically).
Options:
  --only 'backend data train peer corpus export kaldi'  benchmarks to run (a subset, space separated)
  --threads N         threads / DataLoader workers / jobs (default 2)
  --repeats N         repeats per figure; the median is reported (default 3)
  --size full|tiny    tiny: smoke-test sizes, seconds in all (figures meaningless)
  --out FILE          where to write the results (default bench/RESULTS.md)"
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$help_message" >&2; exit 1; }
. ./path.sh

case "$size" in
  full) size_opt="" ;;
  tiny) size_opt="--tiny" ;;
  *) echo "bench/run.sh: --size must be full or tiny, got '$size'" >&2; exit 1 ;;
esac
for name in $only; do
  case "$name" in
    backend|data|train|peer|corpus|export|kaldi) ;;
    *) echo "bench/run.sh: unknown benchmark '$name' in --only (valid: backend data train peer corpus export kaldi)" >&2; exit 1 ;;
  esac
done
for var in OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS; do export "$var=$threads"; done

mkdir -p bench/work
work=$(mktemp -d bench/work/run.XXXXXX)
trap 'rm -rf "$work"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
echo "bench/run.sh: $only; $threads threads; $repeats repeats; size $size; load average $load_start"

declare -A script=([backend]=bench/backend.py [data]=bench/data.py [train]=bench/train.py
                   [peer]=bench/peer_speechbrain.py [corpus]=bench/corpus.py [export]=bench/export.py
                   [kaldi]=bench/kaldi.py)
for name in $only; do
  echo "=== $name (${script[$name]}) $(date -u +%H:%M:%S)"
  python "${script[$name]}" --threads "$threads" --repeats "$repeats" $size_opt --json "$work/$name.json"
done

python bench/report.py --out "$out" --command "$_command" --threads "$threads" --repeats "$repeats" \
  --load-start "$load_start" --seconds $(( $(date +%s) - start )) \
  $(for name in $only; do echo "$work/$name.json"; done)
