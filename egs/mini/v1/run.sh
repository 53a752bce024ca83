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
short_durations="1.0 2.0"    # short-segment conditions: the test cuts cut to their first D seconds (none: "")
up_variance_scale=1e-3       # plda+up: the VIB variances are scaled by this (chosen on dev_trials: TUNING.md)
real_speech=auto             # the out-of-domain real-speech set data/real (local/real_speech): true | false |
                             # auto (skipped, saying why, when its Debian packages cannot be fetched)
real_speech_cache=corpus/debs  # where its packages are downloaded and unpacked (kept)
exp=exp                      # experiment dir: <exp>/<system>_s<seed> (another one for a tuning run)
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--corpus-size default|tiny] [--conf-dir DIR] [--systems 'a b'] [--seeds '0 1 2'] [--train-jobs N] [--bootstrap N] [--short-durations '1.0 2.0'] [--up-variance-scale X] [--real-speech auto|true|false] [--real-speech-cache DIR] [--exp DIR]
Stages: 0 corpus, 1 data dirs + manifests, 2 fbank (+ short-segment test sets, real-speech set), 3 training, 4 embeddings, 5 scoring, 6 calibration, 7 RESULTS.md"
. utils/parse_options.sh


corpus=corpus                 # generated audio, Kaldi data dirs, trials, noise and RIRs
# Trial lists, <set>_<list>: configs and the calibration are chosen on dev; test is reported.
test_lists="test_trials test_trials_hard"
dev_lists="dev_trials dev_trials_hard"
# the real-speech set's: all its speakers, and non-targets within one language only
real_lists="real_trials real_trials_same_lang"
backends="cosine cosine+asnorm plda"  # X+NORM: score-normalised X (see vib-results-table)
case $corpus_size in
  default) corpus_opts= ;;
  tiny) corpus_opts=--tiny=true ;;
  *) echo "$0: --corpus-size must be default or tiny, got '$corpus_size'" >&2; exit 1 ;;
esac
runs=$(for sys in $systems; do for seed in $seeds; do echo -n "${sys}_s$seed "; done; done)
# short-segment test sets: test_<D>s (the enrollment side of their trials stays whole)
short_sets=$(for d in $short_durations; do echo -n "test_$(printf %g "$d")s "; done)
case $real_speech in auto|true|false) ;; *) die "--real-speech must be auto, true or false, got '$real_speech'" ;; esac
real_set() {  # "real" when the real-speech set is in use and its features exist
  [ "$real_speech" = false ] || [ ! -f fbank/real/cuts.jsonl.gz ] || echo real
}
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

# Stage 2: fbank/{train,dev,test}: 80-dim log-mel fbank (lilcom) and cuts pointing at it;
# fbank/test_<D>s: the first D seconds of every test cut (the same features), data/test_<D>s/trials;
# data/real, fbank/real: the real-speech set (corpus/real_speech, packages cached in --real-speech-cache).
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: fbank features"
  for x in train dev test; do
    steps/compute_fbank.sh --cmd "$train_cmd" --nj "$nj" data/$x fbank/$x
  done
  for d in $short_durations; do
    x=test_$(printf %g "$d")s
    [ fbank/$x/cuts.jsonl.gz -nt fbank/test/cuts.jsonl.gz ] && [ data/$x/trials -nt data/test/trials ] && continue
    log "stage 2: $x: the test cuts cut to $d s"
    vib-truncate-cuts --duration "$d" --trials data/test/trials=data/$x/trials fbank/test fbank/$x
  done
  # data/real, fbank/real: real voices from Debian packages, scored as an out-of-domain list
  if [ "$real_speech" != false ]; then
    if [ -f data/real/trials_same_lang ] || python -m local.real_speech.prepare --cache "$real_speech_cache" \
         corpus/real_speech 2> corpus/real_speech.log; then
      if [ ! -f data/real/trials_same_lang ]; then  # not yet made, or made before the same-language list
        rm -rf data/real.tmp && cp -r corpus/real_speech/data data/real.tmp && rm -rf data/real && mv data/real.tmp data/real
      fi
      [ data/real/cuts.jsonl.gz -nt data/real/wav.scp ] || vib-kaldi-to-lhotse --nj "$nj" data/real
      steps/compute_fbank.sh --cmd "$train_cmd" --nj "$nj" data/real fbank/real
    elif [ "$real_speech" = true ]; then
      die "the real-speech set: $(tail -n 1 corpus/real_speech.log)"
    else
      log "stage 2: skipping the real-speech set (--real-speech auto): $(tail -n 1 corpus/real_speech.log)"
    fi
  fi
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

# Stage 4: exp/<run>/xvectors_{train,dev,test,test_<D>s}: xvector.{ark,scp}, quality.{ark,scp}
# (log duration, VIB mean log-variance), spk_xvector.*, num_utts.ark; from a VIB extractor also
# its variances xvector_var.{ark,scp} (but for train), which the PLDA back-end then propagates.
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  for run in $runs; do
    variance=$(vib-model-info --field variance $exp/$run)
    for x in train dev test $short_sets $(real_set); do
      log "stage 4: $run embeddings of $x"
      steps/extract_embeddings.sh --cmd "$train_cmd" --nj "$nj" --write-var $([ $x = train ] && echo false || echo $variance) \
        $exp/$run fbank/$x $exp/$run/xvectors_$x
    done
  done
fi

# Stage 5: exp/<run>/scores_{cosine,plda}_<set>_<list>/: scores and metrics.json.
# cosine: training mean removed, cosine; with the training speakers' mean vectors as
# cohort also adaptive s-norm (scores_asnorm, metrics_asnorm.json: back-end cosine+asnorm);
# plda: training mean, LDA, length norm, PLDA (Kaldi's egs/voxceleb/v2 chain), trained once
# per run in exp/<run>/xvectors_train/; for a VIB run also PLDA with its variances propagated
# (scores_up, metrics_up.json: back-end plda+up; variances scaled by --up-variance-scale). The
# short-segment lists test_<D>s_trials enroll with the whole test utterances.
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  for x in dev test; do
    lists=${x}_lists
    log "stage 5: scoring $runs on ${!lists}"
    steps/score_systems.sh --cmd "$train_cmd" --systems "$runs" --train-data data/train \
      --variance-scale $up_variance_scale $exp train $x $(for list in ${!lists}; do echo $list=data/$x/${list#${x}_}; done)
  done
  for x in $short_sets; do
    log "stage 5: scoring $runs on ${x}_trials"
    steps/score_systems.sh --cmd "$train_cmd" --systems "$runs" --train-data data/train --enroll-set test \
      --variance-scale $up_variance_scale $exp train $x ${x}_trials=data/$x/trials
  done
  for x in $(real_set); do
    log "stage 5: scoring $runs on $real_lists (out of domain)"
    steps/score_systems.sh --cmd "$train_cmd" --systems "$runs" --train-data data/train \
      --variance-scale $up_variance_scale $exp train real $(for list in $real_lists; do echo $list=data/real/${list#real_}; done)
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
# comparisons, plda+up vs plda, calibration, the VIB variance against duration), det.png
# (test_trials, seed ${seeds%% *}) and uncertainty.png. A RESULTS.md newer than every metrics file is kept.
if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  log "stage 7: RESULTS.md, det.png and uncertainty.png"
  short_lists=$(for x in $short_sets; do echo -n "${x}_trials "; done)
  [ -n "$(real_set)" ] || real_lists=
  # systems whose runs have VIB variances (stage 4 wrote them; stage 5 scored plda+up where they are)
  var_systems=$(for sys in $systems; do
                  [ ! -f $exp/${sys}_s${seeds%% *}/xvectors_test/xvector_var.scp ] || echo -n "$sys "; done)
  # the VIB variance against duration: every seed in the table, the first one in the plot
  uncertainty=
  if [ -n "$var_systems" ]; then
    sets=$(for sys in $var_systems; do for seed in $seeds; do for x in test $short_sets; do
             echo -n "${sys}_s$seed/$x=scp:$exp/${sys}_s$seed/xvectors_$x/quality.scp "; done; done; done)
    first=$(for x in test $short_sets; do echo -n "${var_systems%% *}_s${seeds%% *}/$x,"; done)
    uncertainty=$(vib-uncertainty-report --plot uncertainty.png --plot-sets "$first" \
      --title "VIB variance on the test utterances (${var_systems%% *}, seed ${seeds%% *})" $sets)
  fi
  steps/make_results.sh --systems "$systems" --seeds "$seeds" --backends "$backends${var_systems:+ plda+up}" \
    --backend-systems "${var_systems:+plda+up=$(echo $var_systems | tr " " ",")}" --compare-backends "${var_systems:+plda+up:plda}" \
    --lists "$test_lists $short_lists$real_lists${real_lists:+ }$dev_lists" --calibrated-lists "$test_lists" --calibrated-backends "$backends" \
    --bootstrap "$bootstrap" \
    --trials "$([ "$bootstrap" -eq 0 ] || for list in $test_lists $short_lists $real_lists; do
                x=${list%_trials*}; echo -n "$list=data/$x/${list#${x}_} "; done)" \
    --compare "$([ "$bootstrap" -eq 0 ] || for pair in vib:aam vib:softmax aam:softmax; do
                 [[ " $systems " != *" ${pair%:*} "* || " $systems " != *" ${pair#*:} "* ]] || echo -n "$pair "; done)" \
    --fingerprint "python -m local.mini_corpus.fingerprint $corpus" \
    --title "egs/mini/v1 results" --command "$_cmdline" --started $start_time \
    --info "Corpus: $(wc -l < data/train/spk2utt) training classes; $(wc -l < data/dev/spk2utt) dev and $(wc -l < data/test/spk2utt) test speakers; test $(wc -l < data/test/trials) / $(wc -l < data/test/trials_hard) trials, dev $(wc -l < data/dev/trials) / $(wc -l < data/dev/trials_hard) (main / hard)${short_sets:+; short-segment lists $short_lists(the test side cut to ${short_durations// / s, } s, the enrollment side whole)}$([ -z "$(real_set)" ] || echo "; real_trials: out of domain, $(wc -l < data/real/spk2utt) speakers of recorded speech in $(cut -d' ' -f2 data/real/utt2lang | sort -u | wc -l) languages from Debian packages (local/real_speech: $(grep -c '^uqm-' data/real/spk2utt) voice actors of The Ur-Quan Masters, $(grep -c '^tux-' data/real/spk2utt) narrators of Tux Paint), $(wc -l < data/real/trials) trials; real_trials_same_lang: its non-targets within one language only, $(wc -l < data/real/trials_same_lang) trials")" \
    --note "${uncertainty:+
### The VIB variance against duration (test utterances; uncertainty.png)

$uncertainty}" \
    $exp data/test/trials .
fi
