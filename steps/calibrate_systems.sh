#!/usr/bin/env bash
# Calibrates the scores of every system and back-end into log-likelihood ratios: logistic
# regression trained on a dev trial list, plain and with quality measures (QMF: log durations
# and, for VIB, the mean predicted log-variance of both sides), applied to evaluation lists.
set -euo pipefail

systems=             # systems (dirs under <exp-dir>) (required)
backends="cosine cosine+asnorm plda"  # as steps/score_systems.sh writes them
prior=0.01           # target prior of the calibration objective (the minDCF 0.01 operating point)
ship=qmf             # calibration copied into <sys>/backend/ for vib-verify: qmf | plain
cmd=run.pl           # job runner (Kaldi's cmd.sh)
help_message="Usage: $0 [options] <exp-dir> <dev-set> <dev-list>=<dev-trials> <eval-set> <list>=<trials> [<list>=<trials> ...]
 e.g.: $0 --systems 'aam_s0 vib_s0' exp dev dev_trials=data/dev/trials test test_trials=data/test/trials
Needs what steps/score_systems.sh and steps/extract_embeddings.sh leave: the scores of every back-end
on the dev list and on each evaluation list, and <sys>/xvectors_<set>/quality.scp of both sets.
For each system, back-end and evaluation list it writes, beside the back-end's scores (see
vib-results-table --paths): the plain calibration's LLRs (scores_llr or scores_NORM_llr) and the
quality-aware ones (..._llr_qmf), each with its metrics (actDCF, Cllr: metrics_*llr*.json); and
<sys>/backend/calibration_<back-end>.json (--ship), which vib-verify and vib.load_extractor use.
Finished outputs newer than their inputs are kept when the script is re-run."
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -lt 5 ]; then echo "$help_message" >&2; exit 1; fi
exp=$1 dev_set=$2 dev_spec=$3 eval_set=$4
shift 4
[ -n "$systems" ] || die "--systems is required"
case $ship in qmf|plain) ;; *) die "--ship must be qmf or plain, got '$ship'" ;; esac
check_list_specs "$dev_spec" "$@"
dev_list=${dev_spec%%=*} dev_trials=${dev_spec#*=}
lists=$(for spec in "$@"; do echo -n "${spec%%=*},"; done)
comma() { echo "${1// /,}"; }

for sys in $systems; do
  dev_q=$exp/$sys/xvectors_$dev_set/quality.scp eval_q=$exp/$sys/xvectors_$eval_set/quality.scp
  for q in "$dev_q" "$eval_q"; do [ -f "$q" ] || die "no $q (steps/extract_embeddings.sh --write-quality true)"; done
  mkdir -p "$exp/$sys/backend" "$exp/$sys/log"
  while read -r _ backend _ dev_scores _; do
    while read -r list _ _ scores _ llr llr_metrics qmf qmf_metrics; do
      trials=
      for spec in "$@"; do [ "${spec%%=*}" != "$list" ] || trials=${spec#*=}; done
      for kind in plain qmf; do
        if [ $kind = plain ]; then out=$llr metrics=$llr_metrics q_opts=()
        else out=$qmf metrics=$qmf_metrics q_opts=(--dev-quality "scp:$dev_q" --quality "scp:$eval_q"); fi
        shipped=$exp/$sys/backend/calibration_$backend.json model_opts=()
        [ $kind != "$ship" ] || model_opts=(--model-out "$shipped")
        if up_to_date "$metrics" "$dev_scores" "$scores" "$dev_q" "$eval_q" &&
           { [ $kind != "$ship" ] || [ -f "$shipped" ]; }; then continue; fi
        log "$sys $backend: $kind calibration on $dev_list applied to $list"
        $cmd "$exp/$sys/log/calibrate_${backend}_${list}_$kind.log" \
          vib-calibrate --prior "$prior" "${q_opts[@]}" "${model_opts[@]}" "$dev_trials" "$dev_scores" "$scores" "$out" \
          || die "calibration failed; see $exp/$sys/log/calibrate_${backend}_${list}_$kind.log"
        vib-compute-metrics --llr --json-out="$metrics" --p-target=0.01,0.001 "$trials" "$out" > /dev/null \
          || die "metrics of $out failed"
      done
    done < <(vib-results-table --paths --systems "$sys" --backends "$backend" --lists "$lists" "$exp")
  done < <(vib-results-table --paths --systems "$sys" --backends "$(comma "$backends")" --lists "$dev_list" "$exp")
done
log "done: calibrated $(echo $systems) on $dev_list"
