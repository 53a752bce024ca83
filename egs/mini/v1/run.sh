#!/usr/bin/env bash
# Mini recipe: a speech corpus generated on this machine from TTS voices of real
# donors -> softmax, AAM and VIB extractors trained on the CPU (one run per seed) ->
# cosine, cosine + adaptive s-norm and mean + LDA + length-norm + PLDA back-ends on the
# dev and test trial lists -> calibration trained on dev -> RESULTS.md and det.png.
#
#   ./run.sh                      # everything, one seed (about 16-19 min on 2 CPU cores: README)
#   ./run.sh --seeds "0 1 2"      # three runs of every system: mean, std and intervals in RESULTS.md
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
seeds=0                      # one training run per seed and system: exp/<system>_s<seed>
train_jobs=3                 # runs trained side by side (threads split between them)
bootstrap=1000               # speaker resamples for the 95 % intervals of RESULTS.md (0: none)
exp=exp                      # experiment dir: <exp>/<system>_s<seed> (another one for a tuning run)
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--corpus-size default|tiny] [--conf-dir DIR] [--systems 'a b'] [--seeds '0 1 2'] [--train-jobs N] [--bootstrap N] [--exp DIR]
Stages: 0 corpus, 1 data dirs + manifests, 2 fbank, 3 training, 4 embeddings, 5 scoring, 6 calibration, 7 RESULTS.md"
. utils/parse_options.sh


corpus=corpus                 # generated audio, Kaldi data dirs, trials, noise and RIRs
# Trial lists, <set>_<list>: configs and the calibration are chosen on dev; test is reported.
test_lists="test_trials test_trials_hard"
dev_lists="dev_trials dev_trials_hard"
backends="cosine cosine+asnorm plda"  # X+NORM: score-normalised X (see vib-results-table)
case $corpus_size in
  default) corpus_opts= ;;
  tiny) corpus_opts=--tiny=true ;;
  *) echo "$0: --corpus-size must be default or tiny, got '$corpus_size'" >&2; exit 1 ;;
esac
runs=$(for sys in $systems; do for seed in $seeds; do echo -n "${sys}_s$seed "; done; done)
start_time=$(date +%s)

# Stage 0: corpus/ - wav/<spk>/*.wav, data/{train,dev,test} Kaldi dirs with trials, musan/, RIRS_NOISES/.
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: generating the mini corpus in $corpus/"
  python -m local.mini_corpus.generate --nj "$nj" $corpus_opts "$corpus"
fi

# Stage 1: data/{train,dev,test}: Kaldi data dirs + Lhotse manifests; data/aug: noise/music/babble/RIR manifests.
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: data dirs and manifests"
  for x in train dev test; do
    mkdir -p data/$x
    for f in "$corpus"/data/$x/*; do
      [ -f "data/$x/$(basename "$f")" ] && [ "data/$x/$(basename "$f")" -nt "$f" ] || cp "$f" data/$x/
    done
    [ data/$x/cuts.jsonl.gz -nt data/$x/wav.scp ] || vib-kaldi-to-lhotse --nj "$nj" data/$x
  done
  [ -f data/aug/rir.jsonl.gz ] || vib-prepare-augmentation --nj "$nj" \
    --musan "$corpus/musan" --rirs "$corpus/RIRS_NOISES" data/aug
fi

# Stage 2: fbank/{train,dev,test}: 80-dim log-mel fbank (lilcom) and cuts pointing at it.
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: fbank features"
  for x in train dev test; do
    steps/compute_fbank.sh --cmd "$train_cmd" --nj "$nj" data/$x fbank/$x
  done
fi

# Stage 3: exp/<system>_s<seed>/final.pt for each system and seed (checkpoints every epoch; resumes).
# --train-jobs runs train side by side (the systems of one seed together), each with its own
# torch thread(s); their progress goes to exp/<run>/train.log (one line per epoch).
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  threads=$(( $(getconf _NPROCESSORS_ONLN) / train_jobs )); [ "$threads" -ge 1 ] || threads=1
  last_epoch() { tr '\r' '\n' < $exp/$1/train.log | grep "^epoch [0-9/]*: loss" | tail -1; }
  # one $cuda_cmd job per run, at most --train-jobs at a time (each resumes if killed)
  trap 'kill $(jobs -p) 2>/dev/null' EXIT
  pids=() names=()
  finish() {  # waits for the oldest running run
    wait ${pids[0]} || die "training ${names[0]} failed; see $exp/${names[0]}/log/train.log"
    log "stage 3: ${names[0]} done: $(last_epoch ${names[0]})"
    pids=("${pids[@]:1}") names=("${names[@]:1}")
  }
  for seed in $seeds; do
    for sys in $systems; do
      run=${sys}_s$seed
      log "stage 3: training $run ($conf_dir/$sys.yaml, seed $seed, $threads thread(s); log: $exp/$run/train.log)"
      $cuda_cmd $exp/$run/log/train.log steps/train.sh --num-threads $threads --overrides "seed=$seed" \
        "$conf_dir/$sys.yaml" fbank/train $exp/$run &
      pids+=($!) names+=($run)
      [ ${#pids[@]} -lt "$train_jobs" ] || finish
    done
  done
  while [ ${#pids[@]} -gt 0 ]; do finish; done
  trap - EXIT
fi

# Stage 4: exp/<run>/xvectors_{train,dev,test}: xvector.{ark,scp}, quality.{ark,scp} (log duration,
# VIB mean log-variance), spk_xvector.*, num_utts.ark.
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  for run in $runs; do
    for x in train dev test; do
      log "stage 4: $run embeddings of $x"
      steps/extract_embeddings.sh --cmd "$train_cmd" --nj "$nj" $exp/$run fbank/$x $exp/$run/xvectors_$x
    done
  done
fi

# Stage 5: exp/<run>/scores_{cosine,plda}_<set>_<list>/: scores and metrics.json.
# cosine: training mean removed, cosine; with the training speakers' mean vectors as
# cohort also adaptive s-norm (scores_asnorm, metrics_asnorm.json: back-end cosine+asnorm);
# plda: training mean, LDA, length norm, PLDA (Kaldi's egs/voxceleb/v2 chain), trained once
# per run in exp/<run>/xvectors_train/.
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  for x in dev test; do
    lists=${x}_lists
    log "stage 5: scoring $runs on ${!lists}"
    steps/score_systems.sh --cmd "$train_cmd" --systems "$runs" --train-data data/train $exp train $x \
      $(for list in ${!lists}; do echo $list=data/$x/${list#${x}_}; done)
  done
fi

# Stage 6: calibration trained on dev_trials, applied to the test lists: exp/<run>/scores_*_<list>/llr*
# (plain and with quality measures), metrics_llr*.json (actDCF, Cllr); exp/<run>/backend/
# calibration_<back-end>.json (with quality measures: what vib-verify uses).
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  log "stage 6: calibrating $runs on dev_trials"
  steps/calibrate_systems.sh --cmd "$train_cmd" --systems "$runs" --backends "$backends" $exp dev \
    dev_trials=data/dev/trials test $(for list in $test_lists; do echo $list=data/test/${list#test_}; done)
fi

# Stage 7: RESULTS.md (system x back-end x list; mean +- std over seeds, intervals, the paper's
# comparisons, calibration) and det.png (test_trials, seed ${seeds%% *}). A RESULTS.md newer than
# every metrics file is kept.
if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  log "stage 7: RESULTS.md and det.png"
  steps/make_results.sh --systems "$systems" --seeds "$seeds" --backends "$backends" \
    --lists "$test_lists $dev_lists" --calibrated-lists "$test_lists" --bootstrap "$bootstrap" \
    --trials "$([ "$bootstrap" -eq 0 ] || for list in $test_lists; do echo -n "$list=data/test/${list#test_} "; done)" \
    --compare "$([ "$bootstrap" -eq 0 ] || for pair in vib:aam vib:softmax aam:softmax; do
                 [[ " $systems " != *" ${pair%:*} "* || " $systems " != *" ${pair#*:} "* ]] || echo -n "$pair "; done)" \
    --fingerprint "python -m local.mini_corpus.fingerprint $corpus" \
    --title "egs/mini/v1 results" --command "$_cmdline" --started $start_time \
    --info "Corpus: $(wc -l < data/train/spk2utt) training classes; $(wc -l < data/dev/spk2utt) dev and $(wc -l < data/test/spk2utt) test speakers; test $(wc -l < data/test/trials) / $(wc -l < data/test/trials_hard) trials, dev $(wc -l < data/dev/trials) / $(wc -l < data/dev/trials_hard) (main / hard)" \
    $exp data/test/trials .
fi
