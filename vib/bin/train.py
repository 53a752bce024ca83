"""vib-train: trains a speaker embedding extractor from a YAML config (resumes if
the experiment directory holds checkpoints). Run under torchrun for DDP."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import yaml

from vib.cli import add_bool, make_parser, run
from vib.config import load_config
from vib.errors import VibError

USAGE = """vib-train [options] <config.yaml> <fbank-dir | cuts.jsonl.gz | shard-dir> <exp-dir>
e.g.: vib-train conf/cpu_vib.yaml fbank/train exp/cpu_vib
      vib-train conf/cpu_vib.yaml shards/train exp/cpu_vib     # shards of steps/make_shards.sh
      torchrun --nproc_per_node=4 -m vib.bin.train conf/resnet34_vib.yaml fbank/train exp/resnet34_vib
Re-running the same command resumes from the newest checkpoint in <exp-dir>/checkpoints."""


def write_spk2id(path: Path, spk2id: dict[str, int]) -> None:
    """``<spk> <id>`` lines; an existing different file is an error (classes changed)."""
    from vib.io.tables import atomic_output

    text = "".join(f"{spk} {idx}\n" for spk, idx in sorted(spk2id.items(), key=lambda kv: kv[1]))
    if path.exists():
        if path.read_text() != text:
            raise VibError(f"{path} differs from the speakers of the training data; use a new experiment dir")
        return
    with atomic_output(str(path)) as f:
        f.write(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-train", __doc__, USAGE)
    parser.add_argument("config", help="YAML config (see conf/*.yaml)")
    parser.add_argument("cuts", help="a fbank dir holding cuts.jsonl.gz, the manifest itself, or a shard dir")
    parser.add_argument("exp_dir")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=3 (repeatable)")
    add_bool(parser, "--force", False, "resume although the config's optim, data, epochs, AMP settings or the "
             "number of processes changed (never model or head)")
    args = parser.parse_args(argv)
    import torch.distributed as dist

    from vib import distributed
    from vib.train import build_net, merge_config, train

    config = merge_config(load_config(args.config, args.set))
    from vib.data.loader import build_spk2id, build_train_loader, set_loader_epoch, speed_factors_of
    from vib.data.features import read_fbank_config, write_fbank_config
    from vib.data.shards import is_shard_dir

    cuts = (os.path.join(args.cuts, "cuts.jsonl.gz") if os.path.isdir(args.cuts) and not is_shard_dir(args.cuts)
            else args.cuts)
    if not os.path.exists(cuts):
        raise VibError(f"no cut manifest at '{cuts}' (run steps/compute_fbank.sh first)")

    ctx = distributed.setup(config["train"]["device"])
    rank = ctx.rank
    tcfg, dcfg = config["train"], config["data"]
    spk2id = build_spk2id(cuts, speed_factors=speed_factors_of(dcfg["augment"]))
    build_net(config, len(spk2id))  # the config's errors (unused options, < 2 classes) before any output
    exp = Path(args.exp_dir)
    if rank == 0:
        exp.mkdir(parents=True, exist_ok=True)
        write_spk2id(exp / "spk2id", spk2id)
        from vib.io.tables import atomic_output
        with atomic_output(str(exp / "config.yaml")) as f:
            yaml.safe_dump(config, f, sort_keys=False)
        # the features the model is trained on: part of the model dir (vib.speaker reads them)
        write_fbank_config(exp, read_fbank_config(cuts if is_shard_dir(cuts) else os.path.dirname(cuts)))
    distributed.barrier(ctx)

    loaders = []  # one loader, its workers kept across epochs; the sampler plans each epoch
    # augmented crops' fbank on the training device ("auto": when that is a GPU), or in the workers
    choice = dcfg["fbank_on_device"]
    if choice not in ("auto", True, False):
        raise VibError(f"data.fbank_on_device must be auto, true or false, got {choice!r}")
    on_device = choice is True or (choice == "auto" and ctx.device.type == "cuda")

    def loader_factory(epoch: int):
        if not loaders:
            loaders.append(build_train_loader(
                cuts, spk2id, batch_size=tcfg["batch_size"], crop_frames=tcfg["crop_frames"],
                augment=dcfg["augment"], epoch_size=tcfg["epoch_size"], num_workers=tcfg["num_workers"],
                seed=config["seed"], epoch=epoch, rank=rank, world_size=ctx.world,
                pin_memory=ctx.device.type == "cuda", fbank_on_device=on_device,
                shuffle_buffer=dcfg["shuffle_buffer"]))
        set_loader_epoch(loaders[0], epoch)
        return loaders[0]

    try:
        train(config, exp, loader_factory, len(spk2id), log=print if rank == 0 else (lambda _: None),
              force=args.force)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
