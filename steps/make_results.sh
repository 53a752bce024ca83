#!/usr/bin/env bash
# RESULTS.md (system x back-end x trial list table) and det.png of a recipe's scored systems.
set -euo pipefail

systems=             # systems under <exp-dir> (required)
seeds=               # with seeds, a system is the runs <system>_s<seed>: mean +- std over them
backends="cosine cosine+asnorm plda"  # X: scores_X_<list>/metrics.json; X+NORM: scores_X_<list>/metrics_NORM.json
lists=               # trial list names (required); the first one's DET curves go to det.png
trials=              # 'LIST=FILE ...': lists to bootstrap (95 % intervals; utt2spk beside FILE)
bootstrap=1000       # speaker resamples for those intervals
compare=             # 'B:A ...': paired comparisons of systems on the --trials lists
compare_backends=    # 'B:A ...': paired comparisons of back-ends (per system) on the --trials lists
backend_systems=     # 'BACKEND=SYS,SYS ...': back-ends that only those systems have (e.g. plda+up=vib)
calibrated_backends= # back-ends of the calibration table (default: --backends)
calibrated_lists=    # lists with calibrated scores (steps/calibrate_systems.sh): the calibration table
fingerprint=         # a command printing lines that fingerprint the data (e.g. the corpus hash)
title=results        # RESULTS.md heading
command=             # the command line that produced the results (written verbatim)
started=             # when that command started (seconds since the epoch): adds its run time
info=                # lines after the machine line (corpus, configs, ...); may hold newlines
note=                # lines after the table's note on units
help_message="Usage: $0 [options] <exp-dir> <det-trials> <results-dir>
 e.g.: $0 --systems 'aam vib' --lists 'trials trials_hard' --title 'egs/mini/v1 results' \\
         --command \"\$0 \$*\" --info 'Corpus: ...' exp data/test/trials .
Writes <results-dir>/RESULTS.md: the title, the command, the machine (GPUs, CPU cores and model,
torch), --info, the software fingerprint (vib-fingerprint) and --fingerprint's lines, the
vib-results-table tables and the note on units; and <results-dir>/det.png: DET curves of every
system and back-end (the first seed's runs) on the first of --lists, whose trials file is <det-trials>.
Both are written under temporary names, then renamed. When RESULTS.md and det.png exist and
RESULTS.md is newer than every metrics file of the table, nothing is done, so re-running a
finished recipe keeps the report of the run that made the results."
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/path.sh"
. "$VIB_ROOT/utils/lib.sh"
. "$VIB_ROOT/utils/parse_options.sh"

if [ $# -ne 3 ]; then echo "$help_message" >&2; exit 1; fi
exp=$1 det_trials=$2 out=$3
[ -n "$systems" ] || die "--systems is required"
[ -n "$lists" ] || die "--lists is required"
[ -f "$det_trials" ] || die "no such file: $det_trials"
table_opts=(--systems "${systems// /,}" --backends "${backends// /,}" --lists "${lists// /,}" --seeds "${seeds// /,}")
for b in $backend_systems; do table_opts+=(--backend-systems "$b"); done
extra_opts=(--bootstrap "$bootstrap" --compare "${compare// /,}" --compare-backends "${compare_backends// /,}"
            --calibrated-lists "${calibrated_lists// /,}" --calibrated-backends "${calibrated_backends// /,}")
for t in $trials; do extra_opts+=(--trials "$t"); done
first_seed=${seeds%% *}

# One line per table row: <list> <back-end> <system> <scores> <metrics.json>.
paths=$(vib-results-table --paths "${table_opts[@]}" "$exp")
results=$out/RESULTS.md
outdated() {  # RESULTS.md or det.png is missing, or a metrics file is missing or newer than RESULTS.md
  local metrics
  [ -f "$results" ] && [ -f "$out/det.png" ] || return 0
  while read -r _ _ _ _ metrics _; do [ -f "$metrics" ] && [ "$results" -nt "$metrics" ] || return 0; done <<< "$paths"
  return 1
}
if ! outdated; then
  log "$results is newer than every metrics file; kept"
  exit 0
fi

table=$(vib-results-table "${table_opts[@]}" "${extra_opts[@]}" "$exp")
first=${lists%% *}
det_scores=() det_labels=()
while read -r list backend system scores _; do
  [ "$list" = "$first" ] || continue
  [ -z "$first_seed" ] || [ "${system%_s$first_seed}" != "$system" ] || continue
  det_scores+=("$scores") det_labels+=("$system $backend")
done <<< "$paths"
mkdir -p "$out"
vib-compute-metrics --det-plot "$out/det.tmp.png" --labels "$(IFS=,; echo "${det_labels[*]}")" \
  "$det_trials" "${det_scores[@]}" > /dev/null || die "DET plot failed"
mv "$out/det.tmp.png" "$out/det.png"

if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then
  gpus="$(nvidia-smi -L | wc -l) x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)"
else
  gpus="no GPU"
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo 2> /dev/null | cut -d: -f2 | sed 's/^ //' || true)
{
  echo "# $title"
  echo
  [ -z "$command" ] || echo "Produced by: \`$command\`${started:+ (this run took $(( $(date +%s) - started )) s)}"
  # getconf, not nproc: nproc reports OMP_NUM_THREADS when it is set.
  echo "Machine: $gpus, $(getconf _NPROCESSORS_ONLN) CPU cores${cpu:+ ($cpu)}, torch $(python -c 'from importlib.metadata import version; print(version("torch"))')"
  [ -z "$info" ] || echo "$info"
  echo "Software: $(vib-fingerprint)"
  [ -z "$fingerprint" ] || $fingerprint
  echo
  echo "$table"
  echo "EER in %; minDCF with c_miss = c_fa = 1, normalised. DET curves of $first: det.png."
  [ -z "$note" ] || echo "$note"
} > "$results.tmp"
mv "$results.tmp" "$results"
log "wrote $results and $out/det.png"
cat "$results"
