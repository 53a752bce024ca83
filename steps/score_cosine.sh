#!/usr/bin/env bash
# Cosine scoring, optionally after removing a training mean, with optional cohort score normalisation.
set -euo pipefail

train_dir=           # xvector dir whose mean (of xvector.scp) is removed from every side first
mean_dir=            # where that mean.vec is kept (default: <score-dir>); one dir for every list: computed once
cohort=              # cohort rspecifier (e.g. scp:exp/sys/xvectors_train/spk_xvector.scp): enables --norm-method
norm_method=asnorm   # asnorm | snorm | znorm | tnorm (only with --cohort)
top_n=300            # cohort scores kept per side for asnorm
enroll_level=utt     # utt: <enroll-dir>/xvector.scp; spk: <enroll-dir>/spk_xvector.scp
skip_missing=false   # drop trials whose key has no vector (else an error)
use_kaldi=false      # Kaldi's ivector-normalize-length --scaleup=false + ivector-compute-dot-products
cmd=run.pl           # job runner for each scoring command (Kaldi's cmd.sh)
help_message="Usage: $0 [options] <enroll-xvector-dir> <test-xvector-dir> <trials> <score-dir>
 e.g.: $0 --cohort scp:exp/vib/xvectors_train/spk_xvector.scp exp/vib/xvectors_test exp/vib/xvectors_test data/test/trials exp/vib/scores_cosine_test
Writes <score-dir>/scores and metrics.json; with --cohort also scores_<norm-method> and
metrics_<norm-method>.json. Trials: 'enroll test target|nontarget'.
Finished outputs newer than their inputs are kept when the script is re-run."
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -ne 4 ]; then echo "$help_message" >&2; exit 1; fi
enroll=$1 test=$2 trials=$3 dir=$4

case $enroll_level in
  utt) enroll_scp=$enroll/xvector.scp ;;
  spk) enroll_scp=$enroll/spk_xvector.scp ;;
  *) die "--enroll-level must be utt or spk, got '$enroll_level'" ;;
esac
for f in "$enroll_scp" "$test/xvector.scp" "$trials" ${train_dir:+"$train_dir/xvector.scp"}; do
  [ -f "$f" ] || die "no such file: $f"
done
if $use_kaldi; then
  [ -z "$cohort" ] || die "--use-kaldi true: Kaldi has no score normalisation; drop --cohort"
  subtract=ivector-subtract-global-mean
  for b in ivector-mean $subtract ivector-normalize-length ivector-compute-dot-products; do
    command -v $b >/dev/null || die "--use-kaldi true: Kaldi binary '$b' is not on PATH (add Kaldi's src/*bin dirs to PATH)"
  done
else
  subtract=vib-ivector-subtract-global-mean
fi
mean=${mean_dir:-$dir}/mean.vec
mkdir -p "$dir/log" "$(dirname "$mean")"

vectors() {  # rspecifier of scp $1 with the training mean removed (if --train-dir)
  if [ -n "$train_dir" ]; then echo "ark:$subtract $mean $1 ark:- |"; else echo "$1"; fi
}
if [ -n "$train_dir" ] && ! up_to_date "$mean" "$train_dir/xvector.scp"; then
  log "training mean"
  if $use_kaldi; then compute_mean=ivector-mean; else compute_mean=vib-ivector-mean; fi
  $cmd $dir/log/mean.log $compute_mean scp:$train_dir/xvector.scp $mean.tmp || die "see $dir/log/mean.log"
  mv $mean.tmp $mean
fi

if ! up_to_date "$dir/scores" "$enroll_scp" "$test/xvector.scp" "$trials" ${train_dir:+"$mean"}; then
  log "cosine scoring of $(wc -l < $trials) trials"
  if $use_kaldi; then
    kaldi_unit() {  # Kaldi rspecifier of rspecifier $1, mean removed (if --train-dir), unit length
      if [ -n "$train_dir" ]; then
        echo "ark:$subtract $mean $1 ark:- | ivector-normalize-length --scaleup=false ark:- ark:- |"
      else
        echo "ark:ivector-normalize-length --scaleup=false $1 ark:- |"
      fi
    }
    $cmd $dir/log/score.log ivector-compute-dot-products "cut -d' ' -f1,2 $trials |" \
      "$(kaldi_unit scp:$enroll_scp)" "$(kaldi_unit scp:$test/xvector.scp)" $dir/scores.tmp \
      || die "see $dir/log/score.log"
  else
    $cmd $dir/log/score.log vib-cosine-scoring --skip-missing=$skip_missing "$(vectors scp:$enroll_scp)" \
      "$(vectors scp:$test/xvector.scp)" $trials $dir/scores.tmp || die "see $dir/log/score.log"
  fi
  mv $dir/scores.tmp $dir/scores
fi

metrics() {  # metrics <scores> <json>: EER and minDCF into <json>; its summary line is logged
  local summary=$dir/log/$(basename "$2" .json).log
  if ! up_to_date "$2" "$1" "$trials" || [ ! -s "$summary" ]; then
    vib-compute-metrics --json-out=$2 --p-target=0.01,0.001,0.05 $trials $1 > $summary || die "metrics of $1 failed"
  fi
  log "$(cat $summary) -> $2"
}
metrics $dir/scores $dir/metrics.json

if [ -n "$cohort" ]; then
  out=$dir/scores_$norm_method
  if ! up_to_date "$out" "$dir/scores"; then
    log "$norm_method with cohort $cohort (top $top_n)"
    $cmd $dir/log/score_norm.log vib-score-norm --method=$norm_method --top-n=$top_n "$(vectors $cohort)" \
      "$(vectors scp:$enroll_scp)" "$(vectors scp:$test/xvector.scp)" $dir/scores $out.tmp \
      || die "see $dir/log/score_norm.log"
    mv $out.tmp $out
  fi
  metrics $out $dir/metrics_$norm_method.json
fi
