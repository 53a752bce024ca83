"""What differs on a GPU, emulated on the CPU: autocast's dtype rules in every head, the
order of CUDA device and NCCL set-up, rank 0 deciding where to resume, the log-variance
bound, and resuming only what the checkpoint was trained as (2-process gloo DDP included)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO
from tests.train.synthetic import NUM_CLASSES, SyntheticLoader, tiny_config
from vib import checkpoint as ckpt
from vib import distributed
from vib.errors import VibError
from vib.models import LOGVAR_BOUND, bound_logvar
from vib.train import build_net, merge_config, train

SCRIPT = str(REPO / "tests" / "train" / "synthetic.py")
HEADS = [
    {"type": "softmax"},
    {"type": "softmax", "classifier": "cosine", "scale": 16},
    {"type": "am", "scale": 16, "margin": 0.2},
    {"type": "aam", "scale": 32, "margin": 0.2},
    {"type": "vib", "beta": 1e-3},
    {"type": "vib", "classifier": "cosine", "scale": 16, "margin_type": "aam", "margin": 0.2, "beta": 1e-3},
    {"type": "vib", "bottleneck": "logits", "beta": 1e-3, "samples": 2},
]


def _quiet(_: str) -> None:
    pass


@pytest.fixture
def cuda_autocast_rules(monkeypatch):
    """CUDA's autocast puts ``pow`` on its fp32 list (CPU's does not): emulate it, so that a
    head computing a margin in autocast meets what it meets on a GPU (bf16 cosine from the
    matmul, fp32 target from pow -> scatter of mixed dtypes)."""
    real = torch.Tensor.pow

    def pow_fp32_under_autocast(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        return out.float() if torch.is_autocast_enabled("cpu") and out.is_floating_point() else out

    monkeypatch.setattr(torch.Tensor, "pow", pow_fp32_under_autocast)


@pytest.mark.parametrize("head", HEADS, ids=lambda h: "-".join(str(v) for v in h.values())[:40])
def test_every_head_under_bf16_autocast_runs_in_fp32(head, cuda_autocast_rules, monkeypatch):
    torch.manual_seed(0)
    config = merge_config(tiny_config(head))
    net = build_net(config, NUM_CLASSES)
    seen = []
    real_forward = net.head.forward

    def spy(mu, logvar, labels):
        seen.append((mu.dtype, None if logvar is None else logvar.dtype, torch.is_autocast_enabled("cpu")))
        return real_forward(mu, logvar, labels)

    monkeypatch.setattr(net.head, "forward", spy)
    feats, labels = next(iter(SyntheticLoader(0, steps=1)))
    net.head.set_progress(10.0)  # schedules at their final values: margins on
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(feats, labels)
    out["loss"].backward()
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
    assert out["logits"].dtype == torch.float32
    mu_dtype, logvar_dtype, autocast_on = seen[0]
    assert mu_dtype == torch.float32 and logvar_dtype in (None, torch.float32) and not autocast_on
    assert all(p.grad is not None for p in net.head.parameters())


def test_margin_in_fp32_differs_from_bf16_by_less_than_bf16_spacing():
    """The reason for fp32 heads: a bf16 cosine is off by up to 0.002 (0.06 logit at s = 32)."""
    torch.manual_seed(0)
    config = merge_config(tiny_config({"type": "aam", "scale": 32, "margin": 0.2}))
    net = build_net(config, NUM_CLASSES)
    feats, labels = next(iter(SyntheticLoader(0, steps=1)))
    assert net.head.set_progress(10.0) == {"margin": 0.2}
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            amp = net(feats, labels)["loss"]
        mu, _ = net.extractor(feats)
        ref = net.head(mu.bfloat16().float(), None, labels)["loss"]
    assert amp.dtype == torch.float32
    assert abs(amp.item() - ref.item()) < 0.05 * abs(ref.item())


def _fake_cuda(monkeypatch, calls):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", str(d))))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group",
                        lambda backend, **kw: calls.append(("init", backend, str(kw.get("device_id")))))
    monkeypatch.setattr(distributed.dist, "barrier", lambda **kw: calls.append(("barrier", kw)))


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "auto"])
def test_cuda_device_is_set_before_nccl_with_the_local_rank(monkeypatch, name):
    calls = []
    _fake_cuda(monkeypatch, calls)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = distributed.setup(name)
    assert str(ctx.device) == "cuda:1"  # never every rank on cuda:0
    assert calls == [("set_device", "cuda:1"), ("init", "nccl", "cuda:1")]
    distributed.barrier(ctx)
    assert calls[-1] == ("barrier", {"device_ids": [1]})


def test_cpu_training_on_a_cuda_machine_uses_gloo(monkeypatch):
    calls = []
    _fake_cuda(monkeypatch, calls)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert str(distributed.setup("cpu").device) == "cpu"
    assert calls == [("init", "gloo", "None")]


def test_one_process_keeps_an_explicit_gpu_index(monkeypatch):
    calls = []
    _fake_cuda(monkeypatch, calls)
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert str(distributed.setup("cuda:3").device) == "cuda:3" and calls == [("set_device", "cuda:3")]


def test_logvar_bound_keeps_kl_finite_and_gradient_alive():
    raw = torch.tensor([[-200.0, 0.5, 120.0]], requires_grad=True)
    bounded = bound_logvar(raw)
    assert bounded.tolist() == [[-LOGVAR_BOUND, 0.5, LOGVAR_BOUND]]
    from vib.heads.vib import gaussian_kl
    kl = gaussian_kl(torch.zeros(1, 3), bounded.bfloat16().float())
    assert torch.isfinite(kl).all()
    kl.sum().backward()
    assert raw.grad[0, 2] > 0 and raw.grad[0, 0] < 0  # the KL still pulls both back in range
    inside = torch.randn(4, 5)
    assert torch.equal(bound_logvar(inside), inside)


def _trained(tmp_path):
    exp = tmp_path / "exp"
    train(tiny_config(epochs=1), exp, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet)
    return exp


@pytest.mark.parametrize("change,key", [
    (lambda c: c["optim"].update(lr=0.2), "optim"),
    (lambda c: c["train"].update(epochs=3), "train.epochs"),
    (lambda c: c["train"].update(amp_dtype="float16"), "train.amp_dtype"),
    (lambda c: c.update(seed=8), "seed"),
])
def test_resume_refuses_changed_settings_unless_forced(tmp_path, change, key):
    exp = _trained(tmp_path)
    config = tiny_config(epochs=1)
    change(config)
    with pytest.raises(VibError, match=f"its '{key}' config differs.*--force"):
        train(config, exp, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet)
    train(config, exp, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet, force=True)


def test_resume_refuses_another_world_size_unless_forced(tmp_path):
    exp = tmp_path / "exp"
    train(tiny_config(epochs=2), exp, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet)
    ckpt.checkpoint_path(exp, 2).unlink()
    (exp / "final.pt").unlink()
    path = ckpt.checkpoint_path(exp, 1)
    state = ckpt.load(path)
    state.update(world_size=2, rng=state["rng"] * 2)
    torch.save(state, path)
    with pytest.raises(VibError, match="trained with 2 process\\(es\\), now 1"):
        train(tiny_config(epochs=2), exp, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet)
    train(tiny_config(epochs=2), exp, lambda e: SyntheticLoader(e, steps=2), NUM_CLASSES, log=_quiet, force=True)
    assert [e for e, _ in ckpt.list_checkpoints(exp)] == [1, 2]


def _torchrun(exp: str, epochs: int, timeout: float = 240) -> subprocess.CompletedProcess:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", SCRIPT, exp,
         "--epochs", str(epochs)], env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_two_process_gloo_ddp_resume_equals_uninterrupted(tmp_path):
    exp = tmp_path / "ddp"
    assert _torchrun(str(exp), 2).returncode == 0
    straight = ckpt.load(ckpt.checkpoint_path(exp, 2))
    ckpt.checkpoint_path(exp, 2).unlink()  # as if killed during epoch 2
    (exp / "final.pt").unlink()
    proc = _torchrun(str(exp), 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming from" in proc.stdout and proc.stdout.count("resuming from") == 1
    resumed = ckpt.load(ckpt.checkpoint_path(exp, 2))
    assert resumed["world_size"] == 2 and len(resumed["rng"]) == 2
    assert all(torch.equal(straight["model"][k], resumed["model"][k]) for k in straight["model"])


@pytest.mark.slow
def test_ranks_without_a_shared_exp_dir_stop_with_one_clear_error(tmp_path):
    """Rank 0 has a checkpoint, rank 1 (another 'node') has none: before, each rank picked its
    own start epoch; now rank 0 decides and every rank stops, naming the rank that cannot see it."""
    pattern = str(tmp_path / "node{rank}")
    train(tiny_config(epochs=1), tmp_path / "node0", lambda e: SyntheticLoader(e), NUM_CLASSES, log=_quiet)
    proc = _torchrun(pattern, 2, timeout=120)
    assert proc.returncode != 0
    assert "which rank(s) 1 cannot see" in proc.stderr
    assert not (tmp_path / "node1" / "checkpoints").exists()


def test_no_host_sync_per_step(tmp_path, monkeypatch):
    """A GPU waits for the host at every ``.item()``: the loop syncs once per
    ``finite_check_every`` steps (and at the epoch's end), not once per step."""
    calls = []
    real = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: (calls.append(1), real(self))[1])
    train(tiny_config(epochs=1, finite_check_every=4), tmp_path, lambda e: SyntheticLoader(e, steps=10),
          NUM_CLASSES, log=_quiet)
    assert len(calls) == 3  # after steps 4, 8 and 10


@pytest.mark.parametrize("model", [{"type": "ecapa", "channels": 16, "mfa_channels": 24, "scale": 4},
                                   {"type": "resnet", "channels": 4, "layers": [1, 1]}])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_masks_keep_amp_activations_in_bf16(model, with_lengths):
    """Before: ECAPA's fp32 mask (even without lengths) promoted every bf16 activation to fp32."""
    from vib.models import build_model

    trunk = build_model(model, stochastic=False).trunk
    feats = torch.randn(3, 50, 80)
    lengths = torch.tensor([50, 41, 30]) if with_lengths else None
    dtypes = []
    for block in trunk.blocks:
        block.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        frames, _ = trunk(feats, lengths)
    assert frames.dtype == torch.bfloat16 and set(dtypes) == {torch.bfloat16}


def test_trainer_takes_batches_whose_fbank_is_computed_on_its_device(tmp_path):
    """``feats.to(device)`` on a CropBatch computes the augmented rows' fbank there."""
    from vib.data.features import FBANK_DEFAULTS
    from vib.data.loader import CropBatch

    def loader(epoch):
        for feats, labels in SyntheticLoader(epoch, steps=3):
            waves = torch.randn(len(labels), 40 * 160, generator=torch.Generator().manual_seed(epoch))
            yield CropBatch(len(labels), torch.arange(0), None, torch.arange(len(labels)), waves,
                            dict(FBANK_DEFAULTS), 40), labels

    class Sized:
        def __init__(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return 3

        def __iter__(self):
            return loader(self.epoch)

    train(tiny_config(epochs=1), tmp_path, Sized, NUM_CLASSES, log=_quiet)
    assert (tmp_path / "final.pt").exists()
