#!/usr/bin/env bash
# Kaldi egs/voxceleb/v2 back-end: training mean, LDA, length norm, PLDA, scoring, metrics.
set -euo pipefail

lda_dim=200          # capped at min(dim, #train speakers - 1)
num_em_iters=10
smoothing=0.0        # ivector-copy-plda --smoothing before scoring (0: none)
enroll_level=utt     # utt: enroll with <enroll-dir>/xvector.scp; spk: spk_xvector.scp + num_utts.ark
train_data=          # data dir with utt2spk and spk2utt of the training vectors (default: <train-dir>)
plda_dir=            # where mean.vec, transform.mat and plda are kept (default: <score-dir>); give the
                     # same dir for every trial list and they are trained once, then reused
skip_missing=false   # drop trials whose key has no vector (else an error)
use_kaldi=false      # run Kaldi's own binaries (ivector-*, transform-vec) instead of vib-*
uncertainty=false    # also score with the VIB variances propagated (vib-plda-scoring-up): scores_up and
                     # metrics_up.json; needs xvector_var.scp in <enroll-dir> and <test-dir> (--enroll-level utt)
variance_scale=1.0   # --uncertainty: the variances are multiplied by this first (choose it on a dev list)
cmd=run.pl           # job runner for each back-end command (Kaldi's cmd.sh)
help_message="Usage: $0 [options] <train-xvector-dir> <enroll-xvector-dir> <test-xvector-dir> <trials> <score-dir>
 e.g.: $0 --lda-dim 200 exp/vib/xvectors_train exp/vib/xvectors_test exp/vib/xvectors_test data/test/trials exp/vib/scores_plda_test
Each xvector dir holds xvector.scp (and, for --enroll-level spk, spk_xvector.scp and num_utts.ark).
The training speakers come from utt2spk and spk2utt in --train-data (default: the train xvector dir).
Trials: 'enroll test target|nontarget'. As in Kaldi's egs/voxceleb/v2 (the models in --plda-dir,
default <score-dir>; Kaldi keeps them in the training xvector dir):
  mean.vec      = ivector-mean of the training vectors
  transform.mat = ivector-compute-lda --total-covariance-factor=0.0 --dim=\$lda_dim (training mean removed)
  plda          = ivector-compute-plda on mean-removed, LDA-projected, length-normalised training vectors
  scores        = ivector-plda-scoring --normalize-length=true, both sides through the same transforms
  metrics.json  = vib-compute-metrics --llr=true (EER, minDCF at 0.01/0.001/0.05, actDCF, Cllr)
  scores_up     = with --uncertainty true: vib-plda-scoring-up on the raw vectors and their variances
                  (xvector_var.scp), the same models (metrics_up.json)
Finished outputs newer than their inputs are kept when the script is re-run."
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -ne 5 ]; then echo "$help_message" >&2; exit 1; fi
train=$1 enroll=$2 test=$3 trials=$4 dir=$5

train_data=${train_data:-$train}
for f in "$train/xvector.scp" "$train_data/utt2spk" "$train_data/spk2utt" "$trials"; do
  [ -f "$f" ] || die "no such file: $f"
done
case $enroll_level in
  utt) enroll_scp=$enroll/xvector.scp; num_utts_opt= ;;
  spk) enroll_scp=$enroll/spk_xvector.scp; num_utts_opt=--num-utts=ark:$enroll/num_utts.ark
       [ -f "$enroll/num_utts.ark" ] || die "no such file: $enroll/num_utts.ark" ;;
  *) die "--enroll-level must be utt or spk, got '$enroll_level'" ;;
esac
[ -f "$enroll_scp" ] || die "no such file: $enroll_scp"
[ -f "$test/xvector.scp" ] || die "no such file: $test/xvector.scp"
if $uncertainty; then
  [ "$enroll_level" = utt ] || die "--uncertainty true needs --enroll-level utt (speaker means have no variance)"
  for f in "$enroll/xvector_var.scp" "$test/xvector_var.scp"; do
    [ -f "$f" ] || die "--uncertainty true: no such file: $f (extract with --write-var true)"
  done
fi

if $use_kaldi; then
  mean=ivector-mean subtract=ivector-subtract-global-mean lda=ivector-compute-lda
  transform=transform-vec normalize=ivector-normalize-length train_plda=ivector-compute-plda
  copy_plda=ivector-copy-plda score=ivector-plda-scoring skip_opt=
  for b in $mean $subtract $lda $transform $normalize $train_plda $copy_plda $score; do
    command -v $b >/dev/null || die "--use-kaldi true: Kaldi binary '$b' is not on PATH (add Kaldi's src/*bin dirs to PATH)"
  done
else
  mean=vib-ivector-mean subtract=vib-ivector-subtract-global-mean lda=vib-compute-lda
  transform=vib-transform-vec normalize=vib-ivector-normalize-length train_plda=vib-compute-plda
  copy_plda=vib-copy-plda score=vib-plda-scoring skip_opt=--skip-missing=$skip_missing
fi
model=${plda_dir:-$dir}
mkdir -p "$dir/log" "$model/log"

if ! up_to_date "$model/mean.vec" "$train/xvector.scp"; then
  log "training mean ($mean)"
  $cmd $model/log/mean.log $mean scp:$train/xvector.scp $model/mean.vec.tmp || die "see $model/log/mean.log"
  mv $model/mean.vec.tmp $model/mean.vec
fi

if ! up_to_date "$model/transform.mat" "$train/xvector.scp" "$train_data/utt2spk"; then
  dim=$(vib-vector-dim scp:$train/xvector.scp)
  num_spk=$(wc -l < $train_data/spk2utt)
  cap=$(( dim < num_spk - 1 ? dim : num_spk - 1 ))
  [ $cap -ge 1 ] || die "need at least 2 training speakers for LDA, found $num_spk"
  dim_used=$(( lda_dim < cap ? lda_dim : cap ))
  [ $dim_used -eq $lda_dim ] || log "LDA dimension capped at $dim_used (input dim $dim, $num_spk speakers)"
  log "LDA to $dim_used dims ($lda)"
  $cmd $model/log/lda.log $lda --total-covariance-factor=0.0 --dim=$dim_used \
    "ark:$subtract scp:$train/xvector.scp ark:- |" ark:$train_data/utt2spk $model/transform.mat.tmp \
    || die "see $model/log/lda.log"
  mv $model/transform.mat.tmp $model/transform.mat
fi

prep() {  # rspecifier of the vectors of scp $1 after mean removal, LDA and length norm
  echo "ark:$subtract $model/mean.vec scp:$1 ark:- | $transform $model/transform.mat ark:- ark:- | $normalize ark:- ark:- |"
}

if ! up_to_date "$model/plda" "$model/transform.mat" "$model/mean.vec" "$train_data/spk2utt"; then
  log "PLDA, $num_em_iters E-M iterations ($train_plda)"
  $cmd $model/log/plda.log $train_plda --num-em-iters=$num_em_iters ark:$train_data/spk2utt \
    "ark:$subtract scp:$train/xvector.scp ark:- | $transform $model/transform.mat ark:- ark:- | $normalize ark:- ark:- |" \
    $model/plda.tmp || die "see $model/log/plda.log"
  mv $model/plda.tmp $model/plda
fi

plda_in=$model/plda
[ "$smoothing" = 0.0 ] || [ "$smoothing" = 0 ] || plda_in="$copy_plda --smoothing=$smoothing $model/plda - |"
if ! up_to_date "$dir/scores" "$model/plda" "$enroll_scp" "$test/xvector.scp" "$trials"; then
  log "scoring $(wc -l < $trials) trials ($score)"
  $cmd $dir/log/score.log $score --normalize-length=true $num_utts_opt $skip_opt "$plda_in" "$(prep $enroll_scp)" \
    "$(prep $test/xvector.scp)" "cut -d' ' -f1,2 $trials |" $dir/scores.tmp || die "see $dir/log/score.log"
  mv $dir/scores.tmp $dir/scores
fi

# scores_up.scale: the --variance-scale they were made with (another one rescores)
if $uncertainty && { ! up_to_date "$dir/scores_up" "$model/plda" "$enroll_scp" "$enroll/xvector_var.scp" \
    "$test/xvector.scp" "$test/xvector_var.scp" "$trials" ||
    [ "$(cat $dir/scores_up.scale 2> /dev/null)" != "$variance_scale" ]; }; then
  log "scoring $(wc -l < $trials) trials with uncertainty propagation (vib-plda-scoring-up)"
  $cmd $dir/log/score_up.log vib-plda-scoring-up --normalize-length=true --skip-missing=$skip_missing \
    --variance-scale=$variance_scale \
    --mean=$model/mean.vec --lda=$model/transform.mat "$plda_in" scp:$enroll_scp scp:$enroll/xvector_var.scp \
    scp:$test/xvector.scp scp:$test/xvector_var.scp "cut -d' ' -f1,2 $trials |" $dir/scores_up.tmp \
    || die "see $dir/log/score_up.log"
  mv $dir/scores_up.tmp $dir/scores_up
  echo "$variance_scale" > $dir/scores_up.scale  # after the scores: a killed run rescores
fi

metrics() {  # metrics() <scores> <name>: <dir>/<name>.json and log/<name>.log of <scores>
  if ! up_to_date "$dir/$2.json" "$1" "$trials" || [ ! -s "$dir/log/$2.log" ]; then
    vib-compute-metrics --llr=true --json-out=$dir/$2.json --p-target=0.01,0.001,0.05 $trials $1 \
      > $dir/log/$2.log || die "metrics of $1 failed"
  fi
  log "$(cat $dir/log/$2.log) -> $dir/$2.json"
}
metrics $dir/scores metrics
! $uncertainty || metrics $dir/scores_up metrics_up
