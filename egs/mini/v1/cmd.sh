# How this recipe runs its jobs, as Kaldi's cmd.sh: every parallel or long step is started as
#   $train_cmd [JOB=1:N] <log-file> <command> ...       (CPU jobs: features, extraction, back-ends)
#   $cuda_cmd --gpu N <log-file> <command> ...           (training)
# run.pl (utils/run.pl, on PATH through path.sh) runs them on this machine. On a cluster, point
# these at Kaldi's queue.pl (Grid Engine) or slurm.pl with your site's options, e.g.
#   export train_cmd="queue.pl --mem 4G"
#   export cuda_cmd="queue.pl --gpu 1"
export train_cmd="run.pl"
export cuda_cmd="run.pl"
