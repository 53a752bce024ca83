# The shell helpers every step and recipe uses (source it after path.sh, as Kaldi scripts source
# path.sh first):  . "$VIB_ROOT/utils/lib.sh"   (bench/gpu_check.sh, which runs where there is no
# .venv, sources it alone.)
#   log MSG...         one line on stderr: date, the script's name, MSG
#   die MSG...         log "ERROR: MSG" and exit 1
#   up_to_date OUT IN...   OUT exists, is not empty and is newer than every IN

log() { echo "$(date '+%F %T') $(basename "$0"): $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
up_to_date() {
  local out=$1 f
  shift
  [ -s "$out" ] || return 1
  for f in "$@"; do [ "$out" -nt "$f" ] || return 1; done
}
