"""ORPO / DPO / SimPO as pure functions: values against a hand computation, stability at p -> 1."""

import math

import pytest
import torch

from hgrec.alignment.losses import dpo_loss, log1mexp, log_odds, orpo_loss, simpo_loss


def _logsig(x):
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


# one pair, 3 steps; y+'s last step is padding
P_POS, P_NEG = [0.5, 0.25, 0.9], [0.1, 0.6, 0.3]
R_POS, R_NEG = [0.4, 0.5, 0.2], [0.2, 0.3, 0.5]  # the reference policy's probabilities (DPO)


def _t(ps):
    return torch.tensor([[math.log(p) for p in ps]], dtype=torch.float64)


MASK_POS = torch.tensor([[True, True, False]])
MASK_NEG = torch.tensor([[True, True, True]])


def test_orpo_matches_eq_14_by_hand():
    z_pos = math.log(0.5 / 0.5) + math.log(0.25 / 0.75)  # eq. (13) summed over y+'s 2 real steps
    z_neg = math.log(0.1 / 0.9) + math.log(0.6 / 0.4) + math.log(0.3 / 0.7)
    nll = -(math.log(0.5) + math.log(0.25))
    for alpha in (0.1, 1.0):
        loss, margin = orpo_loss(_t(P_POS), _t(P_NEG), MASK_POS, MASK_NEG, alpha)
        assert margin.item() == pytest.approx(z_pos - z_neg, rel=1e-12)
        assert loss.item() == pytest.approx(nll - alpha * _logsig(z_pos - z_neg), rel=1e-12)


def test_dpo_matches_by_hand():
    beta = 0.1
    pos = (math.log(0.5) + math.log(0.25)) - (math.log(0.4) + math.log(0.5))
    neg = sum(map(math.log, P_NEG)) - sum(map(math.log, R_NEG))
    loss, margin = dpo_loss(_t(P_POS), _t(P_NEG), _t(R_POS), _t(R_NEG), MASK_POS, MASK_NEG, beta)
    assert margin.item() == pytest.approx(beta * (pos - neg), rel=1e-12)
    assert loss.item() == pytest.approx(-_logsig(beta * (pos - neg)), rel=1e-12)


def test_simpo_matches_by_hand():
    beta, gamma = 2.0, 1.0
    pos = (math.log(0.5) + math.log(0.25)) / 2  # length-normalised: 2 real steps
    neg = sum(map(math.log, P_NEG)) / 3
    loss, margin = simpo_loss(_t(P_POS), _t(P_NEG), MASK_POS, MASK_NEG, beta, gamma)
    assert margin.item() == pytest.approx(beta * (pos - neg), rel=1e-12)
    assert loss.item() == pytest.approx(-_logsig(beta * pos - beta * neg - gamma), rel=1e-12)


@pytest.mark.parametrize("x", [-1e-5, -1e-3, -0.5, -math.log(2) + 1e-9, -math.log(2) - 1e-9, -0.7, -5.0, -40.0])
def test_log1mexp_is_accurate_on_both_branches(x):
    for dtype in (torch.float32, torch.float64):
        got = log1mexp(torch.tensor(x, dtype=dtype)).item()
        assert got == pytest.approx(math.log(-math.expm1(x)), rel=1e-5 if dtype == torch.float32 else 1e-12)


def test_no_nan_or_inf_when_p_goes_to_one():
    # log p = 0 exactly (p rounded to 1), tiny negatives, and ordinary values, in float32
    logp = torch.tensor([[0.0, -1e-30, -1e-9, -1e-7, -0.3]], requires_grad=True)
    lo = log_odds(logp)
    assert torch.isfinite(lo).all() and (lo[0, :4] > 10).all()  # large, finite
    lo.sum().backward()
    assert torch.isfinite(logp.grad).all()
    # the whole ORPO loss with a certain y+ and a certain y-: finite value and gradients
    pos = torch.zeros(2, 4, requires_grad=True)
    neg = torch.tensor([[0.0, 0.0, -1e-12, -2.0], [-50.0, -1e-3, 0.0, 0.0]], requires_grad=True)
    mask = torch.ones(2, 4, dtype=torch.bool)
    loss, margin = orpo_loss(pos, neg, mask, mask)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(margin).all()
    assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
    # logits that make p = 1 in float32 -> log_softmax = 0 -> still finite through the model path
    logits = torch.tensor([[60.0, 0.0, 0.0]], requires_grad=True)
    lp = torch.log_softmax(logits, -1)[:, :1]
    loss, _ = orpo_loss(lp, lp - 1.0, torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 1, dtype=torch.bool))
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_masked_steps_do_not_count():
    logp = torch.log(torch.tensor([[0.5, 0.2, 0.3]]))
    garbage = logp.clone()
    garbage[0, 2] = float("-inf")  # a padding step may hold anything
    m = torch.tensor([[True, True, False]])
    for fn in (lambda a: orpo_loss(a, logp, m, m), lambda a: simpo_loss(a, logp, m, m)):
        assert torch.equal(fn(logp)[0], fn(garbage)[0])
