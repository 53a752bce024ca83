# Debian packages of vib-spk: the list, detection and installation. Sourced by
# utils/setup_env.sh (and by tests, with stub dpkg-query / apt-get on PATH):
#
#   . utils/setup_apt.sh && setup_apt
#
# VIB_APT_SOURCES_DIR (default /etc/apt/sources.list.d) is where the contrib /
# non-free entry goes; tests point it at a temporary folder.

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

# Prints the arguments that dpkg does not report as installed ("ii"), one a line,
# in argument order. One dpkg-query for all (the voice list is long); a package
# dpkg has never heard of is absent from its output, and so counts as missing.
missing_apt_packages() {
  local installed
  installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null | awk '$1 == "ii" { print $2 }') || true
  printf '%s\n' "$@" | awk -v installed="$installed" '
    BEGIN { n = split(installed, names, "\n"); for (i = 1; i <= n; i++) ok[names[i]] = 1 }
    !($0 in ok)'
}

# Adds a sources entry for Debian's contrib and non-free components of the
# running suite, signed by Debian's archive keyring.
enable_contrib_nonfree() {
  local list=${VIB_APT_SOURCES_DIR:-/etc/apt/sources.list.d}/vib-spk-contrib-nonfree.sources
  [ -f "$list" ] && return 0
  local suite
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  log "adding Debian contrib/non-free sources for $suite ($list)"
  as_root tee "$list" >/dev/null <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  apt_updated=false
}

apt_updated=false
# Installs the given packages; any failure, or a package still not installed
# afterwards, stops set-up with the names of the packages at fault.
install_apt() {
  [ $# -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "ERROR: apt-get not found; install these packages by hand: $*"; exit 1
  fi
  if ! $apt_updated; then
    as_root apt-get update -qq || { log "ERROR: apt-get update failed; cannot install: $*"; exit 1; }
    apt_updated=true
  fi
  log "installing apt packages: $*"
  local status=0
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
  local still
  still=$(missing_apt_packages "$@" | tr '\n' ' ')
  if [ $status -ne 0 ] || [ -n "${still% }" ]; then
    log "ERROR: apt-get install failed (exit status $status); not installed: ${still% }"
    exit 1
  fi
}

# Step 1 of set-up: every package the recipes need, installed once.
setup_apt() {
  local missing
  missing=$(missing_apt_packages "${apt_packages[@]}" "${apt_nonfree_packages[@]}")
  if [ -n "$missing" ]; then
    [ ${#apt_nonfree_packages[@]} -gt 0 ] && enable_contrib_nonfree
    # shellcheck disable=SC2086
    install_apt $missing
  fi
  command -v python3 >/dev/null || install_apt python3
  python3 -c 'import ensurepip' 2>/dev/null || install_apt python3-venv
}
