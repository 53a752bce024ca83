# Recipe-level path.sh, as in Kaldi: sources the repository's path.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../../../path.sh"
