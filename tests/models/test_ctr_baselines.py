"""CTR baselines (DIN, HSTU-CTR, MTGR-style): reference ops, target awareness, cross features, training signal."""

import numpy as np
import pytest
import torch

from hgrec.models import build_model
from hgrec.models.mtgr import GroupedHSTUBlock, GroupLayerNorm, cross_feature_buckets
from hgrec.nn import HSTUBlock
from tests.models.test_hpgr import N_ITEMS, random_history


def small(name, **kw):
    torch.manual_seed(0)
    return build_model(name, {"d_model": 16, "d_ff": 32, "dropout": 0.0, **kw}, num_items=N_ITEMS, max_len=12).eval()


@pytest.mark.parametrize("name", ["din", "hstu_ctr", "mtgr", "hpgr"])
def test_every_ctr_model_learns_a_batch(name):
    m = small(name).train()
    b = random_history(32, 12, 0)
    b["label"] = (b["cand_item"] % 2).float()  # learnable from the candidate alone
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss, n = m(b)
        first = first if first is not None else loss.item() / n.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() / n.item() < 0.5 * first


@pytest.mark.parametrize("name", ["hstu_ctr", "mtgr"])
def test_hstu_rankers_are_target_aware_and_causal(name):
    """The candidate changes the prediction; the history's own states never depend on the candidate."""
    m = small(name)
    b = random_history(4, 12, 1, min_len=12)
    other = dict(b, cand_item=(b["cand_item"] % N_ITEMS) + 1)
    assert not torch.allclose(m.predict(b), m.predict(other))
    states = []
    for batch in (b, other):
        x, pad, ts, *_ = m.sequence(batch)
        T = x.shape[1]
        group = torch.zeros(T, dtype=torch.long)
        group[-1] = 1
        for blk in m.blocks:
            x = blk(x, group=group, key_padding=pad, timestamps=ts) if name == "mtgr" else \
                blk(x, key_padding=pad, timestamps=ts)
        states.append(x[:, :-1])
    assert torch.allclose(*states)


def test_group_layer_norm_and_grouped_block_reduce_to_the_plain_ones():
    x = torch.randn(2, 5, 8)
    gln = GroupLayerNorm(8, 2)
    assert torch.allclose(gln(x, torch.tensor([0, 0, 1, 1, 0])), torch.nn.functional.layer_norm(x, (8,), eps=1e-6),
                          atol=1e-6)
    torch.manual_seed(0)
    plain = HSTUBlock(8, 2, 6)
    grouped = GroupedHSTUBlock(8, 2, 6, groups=2)
    state = {k: v for k, v in plain.state_dict().items() if not k.startswith("norm")}
    grouped.load_state_dict(state, strict=False)  # group norms start at weight 1, bias 0 = LayerNorm's init
    group = torch.tensor([0, 0, 0, 0, 1])
    ts = torch.arange(5)[None].repeat(2, 1) * 100
    assert torch.allclose(plain(x, timestamps=ts), grouped(x, group=group, timestamps=ts), atol=1e-6)
    with torch.no_grad():
        grouped.norm_in.weight[1].mul_(3.0)  # the candidate group's own parameters
    y = grouped(x, group=group, timestamps=ts)
    ref = plain(x, timestamps=ts)
    assert torch.allclose(y[:, :4], ref[:, :4], atol=1e-6) and not torch.allclose(y, ref)


def test_cross_features_against_a_python_reference():
    b = random_history(16, 10, 4)
    b["items"] = torch.where(b["items"] > 0, b["items"] % 5 + 1, 0)  # many repeats
    b["cand_item"] = b["cand_item"] % 5 + 1
    got = cross_feature_buckets(b).numpy()
    for r in range(16):
        hist = [(i, y) for i, y in zip(b["items"][r].tolist(), b["hist_labels"][r].tolist()) if i > 0]
        c = b["cand_item"][r].item()
        seen = sum(i == c for i, _ in hist)
        liked = sum(i == c and y > 0 for i, y in hist)
        rate = 10 if not hist else min(int(sum(y > 0 for _, y in hist) / len(hist) * 10), 9)
        length = min(int(np.log2(1 + len(hist))), 11)
        assert got[r].tolist() == [min(seen, 7), min(liked, 7), rate, length]


def test_din_ignores_left_padding():
    m = small("din")
    b = random_history(3, 8, 5, min_len=4)
    p = m.predict(b)
    padded = {k: (torch.cat([torch.zeros_like(v[:, :3]), v], 1) if v.dim() == 2 else v) for k, v in b.items()}
    assert torch.allclose(p, m.predict(padded), atol=1e-6)  # more left padding changes nothing
