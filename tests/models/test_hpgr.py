"""HPGR's invariants: intra-session attention never crosses sessions, MIM never leaks a masked item into its
own input, PGSA with K >= L equals dense attention, and top-K selection matches a brute-force reference."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hgrec.data.ctr_samples import ACTION_MASK
from hgrec.models.hpgr import HPGR, HPGRConfig, mim_mask
from hgrec.nn.session import SessionPooling, select_history, session_block_mask

N_ITEMS = 40


def random_history(B, L, seed=0, min_len=0):
    """Left-padded histories with sessions counted back from the candidate (0 = current), like CTRData.batch."""
    g = np.random.default_rng(seed)
    lens = g.integers(min_len, L + 1, B)
    valid = np.arange(L)[None, :] >= (L - lens)[:, None]
    # session index decreases towards the most recent token; new session with probability 0.4
    new = g.random((B, L)) < 0.4
    back = np.cumsum(new[:, ::-1], 1)[:, ::-1] - new  # sessions after each token
    back = back - back[:, -1:] + g.integers(0, 2, (B, 1))  # the current session may be empty (starts at 1)
    batch = {
        "items": np.where(valid, g.integers(1, N_ITEMS + 1, (B, L)), 0),
        "actions": np.where(valid, g.integers(1, 5, (B, L)), 0),
        "session": np.where(valid, back, 0),
        "pos": np.where(valid, g.integers(0, 4, (B, L)), 0),
        "gap": np.where(valid, g.integers(1, 20, (B, L)), 0),
        "ts": np.where(valid, np.arange(L)[None, :] * 60, 0),
        "hist_labels": np.where(valid, g.integers(0, 2, (B, L)), 0).astype(np.float32),
        "cand_item": g.integers(1, N_ITEMS + 1, B),
        "cand_pos": g.integers(0, 4, B),
        "cand_gap": g.integers(1, 20, B),
        "cand_ts": np.full(B, L * 60),
        "label": g.integers(0, 2, B).astype(np.float32),
    }
    return {k: torch.from_numpy(v) for k, v in batch.items()}


def model(stage="finetune", **kw):
    torch.manual_seed(0)
    return HPGR(HPGRConfig(stage=stage, d_model=16, n_heads=2, d_ff=32, dropout=0.0, **kw), N_ITEMS, 64).eval()


# ---- sessions --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(B=st.integers(1, 4), L=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_session_mask_is_block_diagonal(B, L, seed):
    b = random_history(B, L, seed)
    valid = b["items"] > 0
    m = session_block_mask(b["session"], valid)[:, 0]
    s = b["session"]
    expected = (s[:, :, None] == s[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    assert torch.equal(m, expected)


@pytest.mark.parametrize("seed", range(3))
def test_intra_session_stage_never_attends_across_sessions(seed):
    """Changing every token of one session changes the intra-session outputs of that session only."""
    m = model(intra_layers=2)
    b = random_history(3, 10, seed, min_len=6)
    valid = b["items"] > 0
    x = m.tokens(b["items"], b["actions"], b["pos"], b["session"], b["gap"])
    base = m.sem.intra_session(x, b["session"], valid)
    for row in range(3):
        for s in b["session"][row][valid[row]].unique():
            inside = valid.clone()
            inside[:] = False
            inside[row] = valid[row] & (b["session"][row] == s)
            y = m.sem.intra_session(x + 5.0 * torch.randn_like(x) * inside[..., None], b["session"], valid)
            changed = (y - base).abs().amax(-1) > 1e-6
            assert not (changed & ~inside).any(), "a token saw another session"
            assert changed[inside].all()


def test_session_pooling_summarises_its_own_session_only():
    pool = SessionPooling(8, 2).eval()
    x = torch.randn(1, 6, 8)
    session = torch.tensor([[2, 2, 1, 1, 1, 0]])
    valid = torch.ones(1, 6, dtype=torch.bool)
    s, real = pool(x, session, valid, 4)
    assert real.tolist() == [[True, True, True, False]] and s[0, 3].abs().max() == 0
    x2 = x.clone()
    x2[0, 2:5] += 3.0  # session 1 only
    s2, _ = pool(x2, session, valid, 4)
    assert torch.allclose(s[0, [0, 2]], s2[0, [0, 2]]) and not torch.allclose(s[0, 1], s2[0, 1])


# ---- masked item modeling --------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(B=st.integers(1, 6), L=st.integers(1, 16), seed=st.integers(0, 10_000),
       ratio=st.floats(0.05, 0.9), share=st.floats(0.0, 1.0), span=st.integers(1, 4))
def test_mim_mask_invariants(B, L, seed, ratio, share, span):
    b = random_history(B, L, seed)
    valid = b["items"] > 0
    g = torch.Generator().manual_seed(seed)
    mask = mim_mask(valid, b["session"], ratio, share, span, generator=g)
    assert not (mask & ~valid).any()
    n, k = valid.sum(1), mask.sum(1)
    assert ((k >= 1) & (k < n))[n >= 2].all()  # something to predict, something to predict it from
    assert (k[n < 2] == 0).all()


def test_whole_session_masking_masks_whole_sessions():
    b = random_history(64, 12, 1, min_len=12)
    valid = b["items"] > 0
    mask = mim_mask(valid, b["session"], 0.5, 1.0, 1, generator=torch.Generator().manual_seed(0))
    fixed = (mask.sum(1) == 1) | (mask.sum(1) == valid.sum(1) - 1)  # rows the at-least-one rule adjusted
    for r in torch.nonzero(~fixed).flatten().tolist():
        for s in b["session"][r].unique():
            m = mask[r][b["session"][r] == s]
            assert m.all() or not m.any()


def test_mim_never_leaks_a_masked_item_into_its_own_input(tmp_path):
    """Two windows that differ only in the masked tokens' items and actions give identical inputs and outputs."""
    from hgrec.pipelines.ctr_tasks import MIMTask

    class _Task(MIMTask):  # only `_masked` is used: no dataset needed
        def __init__(self):
            self.data = type("D", (), {"num_items": N_ITEMS})()

    task = _Task()
    raw = {k: v.numpy() for k, v in random_history(8, 12, 3, min_len=4).items()}
    valid = torch.from_numpy(raw["items"] > 0)
    mask = mim_mask(valid, torch.from_numpy(raw["session"]), 0.4, 0.5, 3, generator=torch.Generator().manual_seed(0))
    other = {k: v.copy() for k, v in raw.items()}
    m = mask.numpy()
    other["items"][m] = (other["items"][m] % N_ITEMS) + 1  # a different true item at every masked position
    other["actions"][m] = (other["actions"][m] % 4) + 1
    a, b = task._masked(raw, mask, "cpu"), task._masked(other, mask, "cpu")
    assert (a["items"][mask] == N_ITEMS + 1).all() and (a["actions"][mask] == ACTION_MASK).all()
    assert torch.equal(a["targets"][mask], torch.from_numpy(raw["items"])[mask])
    assert (a["targets"][~mask] == 0).all()
    for k in a:
        if k != "targets":
            assert torch.equal(a[k], b[k]), f"{k} carries the masked item"
    # the model, semantic IDs included, sees nothing of the true masked items
    torch.manual_seed(0)
    net = HPGR(HPGRConfig(stage="pretrain", d_model=16, n_heads=2, d_ff=32, dropout=0.0), N_ITEMS, 64,
               sid_vocab=[8, 8]).eval()
    net.tokens.sid.set_codes(torch.stack([torch.arange(N_ITEMS) % 8, torch.arange(N_ITEMS) // 8], 1))
    b["targets"] = a["targets"]  # same targets so the same rows are scored
    assert torch.equal(net.score_masked(a), net.score_masked(b))
    loss, n = net(a)
    assert n == mask.sum() and torch.isfinite(loss)


# ---- preference-guided sparse attention ------------------------------------------------------


def brute_force_selection(scores, valid, current, k, max_current):
    out = []
    for b in range(scores.shape[0]):
        real = [j for j in range(scores.shape[1]) if valid[b, j]]
        cur = [j for j in real if current[b, j]][-max_current:] if max_current else []
        rest = sorted((j for j in real if j not in cur), key=lambda j: -scores[b, j])[:k]
        out.append(set(cur) | set(rest))
    return out


@settings(max_examples=60, deadline=None)
@given(B=st.integers(1, 5), L=st.integers(1, 20), k=st.integers(1, 24), C=st.integers(0, 6),
       seed=st.integers(0, 10_000))
def test_topk_selection_matches_brute_force(B, L, k, C, seed):
    b = random_history(B, L, seed)
    valid = b["items"] > 0
    current = valid & (b["session"] == 0)
    scores = torch.from_numpy(np.random.default_rng(seed).permutation(B * L).reshape(B, L).astype(np.float32))
    idx, keep = select_history(scores, valid, current, k, C)
    assert idx.shape[1] == min(k, L) + min(C, L)  # the attention width: K + current, never L
    ref = brute_force_selection(scores.numpy(), valid.numpy(), current.numpy(), k, C)
    for r in range(B):
        chosen = idx[r][keep[r]].tolist()
        assert len(chosen) == len(set(chosen)) and set(chosen) == ref[r]


@pytest.mark.parametrize("max_current", [0, 3, 16])
@pytest.mark.parametrize("layers", [1, 2])
def test_pgsa_with_k_at_least_history_length_equals_dense_attention(max_current, layers):
    L = 14
    sparse = model(attention="sparse", top_k=L, max_current=max_current, pgsa_layers=layers)
    dense = model(attention="dense", pgsa_layers=layers)
    dense.load_state_dict(sparse.state_dict())
    b = random_history(16, L, 7)
    with torch.no_grad():
        assert torch.allclose(sparse.predict(b), dense.predict(b), atol=1e-5, rtol=1e-5)
        few = model(attention="sparse", top_k=2, max_current=0, pgsa_layers=layers)
        few.load_state_dict(sparse.state_dict())
        assert not torch.allclose(few.predict(b), dense.predict(b), atol=1e-5)  # K < L really is sparse


def test_pgsa_ignores_everything_it_did_not_select():
    """The candidate's output depends on the chosen tokens only: changing an unchosen token changes nothing."""
    m = model(attention="sparse", top_k=3, max_current=2)
    b = random_history(4, 12, 11, min_len=12)
    valid = b["items"] > 0
    states = torch.randn(4, 12, 16)
    cand = torch.randn(4, 16)
    rel = torch.randn(4, 12)
    current = valid & (b["session"] == 0)
    idx, keep = select_history(rel, valid, current, 3, 2)
    chosen = torch.zeros(valid.shape, dtype=torch.long).scatter_add_(1, idx, keep.long()) > 0
    out = m.pgsa(cand, states, valid, current, rel)
    noisy = states + torch.randn_like(states) * (~chosen)[..., None]
    assert torch.allclose(out, m.pgsa(cand, noisy, valid, current, rel), atol=1e-6)


def test_finetune_loads_the_pretrained_item_space():
    pre = model("pretrain")
    ft = HPGR(HPGRConfig(d_model=16, n_heads=2, d_ff=32, pretrained="x"), N_ITEMS, 64)
    loaded = ft.load_pretrained_state(pre.state_dict())
    assert "tokens.item_emb.weight" in loaded and any(k.startswith("sem.") for k in loaded)
    assert torch.equal(ft.selector_emb, pre.tokens.item_emb.weight)
    assert torch.equal(ft.sem.intra[0].ffn.up.weight, pre.sem.intra[0].ffn.up.weight)
    wide = HPGR(HPGRConfig(d_model=32, n_heads=2, d_ff=32), N_ITEMS, 64)
    with pytest.raises(ValueError, match="do not fit"):
        wide.load_pretrained_state(pre.state_dict())


@pytest.mark.parametrize("kw", [{"sem": False}, {"attention": "dense"}, {}])
def test_empty_histories_and_ablations_give_finite_clicks(kw):
    m = model(**kw).train()
    b = random_history(6, 5, 2)
    b["items"][:2] = 0  # users without any earlier exposure
    for key in ("actions", "session", "pos", "gap"):
        b[key][:2] = 0
    loss, n = m(b)
    loss.backward()
    assert torch.isfinite(loss) and n == 6
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="stage"):
        HPGRConfig(stage="both")
    with pytest.raises(ValueError, match="attention"):
        HPGRConfig(attention="full")
    with pytest.raises(ValueError, match="fine-tuning option"):
        HPGRConfig(stage="pretrain", pretrained="runs/x")


# ---- adaptive budget (threshold on the preference scores) ------------------------------------


def test_adaptive_budget_keeps_exactly_the_tokens_above_the_threshold():
    m = model(attention="sparse", top_k=6, max_current=2, top_k_mode="threshold", relevance_threshold=0.5)
    fixed = model(attention="sparse", top_k=6, max_current=2)
    b = random_history(8, 12, 3, min_len=12)
    valid = b["items"] > 0
    states, cand = torch.randn(8, 12, 16), torch.randn(8, 16)
    rel = torch.rand(8, 12) * 2 - 1
    current = valid & (b["session"] == 0)
    out = m.pgsa(cand, states, valid, current, rel)
    # reference: fixed-K selection with the below-threshold top-K tokens' states replaced by noise changes nothing
    idx, keep = select_history(rel, valid, current, 6, 2)
    K = 6
    above = keep[:, :K] & (rel.gather(1, idx[:, :K]) >= 0.5)
    n_cur = keep[:, K:].sum(1)
    assert m.pgsa.last_selected == pytest.approx(float((above.sum(1) + n_cur).float().mean()))
    dropped = torch.zeros_like(valid).scatter_(1, idx[:, :K], keep[:, :K] & ~above)
    noisy = states + 5 * torch.randn_like(states) * dropped[..., None]
    assert torch.allclose(out, m.pgsa(cand, noisy, valid, current, rel), atol=1e-6)
    # a threshold of -1 keeps every top-K token: the fixed-K model exactly
    everything = model(attention="sparse", top_k=6, max_current=2, top_k_mode="threshold", relevance_threshold=-1.0)
    assert torch.allclose(everything.pgsa(cand, states, valid, current, rel),
                          fixed.pgsa(cand, states, valid, current, rel), atol=1e-6)
    assert fixed.pgsa.last_selected >= m.pgsa.last_selected


def test_side_features_reach_the_prediction_of_every_ctr_model():
    from hgrec.models import build_model

    sizes = [5, 3, 16]
    for name in ("hpgr", "hstu_ctr", "mtgr", "din"):
        torch.manual_seed(0)
        m = build_model(name, {"d_model": 16, "d_ff": 32, "dropout": 0.0}, num_items=N_ITEMS, max_len=12,
                        feature_sizes=sizes).eval()
        b = random_history(6, 12, 2)
        b["features"] = torch.tensor([[1, 2, 3]] * 6)
        other = dict(b, features=torch.tensor([[4, 0, 15]] * 6))
        with torch.no_grad():
            assert not torch.allclose(m.predict(b), m.predict(other)), name
        with pytest.raises(ValueError, match="side features"):
            m.predict({k: v for k, v in b.items() if k != "features"})
