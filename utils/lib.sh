# The shell helpers every step and recipe uses (source it after path.sh, as Kaldi scripts source
# path.sh first):  . "$VIB_ROOT/utils/lib.sh"   (bench/gpu_check.sh, which runs where there is no
# .venv, sources it alone.)
#   log MSG...         one line on stderr: date, the script's name, MSG
#   die MSG...         log "ERROR: MSG" and exit 1
#   up_to_date OUT IN...   OUT exists, is not empty and is newer than every IN
#   check_list_specs SPEC...  each SPEC is <list>=<trials-file> naming an existing file (else die)

log() { echo "$(date '+%F %T') $(basename "$0"): $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
up_to_date() {
  local out=$1 f
  shift
  [ -s "$out" ] || return 1
  for f in "$@"; do [ "$out" -nt "$f" ] || return 1; done
}
check_list_specs() {
  local spec
  for spec in "$@"; do
    case $spec in
      ?*=?*) [ -f "${spec#*=}" ] || die "no such trials file: ${spec#*=} (list '${spec%%=*}')" ;;
      *) die "trial lists are given as <list>=<trials-file>, got '$spec'" ;;
    esac
  done
}
