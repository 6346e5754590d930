"""PreferenceModel on a tiny HiGR: per-step log-probs, loss values by hand, ORPO's gradient, DPO's reference."""

import math

import pytest
import torch
import torch.nn.functional as F

from hgrec.alignment.losses import orpo_loss
from hgrec.alignment.model import PreferenceModel
from tests.models.test_higr import VOCAB, _batch, _model

N_ITEMS, M = 30, 3


def _pairs(seed=0, B=5):
    g = torch.Generator().manual_seed(seed)
    batch = _batch(N_ITEMS, B=B, M=M, seed=seed)
    chosen = batch.pop("target")
    chosen[1, -1] = 0  # a shorter y+ (and its y-)
    rejected = chosen.clone()
    rejected[:, 0] = torch.randint(1, N_ITEMS + 1, (B,), generator=g)  # an "interest"-like replacement
    rejected[0] = chosen[0, [1, 0, 2]]  # a "ranking" negative
    rejected[(rejected == chosen).all(1), 0] = (chosen[(rejected == chosen).all(1), 0] % N_ITEMS) + 1
    return {**batch, "chosen": chosen, "rejected": rejected}


def _manual_logprobs(m, batch, slates):
    """Per-step log P(s_m^d | x, i_<m, s_m^<d), one slate and one item at a time (cf. eq. 12)."""
    C, pad = m.encode_context(batch)
    out = torch.zeros(*slates.shape, len(VOCAB), dtype=torch.float64)
    for b in range(slates.shape[0]):
        items = m.sid.item(slates[b:b + 1])
        I_hat = m.planner(items[:, :-1], C[b:b + 1], pad[b:b + 1])[0]
        for slot, item in enumerate(slates[b].tolist()):
            if item == 0:
                continue
            code = m.sid.codes[item]
            logits = m.generator(slot)(m.sid, I_hat[slot:slot + 1], code[None], C[b:b + 1], pad[b:b + 1])
            for d in range(len(VOCAB)):
                out[b, slot, d] = F.log_softmax(logits[d][0].double(), -1)[code[d]].item()
    return out


@pytest.mark.parametrize("over", [{}, {"shared_generator": False}])
def test_slate_logprobs_are_the_teacher_forced_steps_of_eq_12(over):
    m = _model(N_ITEMS, M=M, **over).eval()
    batch = _pairs()
    with torch.no_grad():
        two = m.slate_logprobs(batch, torch.stack([batch["chosen"], batch["rejected"]], 1))  # (B, 2, M, D)
        one = m.slate_logprobs(batch, batch["chosen"])
        loss, n = m({**batch, "target": batch["chosen"]})
    assert two.shape == (5, 2, M, len(VOCAB))
    for s, key in enumerate(("chosen", "rejected")):
        manual = _manual_logprobs(m, batch, batch[key])
        assert torch.allclose(two[:, s].double(), manual, atol=1e-5)
    assert torch.equal(one, two[:, 0])
    assert (two[1, :, -1] == 0).all()  # padding slot
    assert -one.sum().item() == pytest.approx(loss.item(), rel=1e-5)  # the same path as forward's eq. (12)


def _hand_orpo(lp_pos, lp_neg, alpha):
    """eq. (13)-(14) in plain Python floats for one pair."""
    odds = lambda ps: sum(lp - math.log(-math.expm1(lp)) for lp in ps)  # noqa: E731
    z = odds(lp_pos) - odds(lp_neg)
    return -sum(lp_pos) - alpha * (-math.log1p(math.exp(-z)))


def test_loss_values_match_a_hand_computation_on_a_tiny_model():
    torch.manual_seed(0)
    batch = _pairs()
    mask = lambda s: s > 0  # noqa: E731
    for method in ("orpo", "simpo", "dpo"):
        pm = PreferenceModel(_model(N_ITEMS, M=M), method, alpha=0.1).eval()
        with torch.no_grad():
            total, n = pm(batch)
        pos = _manual_logprobs(pm.policy, batch, batch["chosen"])
        neg = _manual_logprobs(pm.policy, batch, batch["rejected"])
        expect = 0.0
        for b in range(5):
            lp = [x for x in pos[b][mask(batch["chosen"][b])].flatten().tolist()]
            ln = [x for x in neg[b][mask(batch["rejected"][b])].flatten().tolist()]
            if method == "orpo":
                expect += _hand_orpo(lp, ln, 0.1)
            elif method == "simpo":  # beta 2, gamma 1, length-normalised
                r = 2.0 * sum(lp) / len(lp) - 2.0 * sum(ln) / len(ln) - 1.0
                expect += math.log1p(math.exp(-r))
            else:  # DPO at the start: policy == reference, every margin is 0 -> log 2 per pair
                expect += math.log(2.0)
        assert int(n) == 5
        assert total.item() == pytest.approx(expect, rel=1e-5), method


def test_orpo_gradient_raises_the_log_odds_of_y_plus_over_y_minus():
    torch.manual_seed(0)
    batch = _pairs(seed=4, B=8)
    pm = PreferenceModel(_model(N_ITEMS, M=M, seed=2), "orpo", alpha=0.1).eval()  # eval: no dropout noise

    def margin():
        lp = pm.policy.slate_logprobs(batch, torch.stack([batch["chosen"], batch["rejected"]], 1)).flatten(2)
        mask = (torch.stack([batch["chosen"], batch["rejected"]], 1) > 0).repeat_interleave(len(VOCAB), -1)
        return orpo_loss(lp[:, 0], lp[:, 1], mask[:, 0], mask[:, 1])[1]

    # one small gradient step on the odds-ratio term alone: first order, every pair's margin rises on average
    with torch.no_grad():
        before = margin()
    opt = torch.optim.SGD(pm.parameters(), lr=1e-3)
    lp_loss = -F.logsigmoid(margin()).sum()
    opt.zero_grad()
    lp_loss.backward()
    opt.step()
    with torch.no_grad():
        after_one = margin()
    assert after_one.mean() > before.mean()
    # training on the full eq. (14) loss: the margin z(y+) - z(y-) grows and every pair ends up right
    opt = torch.optim.Adam(pm.parameters(), lr=3e-3)
    for _ in range(30):
        loss, n = pm(batch)
        opt.zero_grad()
        (loss / n).backward()
        opt.step()
    with torch.no_grad():
        after = margin()
    assert after.mean() > before.mean() + 1.0 and (after > 0).all()
    assert pm.reference is None and pm.reference_forwards == 0  # ORPO never ran a reference model


def test_dpo_reference_is_frozen_hidden_and_counted_orpo_simpo_have_none():
    torch.manual_seed(0)
    batch = _pairs()
    pm = PreferenceModel(_model(N_ITEMS, M=M), "dpo", beta=0.1)
    ref = pm.reference
    assert ref is not None and not ref.training and not any(p.requires_grad for p in ref.parameters())
    ids = {id(p) for p in pm.parameters()}
    assert not ids & {id(p) for p in ref.parameters()}  # the optimizer never sees it
    assert pm.state_dict().keys() == pm.policy.state_dict().keys()  # checkpoints are plain HiGR ones
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    pm.train()
    assert not ref.training
    opt = torch.optim.Adam(pm.parameters(), lr=1e-2)
    for _ in range(3):
        loss, n = pm(batch)
        opt.zero_grad()
        (loss / n).backward()
        opt.step()
    assert pm.reference_forwards == 3 and pm.policy_forwards == 3
    assert all(torch.equal(before[k], v) for k, v in ref.state_dict().items())
    assert not all(torch.equal(before[k], v) for k, v in pm.policy.state_dict().items())
    for method in ("orpo", "simpo"):
        other = PreferenceModel(_model(N_ITEMS, M=M), method)
        other(batch)
        assert other.reference is None and other.reference_forwards == 0 and other.policy_forwards == 1
    # load_state_dict goes to the policy: a policy-only checkpoint round-trips
    fresh = PreferenceModel(_model(N_ITEMS, M=M, seed=5), "dpo")
    fresh.load_state_dict(pm.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(fresh.policy.state_dict().values(), pm.policy.state_dict().values()))
