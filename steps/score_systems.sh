#!/usr/bin/env bash
# Scores every system of an experiment on every trial list with the recipes' back-ends:
# cosine, cosine + score normalisation, and mean + LDA + length norm + PLDA.
set -euo pipefail

systems=             # systems (dirs under <exp-dir>) to score (default: every one with xvectors_<eval-set>/)
train_data=          # data dir with utt2spk and spk2utt of the training vectors (default: the training xvector dir)
norm_method=asnorm   # cosine score normalisation (asnorm | snorm | znorm | tnorm), cohort = training speaker means
top_n=300            # asnorm: cohort scores kept per side
lda_dim=200          # PLDA back-end: LDA dimension (capped at #training speakers - 1)
variance_scale=1.0   # plda+up: the VIB variances are multiplied by this (steps/score_plda.sh)
enroll_set=          # the enrollment side's vectors: <sys>/xvectors_<enroll-set> (default: <eval-set>), e.g. the
                     # whole test utterances for a list whose test side is a short-segment set
cmd=run.pl           # job runner for each back-end command (Kaldi's cmd.sh)
help_message="Usage: $0 [options] <exp-dir> <train-set> <eval-set> <list>=<trials> [<list>=<trials> ...]
 e.g.: $0 --top-n 300 exp voxceleb2_dev voxceleb1 vox1_o_cleaned=data/voxceleb1_test/trials_vox1_o_cleaned
For each system <exp-dir>/<sys> and each trial list (Kaldi form 'enroll test target|nontarget';
utterances of <eval-set>), with the vectors of <sys>/xvectors_<train-set> and <sys>/xvectors_<eval-set>
(the enrollment side's from <sys>/xvectors_<enroll-set> with --enroll-set):
  <sys>/scores_cosine_<list>/  steps/score_cosine.sh: training mean removed, cosine (scores,
                               metrics.json), then <norm-method> with the training speakers' mean
                               vectors (spk_xvector.scp) as cohort (scores_<norm-method>,
                               metrics_<norm-method>.json): back-ends cosine and cosine+<norm-method>
  <sys>/scores_plda_<list>/    steps/score_plda.sh: mean, LDA, length norm, PLDA (scores, metrics.json);
                               where both sides' dirs hold VIB variances (xvector_var.scp), also PLDA with
                               uncertainty propagation (scores_up, metrics_up.json): back-end plda+up
The training mean, LDA transform and PLDA (mean.vec, transform.mat, plda) are trained once per
system into <sys>/xvectors_<train-set>/, as in Kaldi's egs/voxceleb/v2, and reused for every list;
they are copied into <sys>/backend/, which makes <sys> a model dir that vib-verify scores with.
Finished outputs newer than their inputs are kept when the script is re-run."
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -lt 4 ]; then echo "$help_message" >&2; exit 1; fi
exp=$1 train_set=$2 eval_set=$3
shift 3

check_list_specs "$@"
if [ -z "$systems" ]; then
  systems=$(for d in "$exp"/*/xvectors_"$eval_set"; do [ ! -d "$d" ] || basename "$(dirname "$d")"; done)
  [ -n "$systems" ] || die "no system under $exp has xvectors_$eval_set/"
fi

steps=$VIB_ROOT/steps
for sys in $systems; do
  tr=$exp/$sys/xvectors_$train_set ev=$exp/$sys/xvectors_$eval_set en=$exp/$sys/xvectors_${enroll_set:-$eval_set}
  up=false
  [ ! -f "$en/xvector_var.scp" ] || [ ! -f "$ev/xvector_var.scp" ] || up=true
  for spec in "$@"; do
    list=${spec%%=*} trials=${spec#*=}
    log "$sys on $list"
    "$steps/score_cosine.sh" --cmd "$cmd" --train-dir "$tr" --mean-dir "$tr" --cohort "scp:$tr/spk_xvector.scp" \
      --norm-method "$norm_method" --top-n "$top_n" "$en" "$ev" "$trials" "$exp/$sys/scores_cosine_$list"
    "$steps/score_plda.sh" --cmd "$cmd" --lda-dim "$lda_dim" --plda-dir "$tr" ${train_data:+--train-data "$train_data"} \
      --uncertainty $up --variance-scale "$variance_scale" "$tr" "$en" "$ev" "$trials" "$exp/$sys/scores_plda_$list"
  done
  # the back-end models join the model dir (vib.load_extractor scores with them)
  mkdir -p "$exp/$sys/backend"
  for f in mean.vec transform.mat plda; do
    up_to_date "$exp/$sys/backend/$f" "$tr/$f" || cp "$tr/$f" "$exp/$sys/backend/$f"
  done
done
