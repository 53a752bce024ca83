#!/usr/bin/env bash
# VoxCeleb recipe: the paper's comparison on real data. ResNet34 extractors trained
# on VoxCeleb2-dev with softmax, AAM and VIB losses (GPU, torchrun), online MUSAN +
# RIR augmentation; cosine, cosine + adaptive s-norm and mean + LDA + length-norm +
# PLDA back-ends on the cleaned VoxCeleb1-O/E/H lists -> RESULTS.md and det.png.
#
#   ./run.sh --nproc 4 --vox1-dev /corpora/voxceleb1/dev/wav --vox1-test /corpora/voxceleb1/test/wav \
#       --vox2-dev /corpora/voxceleb2/dev/aac --trials-dir /corpora/voxceleb1/lists \
#       --musan /corpora/musan --rirs /corpora/RIRS_NOISES
#   ./run.sh --nproc 4 --stage 3      # re-train / resume and re-score on the prepared data and features
#
# The data paths are only needed by the stages that read them (0: VoxCeleb and the
# lists, 1: MUSAN and RIRS_NOISES). Every stage skips work that is already complete,
# so re-running the same command after a kill resumes it. See README.md.
set -euo pipefail
_invocation="$0 $*"   # (a leading _ keeps it out of the options)
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh
. "$VIB_ROOT/utils/lib.sh"
. ./cmd.sh

stage=0
stop_stage=100
vox1_dev=          # VoxCeleb1 dev audio: idXXXXX/<video>/NNNNN.wav
vox1_test=         # VoxCeleb1 test audio
vox2_dev=          # VoxCeleb2 dev audio (.m4a as distributed, or converted .wav)
trials_dir=        # the official lists: veri_test2.txt, list_test_all2.txt, list_test_hard2.txt, ...
musan=             # MUSAN root: {noise,music,speech}/*/*.wav
rirs=              # RIRS_NOISES root: simulated_rirs/{small,medium,large}room/rir_list
nproc=1            # GPUs (processes) for torchrun in training
nj=8               # parallel jobs: data preparation, fbank, embedding extraction
device=auto        # embedding extraction on cuda or cpu (auto: cuda when there is one)
conf_dir=conf      # holds <system>.yaml for every system
systems="softmax aam vib"
lists="vox1_o_cleaned vox1_e_cleaned vox1_h_cleaned"   # any of vox1_{o,e,h}[_cleaned]
train_set=voxceleb2_dev   # voxceleb2_dev, voxceleb1_dev, or a data dir you put under data/
dev_speakers=200   # training-set speakers held out as the calibration dev set (0: none, no calibration)
top_n=300          # adaptive s-norm: cohort scores kept per side
shards=true        # train from Lhotse Shar shards (sequential reads) instead of the fbank manifest
shard_size=1000    # cuts per shard
lm_systems=        # systems to fine-tune with a large margin (WeSpeaker's / 3D-Speaker's stage), e.g. aam
help_message="Usage: $0 [options]
Stages: 0 data dirs + trials (+ the dev split), 1 augmentation manifests, 2 fbank (+ shards),
        3 training (+ large-margin fine-tuning), 4 embeddings, 5 scoring, 6 calibration on the dev
        list, 7 RESULTS.md + det.png
Options (defaults in brackets):
  --stage N / --stop-stage M   run stages N..M [0 / 100]
  --vox1-dev DIR --vox1-test DIR --vox2-dev DIR --trials-dir DIR   (stage 0)
  --musan DIR --rirs DIR                                            (stage 1)
  --nproc N          GPUs for training under torchrun [$nproc]
  --nj N             parallel jobs for preparation, fbank, extraction [$nj]
  --device D         extraction device: auto, cuda or cpu [$device]
  --conf-dir DIR     system configs <DIR>/<system>.yaml [$conf_dir]
  --systems 'a b'    [$systems]
  --lists 'a b'      trial lists [$lists]
  --train-set NAME   [$train_set]
  --dev-speakers N   speakers of the training set held out (data/<train-set>_cal, with trials) to calibrate
                     on; the extractors train on the others (data/<train-set>_fit); 0: train on all [$dev_speakers]
  --top-n N          AS-norm top-N cohort scores [$top_n]
  --shards true|false  train from shards of features + audio (steps/make_shards.sh) [$shards]
  --shard-size N     cuts per shard [$shard_size]
  --lm-systems 'a'   fine-tune these systems into exp/<sys>_lm with <conf-dir>/<sys>_lm.yaml: longer
                     crops, a larger margin, a few epochs at a small learning rate, from exp/<sys>/final.pt
                     (trunk and head); scored beside the others [none]"
. utils/parse_options.sh

[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see --help)"

eval_set=voxceleb1           # VoxCeleb1 dev + test: every utterance of the O, E and H lists
backends="cosine cosine+asnorm plda"  # X+NORM: score-normalised X (see vib-results-table)
start_time=$(date +%s)
runs() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
# The extractors and the back-ends train on fit_set; cal_set (held-out speakers) is the dev set.
fit_set=$train_set cal_set=
[ "$dev_speakers" -eq 0 ] || fit_set=${train_set}_fit cal_set=${train_set}_cal

# trials_of <list>: the Kaldi trial file stage 0 made for <list> (in voxceleb1_test or voxceleb1).
trials_of() {
  local d
  for d in voxceleb1_test voxceleb1; do
    [ -f "data/$d/trials_$1" ] && { echo "data/$d/trials_$1"; return 0; }
  done
  return 1
}
prepared() {  # stage 0 is complete: the data dirs and every trial list exist
  local x
  for x in $eval_set $train_set; do [ -f data/$x/cuts.jsonl.gz ] || return 1; done
  for x in $lists; do trials_of $x >/dev/null || return 1; done
}
aug_prepared() { local x; for x in noise music speech rir; do [ -f data/aug/$x.jsonl.gz ] || return 1; done; }

# Check the options before any work: a path given must exist (whether or not its stage
# still has work to do); one that a stage with work to do needs must be given.
for opt in vox1_dev vox1_test vox2_dev trials_dir musan rirs; do
  [ -z "${!opt}" ] || [ -d "${!opt}" ] || die "--${opt//_/-} '${!opt}' is not a directory"
done
need() { local var=${1//-/_}; [ -n "${!var}" ] || die "--$1 is required: $2"; }
if runs 0 && ! prepared; then
  need vox1-dev "VoxCeleb1 dev audio (idXXXXX/<video>/NNNNN.wav), for the E and H lists"
  need vox1-test "VoxCeleb1 test audio, for the O lists"
  need trials-dir "the dir with the official trial lists (veri_test2.txt, list_test_all2.txt, list_test_hard2.txt)"
  case $train_set in
    voxceleb2_dev) need vox2-dev "VoxCeleb2 dev audio (idXXXXX/<video>/NNNNN.m4a or .wav), the training set" ;;
    voxceleb1_dev) ;;
    *) [ -f data/$train_set/cuts.jsonl.gz ] || die "--train-set '$train_set' is neither voxceleb2_dev nor voxceleb1_dev, and data/$train_set/cuts.jsonl.gz does not exist (make it with vib-kaldi-to-lhotse data/$train_set)" ;;
  esac
fi
if runs 1 && ! aug_prepared; then
  need musan "the MUSAN root ({noise,music,speech}/*/*.wav)"
  need rirs "the RIRS_NOISES root (simulated_rirs/*room/rir_list)"
fi
if runs 3; then
  for sys in $systems $(for s in $lm_systems; do echo ${s}_lm; done); do
    [ -f "$conf_dir/$sys.yaml" ] || die "no config '$conf_dir/$sys.yaml' for system '$sys' (see --conf-dir, --systems, --lm-systems)"
  done
fi
for sys in $lm_systems; do
  [[ " $systems " == *" $sys "* ]] || die "--lm-systems: '$sys' is not one of --systems ($systems)"
done
case $device in auto|cuda|cpu) ;; *) die "--device must be auto, cuda or cpu, got '$device'" ;; esac

# Stage 0: data/{voxceleb1_dev,voxceleb1_test,voxceleb1,voxceleb2_dev}/: Kaldi data dirs
# (wav.scp; m4a through ffmpeg pipes) + Lhotse manifests; data/voxceleb1*/trials_<list>
# converted from the official label-first lists.
if runs 0; then
  if prepared; then
    log "stage 0: data dirs and trial lists are ready"
  else
    log "stage 0: preparing VoxCeleb"
    vox2_opt=()
    [ $train_set != voxceleb2_dev ] || vox2_opt=(--vox2-dev "$vox2_dev")
    python -m local.prepare_voxceleb --nj "$nj" --vox1-dev "$vox1_dev" --vox1-test "$vox1_test" \
      "${vox2_opt[@]}" --trials-dir "$trials_dir" data
    for l in $lists; do
      trials_of $l >/dev/null || die "trial list '$l' was not made: its official file is not in --trials-dir '$trials_dir' (vox1_o_cleaned: veri_test2.txt, vox1_e_cleaned: list_test_all2.txt, vox1_h_cleaned: list_test_hard2.txt; without _cleaned: veri_test.txt, list_test_all.txt, list_test_hard.txt)"
    done
  fi
  if [ "$dev_speakers" -gt 0 ]; then
    if up_to_date data/$cal_set/trials data/$train_set/cuts.jsonl.gz && [ -f data/$fit_set/cuts.jsonl.gz ]; then
      log "stage 0: dev split $cal_set / $fit_set is ready"
    else
      log "stage 0: holding $dev_speakers speakers of $train_set out as $cal_set (calibration dev set)"
      vib-split-speakers --num-speakers "$dev_speakers" data/$train_set data/$fit_set data/$cal_set
    fi
  fi
fi

# Stage 1: data/aug/{noise,music,speech,rir}.jsonl.gz: MUSAN and RIRS_NOISES recordings
# that the configs' augmentation section draws from.
if runs 1; then
  if aug_prepared; then
    log "stage 1: augmentation manifests are ready"
  else
    log "stage 1: augmentation manifests"
    vib-prepare-augmentation --nj "$nj" --musan "$musan" --rirs "$rirs" data/aug
  fi
fi

# Stage 2: fbank/{<train-set>,voxceleb1}/: 80-dim log-mel fbank (lilcom) and cuts.jsonl.gz
# pointing at it (the training set's fbank.yaml also sets the on-the-fly features).
# With --shards true, shards/<train-set>/: the training cuts with features and audio (FLAC) in
# tar shards of --shard-size cuts, read front to back in training (VoxCeleb2 as files does
# not fit a page cache, and random reads of a million small files bound training).
case $shards in true|false) ;; *) die "--shards must be true or false, got '$shards'" ;; esac
train_data=fbank/$fit_set
! $shards || train_data=shards/$fit_set
if runs 2; then
  for x in $fit_set $eval_set $cal_set; do
    log "stage 2: fbank of $x"
    steps/compute_fbank.sh --cmd "$train_cmd" --nj "$nj" data/$x fbank/$x
  done
  if $shards; then
    log "stage 2: shards of $fit_set"
    steps/make_shards.sh --audio true --shard-size "$shard_size" --nj "$nj" fbank/$fit_set $train_data
  fi
fi

# Stage 3: exp/<system>/final.pt (average of the last checkpoints), checkpoints/, train.jsonl,
# curve.png, train.log, trained from $train_data. A killed run resumes from its newest
# checkpoint; a system whose final.pt is newer than its config is done.
if runs 3; then
  for sys in $systems; do
    if [ -f exp/$sys/final.pt ] && [ exp/$sys/final.pt -nt "$conf_dir/$sys.yaml" ]; then
      log "stage 3: $sys is trained (exp/$sys/final.pt)"; continue
    fi
    log "stage 3: training $sys ($conf_dir/$sys.yaml, $nproc process(es))"
    $cuda_cmd --gpu "$nproc" exp/$sys/log/train.log steps/train.sh --nproc "$nproc" "$conf_dir/$sys.yaml" \
      $train_data exp/$sys || die "training $sys failed; see exp/$sys/log/train.log"
  done
  # Large-margin fine-tuning: exp/<sys>_lm starts from exp/<sys>/final.pt, trunk and head.
  for sys in $lm_systems; do
    lm=${sys}_lm
    if [ -f exp/$lm/final.pt ] && [ exp/$lm/final.pt -nt "$conf_dir/$lm.yaml" ] && [ exp/$lm/final.pt -nt exp/$sys/final.pt ]; then
      log "stage 3: $lm is fine-tuned (exp/$lm/final.pt)"; continue
    fi
    log "stage 3: large-margin fine-tuning of $sys into $lm ($conf_dir/$lm.yaml)"
    $cuda_cmd --gpu "$nproc" exp/$lm/log/train.log steps/train.sh --nproc "$nproc" \
      --overrides "train.init_from=exp/$sys/final.pt train.init_head=true" "$conf_dir/$lm.yaml" $train_data exp/$lm \
      || die "fine-tuning $lm failed; see exp/$lm/log/train.log"
  done
fi
systems="$systems $(for s in $lm_systems; do echo -n "${s}_lm "; done)"  # the fine-tuned ones are scored too
systems=$(echo $systems)

# Stage 4: exp/<system>/xvectors_{voxceleb1,<train-set>}/: xvector.{ark,scp}, spk_xvector.*,
# num_utts.ark. The training set's vectors train the PLDA and its speaker means are the
# AS-norm cohort.
if runs 4; then
  [ "$device" != auto ] || device=$(python -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
  for sys in $systems; do
    for x in $eval_set $fit_set $cal_set; do
      out=exp/$sys/xvectors_$x
      if [ -f $out/spk_xvector.scp ] && [ $out/spk_xvector.scp -nt exp/$sys/final.pt ] \
         && [ $out/spk_xvector.scp -nt fbank/$x/cuts.jsonl.gz ]; then
        log "stage 4: $out is up to date"; continue
      fi
      log "stage 4: $sys embeddings of $x on $device"
      steps/extract_embeddings.sh --cmd "$train_cmd" --nj "$nj" --device "$device" exp/$sys fbank/$x $out
    done
  done
fi

# Stage 5: exp/<system>/scores_{cosine,plda}_<list>/{scores,metrics.json}.
#   cosine:        training mean removed, cosine;
#   cosine+asnorm: the same scores with adaptive s-norm, cohort = the training speakers' mean
#                  vectors, top-N (scores_asnorm, metrics_asnorm.json in scores_cosine_<list>);
#   plda:          training mean, LDA to 200, length norm, PLDA trained on the training set.
# The back-end models depend only on the training set: they are trained once per system in
# exp/<system>/xvectors_<train-set>/ (as in Kaldi) and reused for every list.
if runs 5; then
  specs=()
  for l in $lists; do
    t=$(trials_of $l) || die "no trial list '$l' under data/voxceleb1*/ (run stage 0 with it in --lists)"
    specs+=("$l=$t")
  done
  log "stage 5: scoring $systems on $lists"
  steps/score_systems.sh --cmd "$train_cmd" --systems "$systems" --top-n $top_n exp $fit_set $eval_set "${specs[@]}"
  if [ -n "$cal_set" ]; then
    log "stage 5: scoring $systems on the dev list of $cal_set"
    steps/score_systems.sh --cmd "$train_cmd" --systems "$systems" --top-n $top_n exp $fit_set $cal_set \
      dev=data/$cal_set/trials
  fi
fi

# Stage 6: calibration trained on the dev list (held-out training speakers), plain and with quality
# measures, applied to every list: exp/<system>/scores_*_<list>/*llr*, backend/calibration_*.json.
if runs 6 && [ -n "$cal_set" ]; then
  log "stage 6: calibrating $systems on the dev list of $cal_set"
  specs=()
  for l in $lists; do specs+=("$l=$(trials_of $l)"); done
  steps/calibrate_systems.sh --cmd "$train_cmd" --systems "$systems" --backends "$backends" exp $cal_set \
    dev=data/$cal_set/trials $eval_set "${specs[@]}"
fi

# Stage 7: RESULTS.md (list x back-end x system: EER, minDCF 0.01, minDCF 0.001; calibration)
# and det.png (DET curves of every system and back-end on the first list). A RESULTS.md newer
# than every metrics file is kept.
if runs 7; then
  log "stage 7: RESULTS.md and det.png"
  info=$(printf '%s\n' "Configs: $(for sys in $systems; do echo "$conf_dir/$sys.yaml"; done | paste -sd' ')" \
    "Training set: $fit_set, $(wc -l < data/$fit_set/spk2utt) speakers, $(wc -l < data/$fit_set/utt2spk) utterances${cal_set:+; dev (calibration): $cal_set, $(wc -l < data/$cal_set/spk2utt) speakers, $(wc -l < data/$cal_set/trials) trials}" \
    "Trials: $(for l in $lists; do t=$(trials_of $l); printf '%s %s (%s target), ' $l "$(wc -l < $t)" "$(grep -c ' target$' $t || true)"; done | sed 's/, $//')")
  steps/make_results.sh --systems "$systems" --backends "$backends" --lists "$lists${cal_set:+ dev}" \
    --calibrated-lists "${cal_set:+$lists}" \
    --title "egs/voxceleb/v1 results" --command "$_invocation" --started $start_time --info "$info" \
    --note "cosine+asnorm: adaptive s-norm, top $top_n of the $fit_set speaker means. plda: mean, LDA, length norm, PLDA trained on $fit_set. Published figures for comparison: README.md." \
    exp "$(trials_of ${lists%% *})" .
fi
