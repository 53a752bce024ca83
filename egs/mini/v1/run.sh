#!/usr/bin/env bash
# Mini recipe: a speech corpus generated on this machine from TTS voices of real
# donors -> softmax, AAM and VIB extractors trained on the CPU -> cosine,
# cosine + adaptive s-norm and mean + LDA + length-norm + PLDA back-ends on the
# main and the hard trial lists -> RESULTS.md and det.png.
#
#   ./run.sh                      # everything (about 13 min on 2 CPU cores: README)
#   ./run.sh --stage 3            # re-train and re-score on the existing data and features
#
# Every stage skips work that is already complete; re-running a killed run resumes it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh
. "$VIB_ROOT/utils/lib.sh"
. ./cmd.sh

_cmdline="$0 $*"
stage=0
stop_stage=100
nj=2                         # parallel jobs (corpus synthesis, fbank, extraction)
corpus_size=default          # default | tiny (a few speakers, for tests)
conf_dir=conf                # holds <system>.yaml for every system
systems="softmax aam vib"
train_jobs=3                 # systems trained side by side (threads split between them)
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--corpus-size default|tiny] [--conf-dir DIR] [--systems 'a b'] [--train-jobs N]
Stages: 0 corpus, 1 data dirs + manifests, 2 fbank, 3 training, 4 embeddings, 5 scoring, 6 RESULTS.md"
. utils/parse_options.sh


corpus=corpus                 # generated audio, Kaldi data dirs, trials, noise and RIRs
lists="trials trials_hard"    # trial lists of the test split
backends="cosine cosine+asnorm plda"  # X+NORM: score-normalised X (see vib-results-table)
case $corpus_size in
  default) corpus_opts= ;;
  tiny) corpus_opts=--tiny=true ;;
  *) echo "$0: --corpus-size must be default or tiny, got '$corpus_size'" >&2; exit 1 ;;
esac
start_time=$(date +%s)

# Stage 0: corpus/ - wav/<spk>/*.wav, data/{train,test} Kaldi dirs with trials, musan/, RIRS_NOISES/.
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: generating the mini corpus in $corpus/"
  python -m local.mini_corpus.generate --nj "$nj" $corpus_opts "$corpus"
fi

# Stage 1: data/{train,test}: Kaldi data dirs + Lhotse manifests; data/aug: noise/music/babble/RIR manifests.
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: data dirs and manifests"
  for x in train test; do
    mkdir -p data/$x
    for f in "$corpus"/data/$x/*; do
      [ -f "data/$x/$(basename "$f")" ] && [ "data/$x/$(basename "$f")" -nt "$f" ] || cp "$f" data/$x/
    done
    [ data/$x/cuts.jsonl.gz -nt data/$x/wav.scp ] || vib-kaldi-to-lhotse --nj "$nj" data/$x
  done
  [ -f data/aug/rir.jsonl.gz ] || vib-prepare-augmentation --nj "$nj" \
    --musan "$corpus/musan" --rirs "$corpus/RIRS_NOISES" data/aug
fi

# Stage 2: fbank/{train,test}: 80-dim log-mel fbank (lilcom) and cuts pointing at it.
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: fbank features"
  for x in train test; do
    steps/compute_fbank.sh --cmd "$train_cmd" --nj "$nj" data/$x fbank/$x
  done
fi

# Stage 3: exp/<system>/final.pt for each system (checkpoints every epoch; resumes).
# --train-jobs systems train side by side, each with its own torch thread(s); their
# progress goes to exp/<system>/train.log (one line per epoch).
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  threads=$(( $(getconf _NPROCESSORS_ONLN) / train_jobs )); [ "$threads" -ge 1 ] || threads=1
  last_epoch() { tr '\r' '\n' < exp/$1/train.log | grep "^epoch [0-9/]*: loss" | tail -1; }
  # one $cuda_cmd job per system, at most --train-jobs at a time (each resumes if killed)
  trap 'kill $(jobs -p) 2>/dev/null' EXIT
  pids=() names=()
  finish() {  # waits for the oldest running system
    wait ${pids[0]} || die "training ${names[0]} failed; see exp/${names[0]}/log/train.log"
    log "stage 3: ${names[0]} done: $(last_epoch ${names[0]})"
    pids=("${pids[@]:1}") names=("${names[@]:1}")
  }
  for sys in $systems; do
    log "stage 3: training $sys ($conf_dir/$sys.yaml, $threads thread(s); log: exp/$sys/train.log)"
    $cuda_cmd exp/$sys/log/train.log steps/train.sh --num-threads $threads "$conf_dir/$sys.yaml" fbank/train \
      exp/$sys &
    pids+=($!) names+=($sys)
    [ ${#pids[@]} -lt "$train_jobs" ] || finish
  done
  while [ ${#pids[@]} -gt 0 ]; do finish; done
  trap - EXIT
fi

# Stage 4: exp/<system>/xvectors_{train,test}: xvector.{ark,scp}, spk_xvector.*, num_utts.ark.
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  for sys in $systems; do
    for x in train test; do
      log "stage 4: $sys embeddings of $x"
      steps/extract_embeddings.sh --cmd "$train_cmd" --nj "$nj" exp/$sys fbank/$x exp/$sys/xvectors_$x
    done
  done
fi

# Stage 5: exp/<system>/scores_{cosine,plda}_<list>/: scores and metrics.json.
# cosine: training mean removed, cosine; with the training speakers' mean vectors as
# cohort also adaptive s-norm (scores_asnorm, metrics_asnorm.json: back-end cosine+asnorm);
# plda: training mean, LDA, length norm, PLDA (Kaldi's egs/voxceleb/v2 chain), trained once
# per system in exp/<system>/xvectors_train/.
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  log "stage 5: scoring $systems on $lists"
  steps/score_systems.sh --cmd "$train_cmd" --systems "$systems" --train-data data/train exp train test \
    $(for list in $lists; do echo $list=data/test/$list; done)
fi

# Stage 6: RESULTS.md (system x back-end x list) and det.png (main list, every system and back-end).
# A RESULTS.md newer than every metrics file is kept.
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  log "stage 6: RESULTS.md and det.png"
  steps/make_results.sh --systems "$systems" --backends "$backends" --lists "$lists" \
    --title "egs/mini/v1 results" --command "$_cmdline" --started $start_time \
    --info "Corpus: $(wc -l < data/train/spk2utt) training classes, $(wc -l < data/test/spk2utt) test speakers, $(wc -l < data/test/trials) / $(wc -l < data/test/trials_hard) trials (main / hard)" \
    exp data/test/trials .
fi
