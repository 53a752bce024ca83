"""Extractor shapes, padding masks and gradients."""
from __future__ import annotations

import pytest
import torch

from vib.errors import VibError
from vib.models import build_model, count_parameters
from vib.models.pooling import AttentiveStatsPool, StatsPool

CONFIGS = {
    "resnet": {"type": "resnet", "channels": 4, "layers": [1, 2, 1], "embed_dim": 12},
    "resnet_stem2": {"type": "resnet", "channels": 4, "layers": [1, 1], "stem_stride": 2, "embed_dim": 12},
    "ecapa": {"type": "ecapa", "channels": 16, "mfa_channels": 24, "scale": 4, "embed_dim": 12},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("frames", [1, 7, 50, 201])
def test_output_shapes_for_several_lengths(name, frames):
    model = build_model(CONFIGS[name], stochastic=True).eval()
    mu, logvar = model(torch.randn(3, frames, 80))
    assert mu.shape == (3, 12) and logvar.shape == (3, 12)
    assert torch.isfinite(mu).all()
    assert build_model(CONFIGS[name], stochastic=False)(torch.randn(2, frames, 80))[1] is None


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_padded_batch_equals_one_by_one(name):
    torch.manual_seed(0)
    model = build_model(CONFIGS[name], stochastic=True).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    lengths = [37, 50, 23]
    utts = [torch.randn(n, 80) * 3 + 5 for n in lengths]
    padded = torch.full((3, 50, 80), 99.0)
    for i, u in enumerate(utts):
        padded[i, : len(u)] = u
    with torch.no_grad():
        batched, _ = model(padded, torch.tensor(lengths))
        single = torch.cat([model(u[None])[0] for u in utts])
    assert torch.allclose(batched, single, atol=1e-4)


def test_mean_normalisation_makes_output_invariant_to_a_constant_offset():
    model = build_model(CONFIGS["resnet"], stochastic=False).eval()
    x = torch.randn(2, 30, 80)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], model(x + 7.0)[0], atol=1e-4)


def test_resnet34_default_size():
    assert 6_000_000 < count_parameters(build_model({}, stochastic=False)) < 8_000_000


def test_gradcheck_pooling_and_tiny_resnet():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 4])
    assert torch.autograd.gradcheck(lambda t: StatsPool(3)(t, lengths), (x,))
    attentive = AttentiveStatsPool(3, attention_dim=4).double().eval()
    assert torch.autograd.gradcheck(lambda t: attentive(t, lengths), (x,))
    model = build_model({"channels": 2, "layers": [1], "embed_dim": 3, "feat_dim": 4}, True).double().eval()
    feats = torch.randn(1, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: model(f)[0], (feats,))


def test_unknown_model_options_are_errors():
    with pytest.raises(VibError, match=r"model 'resnet' has no option\(s\) depth \(its options: feat_dim, "
                                       r"channels, layers, stem_stride, embed_dim, pooling\)"):
        build_model({"type": "resnet", "depth": 34}, False)
    with pytest.raises(VibError, match="unknown model type 'tdnn': expected ecapa, resnet"):
        build_model({"type": "tdnn"}, False)
    with pytest.raises(VibError, match="pooling 'attentive' has no option\\(s\\) heads"):
        build_model({"pooling": {"type": "attentive", "heads": 2}}, False)


def test_pooling_defaults_to_the_trunks_and_takes_options():
    assert isinstance(build_model({"type": "ecapa", "channels": 8, "mfa_channels": 16}, False).pool,
                      AttentiveStatsPool)
    assert isinstance(build_model({"channels": 2, "layers": [1]}, False).pool, StatsPool)
    pool = build_model({"channels": 2, "layers": [1], "pooling": {"type": "attentive", "attention_dim": 5}},
                       False).pool
    assert pool.attention[0].out_channels == 5
