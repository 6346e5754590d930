"""nn building blocks: attention against a plain reference, KV-cache decoding == full forward, HSTU."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hgrec.nn import FeedForward, HSTUBlock, KVCache, MultiHeadAttention, RMSNorm, TransformerBlock


def reference_attention(mha, x, context=None, causal=False, key_padding=None):
    """softmax(QK^T/sqrt(d) + mask) V written out by hand."""
    B, T, d = x.shape
    src = x if context is None else context
    S = src.shape[1]
    H, hd = mha.n_heads, mha.head_dim
    q = mha.query(x).view(B, T, H, hd).transpose(1, 2)
    k = mha.key(src).view(B, S, H, hd).transpose(1, 2)
    v = mha.value(src).view(B, S, H, hd).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    allowed = torch.ones(T, S, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()
    allowed = allowed[None, None].expand(B, H, T, S).clone()
    if key_padding is not None:
        allowed &= ~key_padding[:, None, None, :]
    s = s.masked_fill(~allowed, float("-inf"))
    w = torch.softmax(s, -1).nan_to_num(0.0)
    return mha.out((w @ v).transpose(1, 2).reshape(B, T, d))


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 7), S=st.integers(1, 6), heads=st.sampled_from([1, 2, 4]),
       causal=st.booleans(), cross=st.booleans(), pad=st.booleans())
def test_attention_matches_reference(B, T, S, heads, causal, cross, pad):
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, heads).eval()
    x = torch.randn(B, T, 8)
    ctx = torch.randn(B, S, 8) if cross else None
    n_keys = S if cross else T
    kp = (torch.rand(B, n_keys) < 0.3) if pad else None
    causal = causal and not cross
    got = mha(x, ctx, causal=causal, key_padding=kp)
    want = reference_attention(mha, x, ctx, causal, kp)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.isfinite(got).all()  # fully padded rows give 0, not NaN


def test_kv_cache_decoding_equals_full_forward():
    torch.manual_seed(0)
    blocks = [TransformerBlock(16, 4, 32, cross=True, cross_first=True).eval() for _ in range(2)]
    x = torch.randn(3, 6, 16)
    ctx = torch.randn(3, 5, 16)
    ctx_pad = torch.zeros(3, 5, dtype=torch.bool)
    ctx_pad[0, :2] = True
    full = x
    for b in blocks:
        full = b(full, causal=True, context=ctx, context_padding=ctx_pad)
    caches = [KVCache() for _ in blocks]
    cross = [KVCache() for _ in blocks]
    steps = []
    for t in range(6):
        h = x[:, t : t + 1]
        for b, c, cc in zip(blocks, caches, cross):
            h = b(h, causal=True, context=ctx, context_padding=ctx_pad, cache=c, cross_cache=cc)
        steps.append(h)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert len(caches[0]) == 6 and len(cross[0]) == 5


def test_kv_cache_reorder_for_beams():
    c = KVCache()
    c.append(torch.arange(4.0).view(4, 1, 1, 1), torch.arange(4.0).view(4, 1, 1, 1))
    c.reorder(torch.tensor([3, 3, 0]))
    assert c.k.flatten().tolist() == [3.0, 3.0, 0.0]


@pytest.mark.parametrize("norm", ["rms", "layer"])
def test_cross_attention_context_kv_equals_normalised_projections(norm):
    """The folded, fused K/V of C equal key(norm_k(C)) and value(norm_v(C)) with the norms' own weights."""
    torch.manual_seed(0)
    blk = TransformerBlock(16, 4, 32, norm=norm, cross=True).eval()
    for n in (blk.norm_k, blk.norm_v):  # non-trivial affine parts, different for K and V
        torch.nn.init.normal_(n.weight, 1.0, 0.3)
        if getattr(n, "bias", None) is not None:
            torch.nn.init.normal_(n.bias, 0.0, 0.3)
    ctx = torch.randn(3, 5, 16)
    k, v = blk._context_kv(ctx)
    attn = blk.cross_attn
    assert torch.allclose(k, attn._heads(attn.key(blk.norm_k(ctx))), atol=1e-5)
    assert torch.allclose(v, attn._heads(attn.value(blk.norm_v(ctx))), atol=1e-5)


def test_static_cache_keeps_the_context_mask_and_reorders_it():
    torch.manual_seed(0)
    blk = TransformerBlock(8, 2, 16, cross=True).eval()
    ctx = torch.randn(2, 3, 8)
    ctx_pad = torch.tensor([[True, True, True], [False, True, False]])  # row 0: no context at all
    cc = KVCache()
    y1 = blk(torch.randn(2, 1, 8), context=ctx, context_padding=ctx_pad, cross_cache=cc)
    assert cc.mask is not None and cc.dead.flatten().tolist() == [True, False]
    cc.reorder(torch.tensor([1, 1, 0]))
    assert cc.dead.flatten().tolist() == [False, False, True] and cc.k.shape[0] == 3
    x = torch.randn(3, 1, 8)
    want = blk(x, context=ctx[[1, 1, 0]], context_padding=ctx_pad[[1, 1, 0]])  # uncached, same rows
    assert torch.allclose(blk(x, context=ctx, context_padding=ctx_pad, cross_cache=cc), want, atol=1e-5)
    assert torch.isfinite(y1).all()


def test_ffn_and_norm():
    x = torch.randn(2, 5, 8)
    norm = RMSNorm(8, eps=1e-6)
    y = norm(x)
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(2, 5), atol=1e-4)
    f = FeedForward(8, 16, "swiglu")
    assert torch.allclose(f(x), f.down(F.silu(f.gate(x)) * f.up(x)))
    g = FeedForward(8, 16, "gelu")
    assert torch.allclose(g(x), g.down(F.gelu(g.up(x))))
    with pytest.raises(ValueError, match="ffn kind"):
        FeedForward(8, 16, "relu")


def test_hstu_block_matches_equations():
    torch.manual_seed(0)
    blk = HSTUBlock(8, 2, max_len=6).eval()
    x = torch.randn(2, 5, 8)
    ts = torch.tensor([[0, 10, 100, 1000, 5000], [0, 0, 3, 3, 86400]])
    pad = torch.tensor([[True, False, False, False, False], [False] * 5])
    got = blk(x, key_padding=pad, timestamps=ts)
    # by hand
    u, v, q, k = F.silu(blk.uvqk(blk.norm_in(x))).split([8, 8, 8, 8], -1)
    q, k, v = (t.view(2, 5, 2, 4).transpose(1, 2) for t in (q, k, v))
    i = torch.arange(5)
    bias = blk.rab.pos_weight[(i[None, :] - i[:, None]) + 5][None]
    dt = (ts[:, :, None] - ts[:, None, :]).abs().clamp(min=1).float()
    bias = bias + blk.rab.time_weight[(torch.log(dt) / 0.301).long().clamp(0, 128)]
    a = F.silu(q @ k.transpose(-1, -2) + bias[:, None]) / 6  # n = max_len
    mask = torch.ones(5, 5).tril()[None, None] * (~pad)[:, None, None, :]
    av = ((a * mask) @ v).transpose(1, 2).reshape(2, 5, 8)
    want = x + blk.out(u * blk.norm_attn(av))
    assert torch.allclose(got, want, atol=1e-5)
    # causal: the output at t does not depend on inputs after t
    x2 = x.clone()
    x2[:, 4] += 10
    assert torch.allclose(blk(x2, key_padding=pad, timestamps=ts)[:, :4], got[:, :4], atol=1e-5)


def test_hstu_is_invariant_to_left_padding_width():
    torch.manual_seed(0)
    blk = HSTUBlock(8, 2, max_len=8).eval()
    x = torch.randn(1, 3, 8)
    ts = torch.tensor([[5, 50, 500]])
    wide = torch.cat([torch.zeros(1, 2, 8), x], 1)
    pad = torch.tensor([[True, True, False, False, False]])
    got_wide = blk(wide, key_padding=pad, timestamps=torch.cat([torch.zeros(1, 2, dtype=torch.long), ts], 1))
    assert torch.allclose(got_wide[:, 2:], blk(x, timestamps=ts), atol=1e-5)


def test_fully_masked_rows_have_finite_outputs_and_gradients():
    torch.manual_seed(0)
    blk = TransformerBlock(8, 2, 16, cross=True)
    x = torch.randn(2, 4, 8, requires_grad=True)
    pad = torch.tensor([[True, True, False, False], [False] * 4])
    ctx = torch.randn(2, 3, 8)
    ctx_pad = torch.tensor([[True, True, True], [False, False, False]])  # user 0 has an empty context
    y = blk(x, causal=True, key_padding=pad, context=ctx, context_padding=ctx_pad)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in blk.parameters() if p.grad is not None)


def test_hstu_attention_dropout_only_in_training():
    torch.manual_seed(0)
    plain = HSTUBlock(16, 2, 8, dropout=0.0)
    dropped = HSTUBlock(16, 2, 8, dropout=0.0, attn_dropout=0.5)
    dropped.load_state_dict(plain.state_dict())  # dropout has no parameters: same weights
    x = torch.randn(3, 8, 16)
    assert torch.allclose(plain.eval()(x), dropped.eval()(x))  # eval: identical
    torch.manual_seed(1)
    assert not torch.allclose(plain.train()(x), dropped.train()(x))  # training: the weights are dropped
