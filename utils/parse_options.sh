# Kaldi-compatible option parsing for shell scripts. Source it after defining
# the options' defaults as ordinary (lower-case, not exported) shell variables:
#
#   stage=0
#   nj=4
#   use_gpu=false
#   help_message="Usage: $0 [options] <data-dir>"
#   . utils/parse_options.sh
#
# Rules
#   --foo-bar value  and  --foo-bar=value   set foo_bar, which must already be defined;
#   an undefined option is an error that lists the valid ones;
#   an option whose default is true/false only takes true or false;
#   --config FILE reads "--opt=value" lines (blank lines and # comments allowed);
#     config files are applied first, so command-line options override them;
#   --help / -h prints $help_message (and the valid options) and exits 0;
#   parsing stops at the first argument that does not start with "--" (or at "--").
# The positional arguments that remain are left in "$@".

_po_script=$(basename "$0")

# True if shell variable $1 is an option: defined, lower-case, not exported.
_po_is_option() {
  case "$1" in
    _po_*|help_message|''|*[!a-z0-9_]*|[!a-z]*) return 1 ;;
  esac
  [ -n "${!1+x}" ] || return 1
  ! declare -p "$1" 2>/dev/null | grep -q '^declare -[a-zA-Z]*x'
}

# Lists the options the script defined.
_po_valid_options() {
  local _po_v
  for _po_v in $(compgen -v); do
    _po_is_option "$_po_v" && printf -- '--%s\n' "${_po_v//_/-}"
  done
}

_po_die() {
  echo "$_po_script: $*" >&2
  exit 1
}

# _po_set NAME VALUE SOURCE: assigns one option after checking it.
_po_set() {
  local _po_name=${1#--} _po_value=$2 _po_where=$3
  local _po_var=${_po_name//-/_}
  if ! _po_is_option "$_po_var"; then
    _po_die "unknown option '--$_po_name' ($_po_where); valid options: $(_po_valid_options | tr '\n' ' ')"
  fi
  local _po_old=${!_po_var}
  if [ "$_po_old" = true ] || [ "$_po_old" = false ]; then
    if [ "$_po_value" != true ] && [ "$_po_value" != false ]; then
      _po_die "option '--$_po_name' is boolean: expected true or false, got '$_po_value' ($_po_where)"
    fi
  fi
  printf -v "$_po_var" '%s' "$_po_value"
}

# Apply config files first.
_po_i=1
while [ "$_po_i" -le $# ]; do
  _po_arg=${!_po_i}
  case "$_po_arg" in
    --) break ;;
    --config|--config=*)
      if [ "$_po_arg" = --config ]; then
        _po_i=$((_po_i + 1))
        [ "$_po_i" -le $# ] || _po_die "option '--config' needs a file"
        _po_cfg=${!_po_i}
      else
        _po_cfg=${_po_arg#--config=}
      fi
      [ -f "$_po_cfg" ] || _po_die "config file '$_po_cfg' does not exist"
      _po_lineno=0
      while IFS= read -r _po_line || [ -n "$_po_line" ]; do
        _po_lineno=$((_po_lineno + 1))
        _po_line=${_po_line%%#*}
        _po_line=$(echo "$_po_line" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
        [ -z "$_po_line" ] && continue
        case "$_po_line" in
          --*=*) _po_set "${_po_line%%=*}" "${_po_line#*=}" "$_po_cfg:$_po_lineno" ;;
          *) _po_die "$_po_cfg:$_po_lineno: expected '--option=value', got '$_po_line'" ;;
        esac
      done <"$_po_cfg"
      ;;
  esac
  _po_i=$((_po_i + 1))
done

# Then the command line, in order.
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    --help|-h)
      if [ -n "${help_message:-}" ]; then printf '%s\n' "$help_message"; else echo "Usage: $_po_script [options]"; fi
      echo "Options: $(_po_valid_options | tr '\n' ' ')"
      exit 0 ;;
    --config) shift 2 || _po_die "option '--config' needs a file" ;;
    --config=*) shift ;;
    --*=*) _po_set "${1%%=*}" "${1#*=}" "command line"; shift ;;
    --*)
      [ $# -ge 2 ] || _po_die "option '$1' needs a value"
      _po_set "$1" "$2" "command line"; shift 2 ;;
    *) break ;;
  esac
done

unset _po_i _po_arg _po_cfg _po_line _po_lineno
true
