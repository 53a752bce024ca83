#!/usr/bin/env bash
# Idempotent set-up of vib-spk on a Debian machine that has python3 and apt.
#
#   bash utils/setup_env.sh
#
# 1. apt packages the recipes need (audio tools, TTS voices for the mini corpus);
# 2. .venv at the repository root with requirements.txt installed;
# 3. the vib package itself, editable, with its command-line tools.
# Each step is skipped when it is already done, so a second run takes seconds.
# CUDA users: install the CUDA build of torch==2.13.0 into .venv first (README).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

. "$root/utils/lib.sh"
. "$root/utils/setup_apt.sh"

# --- 1. apt packages --------------------------------------------------------
setup_apt

# --- 2. virtual environment and requirements -------------------------------
venv=$root/.venv
stamp=$venv/.vib-spk-setup
want=$( (python3 --version; cat requirements.txt pyproject.toml) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  log "environment up to date ($venv)"
  exit 0
fi
[ -x "$venv/bin/python" ] || { log "creating $venv"; python3 -m venv "$venv"; }
log "installing requirements.txt into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt ||
  { log "ERROR: pip could not install requirements.txt into $venv (see pip's message above)"; exit 1; }
# The package itself, editable: makes `vib` importable and its commands available.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . ||
  { log "ERROR: pip could not install the vib package (pyproject.toml) into $venv"; exit 1; }
echo "$want" >"$stamp"
log "done; now: . ./path.sh"
