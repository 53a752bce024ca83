"""The training loop: one extractor + one head, YAML config, CPU or CUDA (AMP),
single process or torchrun/DDP, resumable from per-epoch checkpoints.

``train(config, exp_dir, loader_factory, num_classes)`` where
``loader_factory(epoch) -> iterable of (feats [B, T, F], labels [B])`` with a
``len()`` (steps per epoch); the factory must be deterministic in ``epoch``
(and rank) for a resumed run to equal an uninterrupted one.

Outputs under ``exp_dir``: ``checkpoints/epoch_NNNN.pt`` (every epoch, atomic),
``train.jsonl`` (one JSON object per epoch), ``curve.png``, and ``final.pt``
(the model averaged over the last ``train.average_last`` checkpoints).
Re-running the same command resumes from the newest checkpoint.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from vib import checkpoint as ckpt
from vib import distributed
from vib.errors import VibError, one_line
from vib.heads import DEFAULT_HEAD, build_head, head_needs_logvar, head_options
from vib.io.tables import atomic_output
from vib.models import DEFAULT_MODEL, build_model, count_parameters
from vib.optim import build_optimizer, complete_optim, schedule_options
from vib.schedules import learning_rate

LoaderFactory = Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "model": {"type": "resnet"},
    "head": {"type": "softmax"},
    "optim": {},  # completed by vib.optim.complete_optim (defaults in the optimizers' signatures)
    "train": {"epochs": 10, "batch_size": 128, "crop_frames": 200, "epoch_size": None, "num_workers": 0,
              "device": "auto", "amp": True, "amp_dtype": "bfloat16", "average_last": 1, "keep_last": None,
              "num_threads": None, "progress": True, "finite_check_every": 50, "init_from": None,
              "init_head": False, "freeze": []},
    "data": {"augment": None, "fbank_on_device": "auto", "shuffle_buffer": 1000},
}


class TrainingDiverged(VibError):
    """The loss (or gradient norm) became NaN or infinite."""


def merge_config(user: dict[str, Any]) -> dict[str, Any]:
    """Fills defaults into a config (``train``, ``data``, ``optim``: every key; ``head`` is
    checked against its constructor's signature and kept as given, ``model`` is checked when
    built); unknown sections or keys are errors."""
    config = copy.deepcopy(DEFAULTS)
    for section, values in (user or {}).items():
        if section not in config:
            raise VibError(f"unknown config section '{section}': expected {', '.join(config)}")
        if not isinstance(values, dict):
            config[section] = values
            continue
        if section in ("train", "data"):
            unknown = set(values) - set(config[section])
            if unknown:
                raise VibError(f"unknown option(s) in config section '{section}': {', '.join(sorted(unknown))}")
            config[section].update(values)
        else:
            config[section] = dict(values)
    config["optim"] = complete_optim(config["optim"])
    head_options(config["head"])
    return config


class TrainNet(nn.Module):
    """Extractor + head as one module (what DDP wraps): ``(feats, labels) -> head output``."""

    def __init__(self, extractor: nn.Module, head: nn.Module):
        super().__init__()
        self.extractor, self.head = extractor, head

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> dict:
        mu, logvar = self.extractor(feats)
        # Classifier, margin, KL and cross-entropy in fp32 with autocast off, for every head: under
        # CUDA autocast a bf16 cosine has a spacing of 0.0039 (0.125 logit at s = 32), and ops on
        # CUDA's fp32 list (pow) would meet bf16 ones (scatter) with mixed dtypes.
        with torch.autocast(mu.device.type, enabled=False):
            return dict(self.head(mu.float(), None if logvar is None else logvar.float(), labels))


def build_net(config: dict[str, Any], num_classes: int) -> TrainNet:
    """Extractor and head from a merged config."""
    extractor = build_model(config["model"], head_needs_logvar(config["head"]))
    return TrainNet(extractor, build_head(config["head"], extractor.embed_dim, num_classes))


def _write_history(exp_dir: Path, history: list[dict[str, Any]], schedules: list[str]) -> None:
    with atomic_output(str(exp_dir / "train.jsonl")) as f:
        for row in history:
            f.write(json.dumps(row) + "\n")
    plot_curve(history, exp_dir / "curve.png", schedules)


# Row keys that are not curves of the loss panel.
_NOT_LOSSES = {"epoch", "acc", "lr", "crops_per_s", "seconds"}


def plot_curve(history: list[dict[str, Any]], path: Path, schedules: list[str]) -> None:
    """The loss and the head's scalars, the accuracy, and the learning rate with the head's
    ``schedules`` (row keys: ``margin``, ``beta``, ...) against epoch, as a PNG (atomic)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for key in (k for k in history[-1] if k not in _NOT_LOSSES and k not in schedules):
        axes[0].plot(epochs, [row[key] for row in history], marker=".", label=key)
    axes[0].set_title("loss (nats) and head scalars")
    axes[1].plot(epochs, [row["acc"] for row in history], marker=".")
    axes[1].set_title("training accuracy")
    axes[2].plot(epochs, [row["lr"] for row in history], marker=".", label="lr")
    axes[2].set_yscale("log")
    axes[2].set_title("lr (log)" + (f", {' / '.join(schedules)}" if schedules else ""))
    if schedules:
        twin = axes[2].twinx()
        for key, style in zip(schedules, ("g--", "r:", "m-.", "c-")):
            twin.plot(epochs, [row[key] for row in history], style, label=key)
        twin.legend(loc="center right")
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend()
    fig.tight_layout()
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def _format_line(row: dict[str, Any], epochs: int) -> str:
    scalars = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in _NOT_LOSSES)
    return (f"epoch {row['epoch']}/{epochs}: {scalars} acc {100 * row['acc']:.2f}% lr {row['lr']:.3g} "
            f"{row['crops_per_s']:.1f} crops/s ({row['seconds']:.1f} s)")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


# Settings a resumed run must share with its checkpoint (``model`` and ``head`` always: the
# weights would not fit; the rest unless ``force``): each would silently reshape the run.
RESUME_KEYS = ("model", "head", "seed", "optim", "data", "train.epochs", "train.batch_size", "train.crop_frames",
               "train.epoch_size", "train.amp", "train.amp_dtype", "train.average_last")


def _setting(config: dict[str, Any], dotted: str) -> Any:
    section, _, key = dotted.partition(".")
    return config[section][key] if key else config[section]


def check_resumable(state: dict[str, Any], config: dict[str, Any], num_classes: int, world: int,
                    path: Path, force: bool) -> None:
    """Refuses to resume from ``state`` when its classes, model or head differ, or (unless
    ``force``) any other of :data:`RESUME_KEYS` or the number of processes; the error names the key."""
    try:
        saved = merge_config(state["config"])
    except VibError as err:
        raise VibError(f"{path}: its config is not one this version reads ({err}); resume with the version "
                       f"that wrote it, or train into a new experiment dir") from None
    if state["num_classes"] != num_classes:
        raise VibError(f"{path}: trained with {state['num_classes']} classes, now {num_classes}")
    for key in RESUME_KEYS:
        if _setting(saved, key) != _setting(config, key) and (key in ("model", "head") or not force):
            hint = "" if key in ("model", "head") else " (or pass --force to resume with the new value)"
            raise VibError(f"{path}: its '{key}' config differs from the current one (saved {_setting(saved, key)}, "
                           f"now {_setting(config, key)}); use a new experiment directory or the original config{hint}")
    saved_world = int(state.get("world_size", len(state["rng"])))
    if saved_world != world and not force:
        raise VibError(f"{path}: trained with {saved_world} process(es), now {world}: the data each rank sees "
                       f"would change; run with {saved_world} or pass --force")


def _init_extractor(net: TrainNet, path: str, config: dict[str, Any]) -> None:
    """Fine-tuning (``train.init_from``): the extractor's weights from another run's ``final.pt``
    or checkpoint, whose model config must be this one's; the head starts anew (new classes,
    new loss) unless ``train.init_head`` (same classes, e.g. large-margin fine-tuning: the head's
    weights too, its schedules from this config). Only a run that starts does this: a resumed
    fine-tune resumes its own checkpoints."""
    state = ckpt.load(path, require=("model", "config"))
    source = state["config"].get("model") if isinstance(state["config"], dict) else None
    if source != config["model"]:
        raise VibError(f"train.init_from '{path}': its model config {source} is not this run's {config['model']}")
    # the log-variance layer belongs to VIB heads: dropped for a head without, new for one with
    weights = {k: v for k, v in state["model"].items()
               if net.extractor.logvar is not None or not k.startswith("logvar.")}
    missing, unexpected = net.extractor.load_state_dict(weights, strict=False)
    bad = [k for k in missing if not k.startswith("logvar.")] + list(unexpected)
    if bad:
        raise VibError(f"train.init_from '{path}': its weights do not fit this model (e.g. '{bad[0]}')")
    if config["train"]["init_head"]:
        head = state.get("head")
        if not isinstance(head, dict):
            raise VibError(f"train.init_head: '{path}' holds no training head (a final.pt written before heads "
                           f"were kept there? use one of its checkpoints/epoch-N.pt)")
        try:
            net.head.load_state_dict(head)
        except RuntimeError as err:
            raise VibError(f"train.init_head: the head of '{path}' does not fit this head (another type or "
                           f"number of classes): {one_line(err)}") from None


def _freeze(net: TrainNet, prefixes: Sequence[str]) -> int:
    """``train.freeze``: extractor parameters whose names start with one of ``prefixes`` (e.g.
    ``trunk``, ``trunk.stem``) get no gradient; returns how many tensors. A prefix that names
    no parameter is an error listing the top-level ones."""
    names = [n for n, _ in net.extractor.named_parameters()]
    for prefix in prefixes:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            top = sorted({n.split(".")[0] for n in names})
            raise VibError(f"train.freeze: no extractor parameter under '{prefix}' (top-level: {', '.join(top)})")
    frozen = 0
    for name, param in net.extractor.named_parameters():
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            param.requires_grad_(False)
            frozen += 1
    return frozen


def _resume_point(ctx: distributed.Context, exp_dir: Path) -> int:
    """The epoch to resume from (0: start), decided by rank 0 from its checkpoints; every rank
    must have that checkpoint (a shared experiment dir), else all stop with the same error."""
    existing = ckpt.list_checkpoints(exp_dir) if ctx.is_main else []
    start = distributed.broadcast(ctx, existing[-1][0] if existing else 0)
    if start:
        path = ckpt.checkpoint_path(exp_dir, start)
        missing = [r for r, ok in enumerate(distributed.gather(ctx, path.is_file())) if not ok]
        if missing:
            raise VibError(f"rank 0 resumes from {path}, which rank(s) {', '.join(map(str, missing))} cannot "
                           f"see: every rank needs the experiment dir (a shared filesystem, or a copy)")
    return start


def train(config: dict[str, Any], exp_dir: str | Path, loader_factory: LoaderFactory, num_classes: int,
          log: Callable[[str], None] = print, force: bool = False) -> Path:
    """Trains (or resumes) to ``train.epochs`` epochs; returns the path of ``final.pt``.
    ``force``: resume even though settings of :data:`RESUME_KEYS` (but model and head) or
    the number of processes changed."""
    config = merge_config(config)
    exp_dir = Path(exp_dir)
    tcfg, ocfg = config["train"], config["optim"]
    ctx = distributed.setup(tcfg["device"])
    rank, world, device, is_main = ctx.rank, ctx.world, ctx.device, ctx.is_main
    if device.type == "cpu" and tcfg["num_threads"]:
        torch.set_num_threads(int(tcfg["num_threads"]))
    final_path = exp_dir / "final.pt"
    epochs = int(tcfg["epochs"])

    _seed_everything(config["seed"])
    net = build_net(config, num_classes).to(device)
    freeze = tcfg["freeze"] or []
    if not isinstance(freeze, list) or not all(isinstance(p, str) for p in freeze):
        raise VibError(f"train.freeze: expected a list of parameter-name prefixes (e.g. [trunk]), got {freeze!r}")
    frozen = _freeze(net, freeze)
    if device.type == "cuda":
        # one crop shape: pick the fastest kernels once (lengths drawn per batch would re-pick for each)
        crop = tcfg["crop_frames"]
        torch.backends.cudnn.benchmark = isinstance(crop, int) or len(set(crop)) == 1
        if config["model"].get("type", DEFAULT_MODEL) == "resnet":
            net.extractor.to(memory_format=torch.channels_last)  # 2-D convolutions: NHWC is faster under AMP
    optimizer = build_optimizer(net.parameters(), ocfg)
    use_amp = bool(tcfg["amp"]) and device.type == "cuda"
    amp_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[tcfg["amp_dtype"]]
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    step, start_epoch, history = 0, 0, []
    _seed_everything(config["seed"] + 1000003 * rank)

    resume_from = _resume_point(ctx, exp_dir)
    if resume_from:
        path = ckpt.checkpoint_path(exp_dir, resume_from)
        state = ckpt.load(path, require=("model", "head", "optimizer", "scaler", "step", "epoch", "rng", "history",
                                         "config", "num_classes"))
        check_resumable(state, config, num_classes, world, path, force)
        net.extractor.load_state_dict(state["model"])
        net.head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        step, start_epoch, history = state["step"], state["epoch"], state["history"]
        if len(state["rng"]) == world:
            ckpt.set_rng_state(state["rng"][rank])
        else:  # --force with another world size: fresh, distinct streams per rank
            _seed_everything(config["seed"] + 1000003 * rank + 7919 * start_epoch)
        if is_main:
            log(f"resuming from {path} (epoch {start_epoch} done, step {step})")
    else:
        if tcfg["init_from"]:
            _init_extractor(net, tcfg["init_from"], config)
        if is_main:
            log(f"training {config['model'].get('type', DEFAULT_MODEL)} + {config['head'].get('type', DEFAULT_HEAD)} "
                f"head: {count_parameters(net.extractor)} extractor parameters, {count_parameters(net.head)} head "
                f"parameters, {num_classes} classes, {world} process(es) on {device}"
                + (f"; extractor{' and head' if tcfg['init_head'] else ''} initialised from {tcfg['init_from']}"
                   if tcfg["init_from"] else "") + (f"; {frozen} parameter tensors frozen ({', '.join(freeze)})"
                                                    if frozen else ""))

    model: nn.Module = net
    if world > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    schedules = list(net.head.set_progress(float(start_epoch)))  # the head's scheduled values (logged)
    for epoch in range(start_epoch, epochs):
        row = _train_epoch(model, net.head, optimizer, scaler, loader_factory(epoch), epoch, step, config, device,
                           use_amp, amp_dtype, exp_dir, is_main, world)
        step = row.pop("step")
        history.append(row)
        rng = distributed.gather(ctx, ckpt.rng_state())
        if is_main:
            ckpt.save_atomic({"model": net.extractor.state_dict(), "head": net.head.state_dict(),
                              "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                              "step": step, "epoch": epoch + 1, "rng": rng, "world_size": world,
                              "history": history, "config": config, "num_classes": num_classes},
                             ckpt.checkpoint_path(exp_dir, epoch + 1))
            keep = tcfg["keep_last"] or max(1, int(tcfg["average_last"]))
            ckpt.prune(exp_dir, max(keep, int(tcfg["average_last"])))
            _write_history(exp_dir, history, schedules)
            log(_format_line(row, epochs))
        distributed.barrier(ctx)

    if is_main and (start_epoch < epochs or not final_path.exists()):
        used = ckpt.average_last(exp_dir, int(tcfg["average_last"]), final_path)
        log(f"wrote {final_path} (average of {', '.join(p.name for p in used)})")
    distributed.barrier(ctx)
    return final_path


def _train_epoch(model: nn.Module, head: nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler, loader: Iterable, epoch: int, step: int, config: dict[str, Any],
                 device: torch.device, use_amp: bool, amp_dtype: torch.dtype, exp_dir: Path, is_main: bool,
                 world: int) -> dict[str, Any]:
    """One epoch; returns the epoch's log row (plus the new global ``step``): the means of the
    loss and of every scalar the head reports, the accuracy, and the last value of the learning
    rate and of each of the head's schedules."""
    tcfg, ocfg = config["train"], config["optim"]
    epochs = int(tcfg["epochs"])
    steps = len(loader)  # type: ignore[arg-type]
    if steps == 0:
        raise VibError(f"epoch {epoch + 1}: the data loader yields no batches")
    model.train()
    sums: torch.Tensor | None = None  # loss, the head's scalars (keys), correct, count; float64 on the device
    keys: list[str] = []
    never = torch.tensor(float(steps), device=device)
    first_bad = never.clone()  # first batch with a non-finite loss (or gradient norm); checked every N steps
    check_every = max(1, int(tcfg["finite_check_every"]))
    params = [p for p in model.parameters() if p.requires_grad]
    schedule = schedule_options(ocfg)
    lr, scheduled = 0.0, {}
    start = time.perf_counter()
    bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False,
               disable=not (is_main and tcfg["progress"]), dynamic_ncols=True)
    for i, (feats, labels) in enumerate(bar):
        fractional = epoch + i / steps
        lr = learning_rate(fractional, epochs, ocfg["lr"], **schedule)
        scheduled = head.set_progress(fractional)
        for group in optimizer.param_groups:
            group["lr"] = lr
        feats = feats.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            out = model(feats, labels)
        loss = out["loss"]
        finite = torch.isfinite(loss.detach())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if ocfg["grad_clip"]:
            scaler.unscale_(optimizer)
            norm = nn.utils.clip_grad_norm_(params, float(ocfg["grad_clip"]))
            if not scaler.is_enabled():  # with fp16 the scaler skips steps with inf gradients itself
                finite = finite & torch.isfinite(norm)
        first_bad = torch.where(finite | (first_bad < never), first_bad, torch.full_like(first_bad, i))
        scaler.step(optimizer)
        scaler.update()
        step += 1
        batch = labels.shape[0]
        if sums is None:
            keys = [k for k in out if k not in ("loss", "logits")]
        correct = (out["logits"].argmax(dim=-1) == labels).sum()
        batch_sums = torch.stack([loss.detach() * batch, *(out[k].detach() * batch for k in keys), correct,
                                  torch.tensor(batch, device=device)]).double()
        sums = batch_sums if sums is None else sums + batch_sums
        if (i + 1) % check_every == 0 or i + 1 == steps:  # one host sync (and all-reduce) per N steps
            _check_finite(first_bad, steps, world, exp_dir, epoch)
    bar.close()
    if world > 1:
        dist.all_reduce(sums)
    seconds = time.perf_counter() - start
    totals = sums.tolist()
    count = totals[-1]
    return {"epoch": epoch + 1, "loss": totals[0] / count, **{k: v / count for k, v in zip(keys, totals[1:-2])},
            "acc": totals[-2] / count, "lr": lr, **scheduled, "crops_per_s": count / seconds, "seconds": seconds,
            "step": step}


def _check_finite(first_bad: torch.Tensor, steps: int, world: int, exp_dir: Path, epoch: int) -> None:
    """Stops training (every rank) if any rank saw a non-finite loss or gradient norm
    (``first_bad < steps``); the one host sync of the check."""
    if world > 1:
        first_bad = first_bad.clone()
        dist.all_reduce(first_bad, op=dist.ReduceOp.MIN)
    bad = int(first_bad.item())
    if bad < steps:
        _diverged(exp_dir, epoch, bad, "the loss or gradient norm is NaN or infinite")


def _diverged(exp_dir: Path, epoch: int, batch: int, what: str) -> None:
    existing = ckpt.list_checkpoints(exp_dir)
    kept = f"last good checkpoint kept: {existing[-1][1]}" if existing else "no checkpoint was written yet"
    raise TrainingDiverged(f"training stopped at epoch {epoch + 1}, batch {batch + 1}: {what}; {kept}. "
                           f"Lower optim.lr, set optim.grad_clip, or check the features, then re-run to resume")
