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
# Packages from Debian's contrib/non-free components (enabled below when needed):
# the mini corpus's TTS donors. Each MBROLA diphone voice was recorded from a
# different human donor (espeak-ng drives them as mb-<voice>); SVOX Pico adds six.
apt_nonfree_packages=(mbrola libttspico-utils
  mbrola-af1 mbrola-ar1 mbrola-ar2 mbrola-br1 mbrola-br2 mbrola-br3 mbrola-br4
  mbrola-bz1 mbrola-ca1 mbrola-ca2 mbrola-cn1 mbrola-cr1 mbrola-cz1 mbrola-cz2
  mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-de7
  mbrola-de8 mbrola-ee1 mbrola-en1 mbrola-es1 mbrola-es2 mbrola-es3 mbrola-es4
  mbrola-fr1 mbrola-fr2 mbrola-fr3 mbrola-fr4 mbrola-fr5 mbrola-fr6 mbrola-fr7
  mbrola-gr1 mbrola-gr2 mbrola-hb1 mbrola-hb2 mbrola-hn1 mbrola-hu1 mbrola-ic1
  mbrola-id1 mbrola-in1 mbrola-in2 mbrola-ir1 mbrola-it1 mbrola-it2 mbrola-it3
  mbrola-it4 mbrola-jp1 mbrola-jp2 mbrola-jp3 mbrola-la1 mbrola-lt1 mbrola-lt2
  mbrola-ma1 mbrola-mx1 mbrola-mx2 mbrola-nl1 mbrola-nl2 mbrola-nl3 mbrola-nz1
  mbrola-pl1 mbrola-pt1 mbrola-ro1 mbrola-sw1 mbrola-sw2 mbrola-tl1 mbrola-tr1
  mbrola-tr2 mbrola-us1 mbrola-us2 mbrola-us3 mbrola-vz1
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The arguments that are not installed (one dpkg-query for all: the voice list is long).
missing_apt_packages() {
  printf '%s\n' "$@" | awk 'NR == FNR { if ($1 == "ii") ok[$2] = 1; next } !($0 in ok)' \
    <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null) -
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
