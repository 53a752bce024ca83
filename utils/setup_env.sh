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

log() { echo "$(date '+%F %T') setup_env: $*" >&2; }

# Debian packages used by the recipes; the mini corpus generator needs the voices.
apt_packages=(sox libsndfile1 ffmpeg espeak-ng flite)
# Packages from Debian's contrib/non-free components (enabled below when needed).
apt_nonfree_packages=()

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing_apt_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# Adds a sources entry for Debian's contrib and non-free components of the
# running suite, signed by Debian's archive keyring.
enable_contrib_nonfree() {
  local list=/etc/apt/sources.list.d/vib-spk-contrib-nonfree.sources
  [ -f "$list" ] && return 0
  local suite
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  log "adding Debian contrib/non-free sources for $suite ($list)"
  as_root tee "$list" >/dev/null <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_updated=false
}

apt_updated=false
install_apt() {
  [ $# -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "ERROR: apt-get not found; install these packages by hand: $*"; exit 1
  fi
  if ! $apt_updated; then as_root apt-get update -qq; apt_updated=true; fi
  log "installing apt packages: $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- 1. apt packages --------------------------------------------------------
missing=$(missing_apt_packages "${apt_packages[@]}" "${apt_nonfree_packages[@]}")
if [ -n "$missing" ]; then
  [ ${#apt_nonfree_packages[@]} -gt 0 ] && enable_contrib_nonfree
  # shellcheck disable=SC2086
  install_apt $missing
fi
command -v python3 >/dev/null || install_apt python3
python3 -c 'import ensurepip' 2>/dev/null || install_apt python3-venv

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
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
# The package itself, editable: makes `vib` importable and its commands available.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
echo "$want" >"$stamp"
log "done; now: . ./path.sh"
