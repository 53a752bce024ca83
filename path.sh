# Sourced by every recipe and script, as in Kaldi:  . ./path.sh
# Activates the project's .venv, makes `vib` importable, puts steps/, utils/ and
# the vib-* commands on PATH, and sets LC_ALL=C (Kaldi's sort order).
VIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
if [ ! -x "$VIB_ROOT/.venv/bin/python" ]; then
  echo "path.sh: no Python environment at $VIB_ROOT/.venv; create it with: bash $VIB_ROOT/utils/setup_env.sh" >&2
  return 1 2>/dev/null || exit 1
fi
export VIB_ROOT
export VIRTUAL_ENV=$VIB_ROOT/.venv
export PATH=$VIB_ROOT/.venv/bin:$VIB_ROOT/steps:$VIB_ROOT/utils:$PATH
export PYTHONPATH=$VIB_ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
export LC_ALL=C
