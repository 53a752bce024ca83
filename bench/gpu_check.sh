#!/usr/bin/env bash
# The GPU check: what no CPU test can prove, run in one go on a machine with a GPU, written
# to bench/GPU_RESULTS.md (see bench/gpu_check.py for the checks and the table).
#
#   bench/gpu_check.sh --stage prepare --wheels true     # here: tiny corpus, fbank, cp312 wheels
#   bench/gpu_check.sh --stage run                        # there: the checks on the torch it finds
#   bench/gpu_check.sh --device cpu --size tiny --out /tmp/GPU_RESULTS.md   # CPU smoke (the test suite)
#
# prepare needs the project's set-up (path.sh: lhotse, the TTS voices); run needs only python3
# with torch, numpy, scipy, yaml, tqdm and the packages the wheels bring (lhotse, lilcom,
# kaldiio, soundfile and their needs), installed there with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site bench/work/gpu/wheels/*.whl
#   export PYTHONPATH=/tmp/site
# The prepared folder (bench/work/gpu, git-ignored) travels with the tree: carry it.
set -euo pipefail

_command=bench/gpu_check.sh
for _arg in "$@"; do _command+=" $_arg"; done
cd "$(dirname "$0")/.."

stage=all            # prepare | run | all
device=cuda          # cuda | cpu
size=full            # full (ResNet34 throughput, more steps) | tiny (seconds; figures meaningless)
work=bench/work/gpu
out=bench/GPU_RESULTS.md
wheels=false         # prepare: also download the cp312 wheels the GPU machine lacks
help_message="Usage: bench/gpu_check.sh [--stage prepare|run|all] [--device cuda|cpu] [--size full|tiny]
       [--work DIR] [--out FILE] [--wheels true|false]"
. utils/parse_options.sh
. utils/lib.sh
[ $# -eq 0 ] || { echo "$help_message" >&2; exit 1; }

# Packages the GPU machine's Python lacks (its image has torch, numpy, scipy, yaml, tqdm, pytest, click,
# packaging, sortedcontainers, tabulate, toolz, typing-extensions); pinned as requirements.txt / the venv.
wheel_pins="lhotse==1.33.0 lilcom==1.8.2 kaldiio==2.18.1 soundfile==0.14.0 cffi==2.1.1 pycparser==2.23
  audioread==3.1.0 cytoolz==1.2.0 intervaltree==3.2.1"

if [ "$stage" = prepare ] || [ "$stage" = all ]; then
  . ./path.sh
  mkdir -p "$work"
  if [ ! -f "$work/fbank/test/cuts.jsonl.gz" ]; then
    log "prepare: tiny mini corpus and its fbank in $work"
    python -m local.mini_corpus.generate --tiny "$work/corpus" >"$work/corpus.log" 2>&1
    for x in train test; do
      mkdir -p "$work/data/$x"
      cp "$work/corpus/data/$x/"* "$work/data/$x/"
      vib-kaldi-to-lhotse "$work/data/$x" >>"$work/prepare.log" 2>&1
      steps/compute_fbank.sh --nj 2 "$work/data/$x" "$work/fbank/$x" >>"$work/prepare.log" 2>&1
    done
  fi
  pwd -P >"$work/prepared_root"   # manifests hold absolute paths: run rewrites this prefix
  if [ "$wheels" = true ]; then
    mkdir -p "$work/wheels"
    for pin in $wheel_pins; do
      ls "$work/wheels/${pin%%==*}"-* >/dev/null 2>&1 || ls "$work/wheels/${pin%%==*}"_* >/dev/null 2>&1 && continue
      python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$work/wheels" "$pin" 2>/dev/null ||
        python -m pip wheel -q --no-deps -w "$work/wheels" "$pin" ||   # pure-Python sdists
        { log "ERROR: cannot get a cp312 wheel of $pin"; exit 1; }
    done
    log "prepare: $(ls "$work/wheels" | wc -l) wheels in $work/wheels"
  fi
fi

if [ "$stage" = run ] || [ "$stage" = all ]; then
  python=python3
  [ -x .venv/bin/python ] && python=.venv/bin/python
  PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 "$python" bench/gpu_check.py \
    --device "$device" --size "$size" --work "$work" --out "$out" --command "$_command"
fi
