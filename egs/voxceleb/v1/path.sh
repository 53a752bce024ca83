# Recipe-level path.sh, as in Kaldi: sources the repository's path.sh. The link is
# resolved, so a work dir elsewhere may hold links to this file, run.sh, utils, steps, conf.
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../../path.sh"
