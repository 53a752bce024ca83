"""Heads and losses against closed forms, Monte-Carlo, slow references and gradcheck."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vib.errors import VibError
from vib.heads import HEADS, build_head, head_needs_logvar
from vib.heads.margin import AAMHead, AMHead, margin_logits
from vib.heads.softmax import SoftmaxHead
from vib.heads.subcenter import SubcenterAAMHead
from vib.heads.vib import VIBHead, gaussian_kl


def test_kl_matches_torch_distributions_closed_form():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    reference = torch.distributions.kl_divergence(q, p)
    assert torch.allclose(gaussian_kl(mu, logvar, "sum"), reference.sum(-1))
    assert torch.allclose(gaussian_kl(mu, logvar, "mean"), reference.mean(-1))


def test_kl_matches_monte_carlo_estimate():
    torch.manual_seed(1)
    mu = torch.tensor([[0.5, -1.0, 0.2]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.3, -1.2]], dtype=torch.float64)
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(400_000, 3, dtype=torch.float64)
    log_q = (-0.5 * ((z - mu) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_p = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    estimate = (log_q - log_p).mean().item()
    assert gaussian_kl(mu, logvar).item() == pytest.approx(estimate, abs=0.01)


def test_kl_unknown_reduction_is_an_error():
    with pytest.raises(ValueError, match="kl_reduction"):
        gaussian_kl(torch.zeros(1, 2), torch.zeros(1, 2), "max")


def _slow_margin_logits(cosine, labels, kind, m, s):
    out = []
    for i, row in enumerate(cosine.tolist()):
        new = []
        for j, c in enumerate(row):
            if j == labels[i]:
                theta = math.acos(max(-1.0, min(1.0, c)))
                if kind == "am":
                    c = c - m
                elif theta + m <= math.pi:
                    c = math.cos(theta + m)
                else:
                    c = c - m * math.sin(m)
            new.append(s * c)
        out.append(new)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["aam", "am"])
def test_margin_logits_match_slow_reference(kind):
    torch.manual_seed(2)
    cosine = torch.rand(9, 5, dtype=torch.float64) * 2 - 1
    cosine[0, 1] = -0.999  # theta + m > pi: ArcFace's continuation branch
    labels = torch.tensor([1, 0, 4, 2, 3, 1, 0, 2, 4])
    fast = margin_logits(cosine, labels, kind, 0.2, 32.0)
    assert torch.allclose(fast, _slow_margin_logits(cosine, labels.tolist(), kind, 0.2, 32.0), atol=1e-9)


def test_margin_head_with_zero_margin_is_scaled_cosine_softmax():
    torch.manual_seed(3)
    head = AAMHead(8, 4, scale=16.0, margin=0.3, margin_warmup=[1, 2])
    emb, labels = torch.randn(6, 8), torch.randint(0, 4, (6,))
    cosine = F.normalize(emb) @ F.normalize(head.classifier.weight).t()
    assert head.set_progress(0.5) == {"margin": 0.0}  # the head's own schedule: 0 until epoch 1
    at_zero = head(emb, None, labels)["loss"]
    assert at_zero.item() == pytest.approx(F.cross_entropy(16.0 * cosine, labels).item(), rel=1e-5)
    assert head.set_progress(1.5)["margin"] == pytest.approx(0.15) and head.set_progress(3.0) == {"margin": 0.3}
    assert head(emb, None, labels)["loss"] > at_zero


@pytest.mark.parametrize("classifier", ["linear", "cosine"])
def test_vib_with_beta_zero_and_tiny_variance_behaves_as_softmax(classifier):
    torch.manual_seed(4)
    vib, soft = VIBHead(8, 5, classifier=classifier, beta=0.0), SoftmaxHead(8, 5, classifier)
    soft.load_state_dict(vib.state_dict())
    mu = torch.randn(10, 8, requires_grad=True)
    logvar = torch.full((10, 8), -30.0)  # sigma ~ 3e-7
    labels = torch.randint(0, 5, (10,))
    out_v, out_s = vib(mu, logvar, labels), soft(mu, None, labels)
    assert out_v["loss"].item() == pytest.approx(out_s["loss"].item(), rel=1e-5)
    grad_v, = torch.autograd.grad(out_v["loss"], mu)
    grad_s, = torch.autograd.grad(out_s["loss"], mu)
    assert torch.allclose(grad_v, grad_s, atol=1e-5)
    assert torch.equal(out_v["logits"], out_s["logits"])


def test_vib_noise_lowers_target_posterior_in_expectation():
    """The method's premise (Jensen): E[CE(logits(z))] >= CE(logits(mu))."""
    torch.manual_seed(5)
    head = VIBHead(8, 5, samples=2000, beta=0.0)
    mu, labels = torch.randn(4, 8), torch.randint(0, 5, (4,))
    noisy = head(mu, torch.zeros(4, 8), labels)["ce"]
    clean = F.cross_entropy(head.classifier(mu), labels)
    assert noisy > clean


def test_vib_loss_is_ce_plus_beta_kl_and_samples_average():
    torch.manual_seed(6)
    head = VIBHead(6, 3, samples=3, kl_reduction="mean", beta=0.5, beta_warmup=[0, 2])
    mu, logvar, labels = torch.randn(4, 6), torch.randn(4, 6), torch.tensor([0, 1, 2, 0])
    assert head.set_progress(1.0) == {"beta": 0.25} and head.set_progress(2.0) == {"beta": 0.5}
    torch.manual_seed(9)
    out = head(mu, logvar, labels)
    torch.manual_seed(9)
    z = mu + (0.5 * logvar).exp() * torch.randn(3, 4, 6)
    ce = sum(F.cross_entropy(z[k] @ head.classifier.weight.t(), labels) for k in range(3)) / 3
    kl = gaussian_kl(mu, logvar, "mean").mean()
    assert out["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((ce + 0.5 * kl).item(), rel=1e-5)
    assert out["sigma"].item() == pytest.approx((0.5 * logvar).exp().mean().item(), rel=1e-6)


def _seeded(fn):
    def wrapped(*args):
        torch.manual_seed(0)
        return fn(*args)
    return wrapped


def test_gradcheck_heads_double_precision():
    torch.manual_seed(7)
    labels = torch.tensor([0, 2, 1])
    mu = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    logvar = (0.3 * torch.randn(3, 4, dtype=torch.float64)).requires_grad_()
    heads = [
        (VIBHead(4, 3, samples=2, beta=0.3).double(), True),
        (VIBHead(4, 3, classifier="cosine", scale=4.0, margin_type="aam", beta=0.3).double(), True),
        (VIBHead(4, 3, bottleneck="logits", beta=0.3).double(), False),
        (AAMHead(4, 3, scale=4.0).double(), False),
        (AMHead(4, 3, scale=4.0).double(), False),
        (SubcenterAAMHead(4, 3, scale=4.0, subcenters=2).double(), False),
        (SoftmaxHead(4, 3, "cosine", scale=4.0).double(), False),
    ]
    for head, uses_logvar in heads:
        head.set_progress(10.0)
        if uses_logvar:
            fn = _seeded(lambda m, lv, h=head: h(m, lv, labels)["loss"])
            assert torch.autograd.gradcheck(fn, (mu, logvar))
        else:
            fn = _seeded(lambda m, h=head: h(m, None, labels)["loss"])
            assert torch.autograd.gradcheck(fn, (mu,))


def test_logits_bottleneck_kl_is_over_classes():
    torch.manual_seed(8)
    head = VIBHead(4, 7, bottleneck="logits", beta=1.0)
    out = head(torch.randn(3, 4), None, torch.tensor([0, 1, 2]))
    assert out["kl"] > 0 and out["logits"].shape == (3, 7)
    assert head_needs_logvar({"type": "vib", "bottleneck": "logits"}) is False
    assert head_needs_logvar({"type": "vib"}) is True and head_needs_logvar({"type": "aam"}) is False


def test_build_head_rejects_unknown_options_and_types():
    with pytest.raises(VibError, match=r"head 'softmax' has no option\(s\) bogus \(its options: classifier, scale\)"):
        build_head({"type": "softmax", "bogus": 1}, 8, 3)
    with pytest.raises(VibError, match="unknown head type 'sphereface': expected aam, am, sc_aam, softmax, vib"):
        build_head({"type": "sphereface"}, 8, 3)
    with pytest.raises(VibError, match="needs classifier: cosine"):
        build_head({"type": "vib", "margin_type": "aam"}, 8, 3)
    with pytest.raises(ValueError, match="log-variance"):
        build_head({"type": "vib"}, 8, 3)(torch.zeros(2, 8), None, torch.zeros(2, dtype=torch.long))


def test_subcenter_aam_is_aam_on_the_best_subcenter():
    """Against a slow reference: per class the largest of K sub-center cosines, then AAM; with
    one sub-center it is AAM with the same weights."""
    torch.manual_seed(10)
    head = SubcenterAAMHead(6, 4, scale=8.0, margin=0.2, subcenters=3)
    mu, labels = torch.randn(5, 6, dtype=torch.float64), torch.tensor([0, 3, 1, 2, 3])
    head.double()
    weights = F.normalize(head.classifier.weight.detach(), dim=-1).view(4, 3, 6)
    best = torch.tensor([[max(float(F.normalize(mu[b], dim=0) @ weights[c, k]) for k in range(3))
                          for c in range(4)] for b in range(5)], dtype=torch.float64)
    want = F.cross_entropy(margin_logits(best, labels, "aam", 0.2, 8.0), labels)
    out = head(mu, None, labels)
    assert out["loss"].item() == pytest.approx(want.item(), rel=1e-9)
    assert torch.allclose(out["logits"], 8.0 * best)
    one, aam = SubcenterAAMHead(6, 4, subcenters=1), AAMHead(6, 4)
    aam.load_state_dict(one.state_dict())
    assert torch.equal(one(mu.float(), None, labels)["loss"], aam(mu.float(), None, labels)["loss"])
    assert HEADS.defaults("sc_aam", ("embed_dim", "num_classes")) == {
        "scale": 32.0, "margin": 0.2, "margin_warmup": None, "subcenters": 3}
