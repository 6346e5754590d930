import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hgrec.decoding import gsbi
from hgrec.models import build_model
from hgrec.tokenizers.trie import PrefixTrie

VOCAB = [4, 4, 3]
TINY = {"d_model": 32, "n_heads": 2, "d_ff": 64, "context_layers": 1, "slate_layers": 2, "item_layers": 1,
        "dropout": 0.0}


def _codes(n, seed=0):
    rng = np.random.default_rng(seed)
    all_codes = np.stack(np.meshgrid(*[np.arange(v) for v in VOCAB], indexing="ij"), -1).reshape(-1, len(VOCAB))
    return all_codes[np.sort(rng.choice(len(all_codes), n, replace=False))]


def _model(n=30, M=3, seed=0, **over):
    torch.manual_seed(seed)
    m = build_model("higr", {**TINY, **over}, num_items=n, max_len=6, slate_size=M, sid_vocab=VOCAB,
                    feature_vocab=[3, 4])
    m.sid.set_codes(_codes(n, seed))
    return m


def _batch(n, B=5, M=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    hist = torch.randint(1, n + 1, (B, 6), generator=g)
    hist[0, :3] = 0  # a short history
    target = torch.stack([torch.randperm(n, generator=g)[:M] + 1 for _ in range(B)])
    target[1, -1] = 0  # a slate shorter than M
    return {"history": hist, "history_ts": torch.arange(6).repeat(B, 1) * 600,
            "user_features": torch.randint(0, 3, (B, 2), generator=g), "target": target}


def _train(m, batch, steps=60):
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(steps):
        loss, n = m(batch)
        opt.zero_grad()
        (loss / n).backward()
        opt.step()
    return m.eval()


@pytest.mark.parametrize("over", [{}, {"pooling": "max"}, {"item_context": False}, {"shared_generator": False}])
def test_teacher_forced_loss_is_the_sum_of_eq12_terms(over):
    m = _model(**over).eval()
    batch = _batch(30)
    loss, n = m(batch)
    C, pad = m.encode_context(batch)
    manual, count = 0.0, 0
    for b in range(5):
        items = m.sid.item(batch["target"][b:b + 1])  # (1, M, d)
        I_hat = m.planner(items[:, :-1], C[b:b + 1], pad[b:b + 1])[0]
        for slot, item in enumerate(batch["target"][b].tolist()):
            if item == 0:
                continue
            code = m.sid.codes[item]
            logits = m.generator(slot)(m.sid, I_hat[slot:slot + 1], code[None], C[b:b + 1], pad[b:b + 1])
            for d in range(len(VOCAB)):  # - log P(s^d | i_hat_m, s^<d)
                manual -= F.log_softmax(logits[d][0], -1)[code[d]].item()
                count += 1
    assert int(n) == count == (batch["target"] > 0).sum().item() * len(VOCAB)
    assert loss.item() == pytest.approx(manual, rel=1e-5)


def test_gsbi_returns_valid_distinct_items_and_respects_history():
    n = 30
    m = _train(_model(n), _batch(n), steps=20)
    trie = PrefixTrie(m.sid.codes[1:].numpy(), vocab_sizes=VOCAB)
    batch = _batch(n)
    for exclude in (False, True):
        slates = gsbi(m, batch, trie, slate_size=8, beam=3, exclude_history=exclude)
        assert slates.shape == (5, 8)
        assert ((slates >= 1) & (slates <= n)).all()  # every code decoded to a real item
        assert all(len(set(s.tolist())) == 8 for s in slates)  # no duplicate within a slate
        if exclude:
            for s, h in zip(slates, batch["history"]):
                assert not set(s.tolist()) & set(h[h > 0].tolist())
    # asking for the whole catalogue returns each item exactly once
    full = gsbi(m, batch, trie, slate_size=n, beam=2)
    assert (full.sort(1).values == torch.arange(1, n + 1)).all()


def _brute_force(m, batch, L):
    """Slates by scoring every item's full code at every slot (exact argmax), same greedy planner."""
    C, pad = m.encode_context(batch)
    codes = m.sid.codes[1:]
    out = []
    for b in range(C.shape[0]):
        chosen = []
        for slot in range(L):
            prev = m.sid.item(torch.tensor([chosen], dtype=torch.long)) if chosen else C.new_zeros(1, 0, C.shape[-1])
            i_hat = m.planner(prev, C[b:b + 1], pad[b:b + 1])[0, -1]
            N = len(codes)
            logits = m.generator(slot)(m.sid, i_hat.expand(N, -1), codes, C[b:b + 1].expand(N, -1, -1),
                                       pad[b:b + 1].expand(N, -1))
            score = sum(F.log_softmax(lg, -1).gather(1, codes[:, d:d + 1])[:, 0] for d, lg in enumerate(logits))
            score[[c - 1 for c in chosen]] = -float("inf")
            chosen.append(int(score.argmax()) + 1)
        out.append(chosen)
    return torch.tensor(out)


def test_gsbi_with_a_beam_as_wide_as_the_catalogue_is_exact():
    n = 24
    m = _train(_model(n, seed=1), _batch(n, seed=1))
    trie = PrefixTrie(m.sid.codes[1:].numpy(), vocab_sizes=VOCAB)
    batch = _batch(n, seed=2)
    with torch.no_grad():
        assert torch.equal(gsbi(m, batch, trie, slate_size=4, beam=n), _brute_force(m, batch, 4))


@pytest.mark.parametrize("over", [{}, {"shared_generator": False}])
def test_kv_cached_and_uncached_decoding_give_identical_slates(over):
    n = 30
    m = _train(_model(n, **over), _batch(n), steps=20)
    trie = PrefixTrie(m.sid.codes[1:].numpy(), vocab_sizes=VOCAB)
    batch = _batch(n, seed=3)
    for beam in (1, 4):
        a = gsbi(m, batch, trie, slate_size=6, beam=beam, use_cache=True)
        b = gsbi(m, batch, trie, slate_size=6, beam=beam, use_cache=False)
        assert torch.equal(a, b)


def test_bad_codes_are_rejected():
    m = _model()
    with pytest.raises(ValueError, match="outside"):
        m.sid.set_codes(np.full((30, 3), 7))
    with pytest.raises(ValueError, match="must be"):
        m.sid.set_codes(np.zeros((29, 3)))


def test_hybrid_context_adds_a_free_item_table():
    """item_ids: true — a history item is its pooled SID embedding plus an item-ID embedding; two
    histories that differ only in items with the same pooled SIDs would look alike without it."""
    plain = _model()
    assert plain.context.item_emb is None
    m = _model(item_ids=True)
    assert m.context.item_emb.weight.shape == (31, TINY["d_model"]) and not m.context.item_emb.weight[0].any()
    batch = _batch(30)
    C0, _ = m.encode_context(batch)
    with torch.no_grad():
        m.context.item_emb.weight[batch["history"][2, -1]] += 1.0
    C1, _ = m.eval().encode_context(batch)
    changed = (C1 - C0.detach()).abs().amax(-1).amax(-1) > 1e-6
    touched = (batch["history"] == batch["history"][2, -1]).any(1)
    assert changed[2] and torch.equal(changed, touched)  # only histories that hold that item move
    loss, n = m.train()(batch)
    (loss / n).backward()
    assert m.context.item_emb.weight.grad[batch["history"][batch["history"] > 0]].abs().sum() > 0
    assert not m.context.item_emb.weight.grad[0].any()  # padding never learns
