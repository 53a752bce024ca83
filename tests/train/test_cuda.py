"""On a real GPU only (``pytest -m gpu``; bench/gpu_check.sh runs them): every head under
CUDA bf16 autocast, and a resume on CUDA (RNG states saved there, restored on the CPU)."""
from __future__ import annotations

import pytest
import torch

from tests.train.synthetic import NUM_CLASSES, SyntheticLoader, tiny_config
from tests.train.test_gpu_paths import HEADS
from vib import checkpoint as ckpt
from vib.train import build_net, merge_config, train

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run by bench/gpu_check.sh)")]


@pytest.mark.parametrize("head", HEADS, ids=lambda h: "-".join(str(v) for v in h.values())[:40])
def test_every_head_under_cuda_bf16_autocast(head):
    torch.manual_seed(0)
    net = build_net(merge_config(tiny_config(head)), NUM_CLASSES).cuda()
    feats, labels = next(iter(SyntheticLoader(0, steps=1)))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = net(feats.cuda(), labels.cuda(), head.get("margin", 0.0), head.get("beta", 0.0))
    out["loss"].backward()
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


def test_resume_on_cuda(tmp_path):
    config = tiny_config(epochs=2, device="cuda", amp=True)
    train(config, tmp_path, lambda e: SyntheticLoader(e), NUM_CLASSES, log=lambda _: None)
    ckpt.checkpoint_path(tmp_path, 2).unlink()
    (tmp_path / "final.pt").unlink()
    assert "cuda" in ckpt.load(ckpt.checkpoint_path(tmp_path, 1))["rng"][0]
    train(config, tmp_path, lambda e: SyntheticLoader(e), NUM_CLASSES, log=lambda _: None)
    assert (tmp_path / "final.pt").exists()
