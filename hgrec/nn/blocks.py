"""Pre-norm transformer block (optional cross-attention), SwiGLU / GELU feed-forward, RMSNorm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.nn.attention import KVCache, MultiHeadAttention

RMSNorm = nn.RMSNorm  # torch's own (>= 2.4): y = x / rms(x) * weight


class FeedForward(nn.Module):
    """`swiglu`: W2(SiLU(W1 x) * W3 x) (LLaMA); `gelu`: W2(GELU(W1 x)) (BERT/SASRec-style)."""

    def __init__(self, d_model: int, d_ff: int, kind: str = "swiglu", dropout: float = 0.0):
        super().__init__()
        if kind not in ("swiglu", "gelu"):
            raise ValueError(f"ffn kind must be 'swiglu' or 'gelu', got {kind!r}")
        self.kind = kind
        self.up = nn.Linear(d_model, d_ff, bias=kind == "gelu")
        self.gate = nn.Linear(d_model, d_ff, bias=False) if kind == "swiglu" else None
        self.down = nn.Linear(d_ff, d_model, bias=kind == "gelu")
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.gate(x)) * self.up(x) if self.gate is not None else F.gelu(self.up(x))
        return self.down(self.dropout(h))


def make_norm(kind: str, d: int) -> nn.Module:
    if kind == "rms":
        return RMSNorm(d, eps=1e-6)
    if kind == "layer":
        return nn.LayerNorm(d, eps=1e-6)
    raise ValueError(f"norm must be 'rms' or 'layer', got {kind!r}")


class TransformerBlock(nn.Module):
    """x = x + SelfAttn(Norm(x)); [x = x + CrossAttn(Norm(x), NormK(C), NormV(C))]; x = x + FFN(Norm(x)).

    With `cross=True` the block also attends to a context C; its keys and values are normalised by
    their own RMSNorm_k / RMSNorm_v (HiGR eq. 8, 10). `cross_first` puts cross-attention before
    self-attention (HiGR's order); the default is the usual decoder order.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, ffn: str = "swiglu",
                 norm: str = "rms", cross: bool = False, cross_first: bool = False, head_dim: int | None = None):
        super().__init__()
        self.norm_self = make_norm(norm, d_model)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, head_dim=head_dim)
        self.cross_first = cross_first
        if cross:
            self.norm_cross = make_norm(norm, d_model)
            self.norm_k = make_norm(norm, d_model)
            self.norm_v = make_norm(norm, d_model)
            self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout, head_dim=head_dim)
        else:
            self.cross_attn = None
        self.norm_ffn = make_norm(norm, d_model)
        self.ffn = FeedForward(d_model, d_ff, ffn, dropout)
        self.dropout = nn.Dropout(dropout)

    def _cross(self, x, context, context_padding, cache, group: int = 1):
        if group > 1:
            # `group` consecutive rows share one context (the beams of one user): attend as one row
            # with group*T queries, so C's keys/values are neither copied nor recomputed per beam.
            B, T, d = x.shape
            y = self._cross(x.reshape(B // group, group * T, d), context, context_padding, cache)
            return y.reshape(B, T, d)
        if cache is None:
            cache = KVCache()  # training / uncached decoding: this call's context keys/values
        if cache.k is None:
            cache.k, cache.v = self._context_kv(context)
        # decoding: C's keys/values are cached, so C is neither normalised nor projected again
        return self.cross_attn(self.norm_cross(x), key_padding=context_padding, cache=cache, static_kv=True)

    def _context_kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """C (B, S, d) -> cross-attention keys and values (B, H, S, hd) from differently normalised copies of C
        (RMSNorm_k, RMSNorm_v: HiGR eq. 8, 10). Both norms share C's statistics, so C is normalised once and
        each norm's affine part is folded into its projection: (c * w + b) W^T = c (W diag w)^T + W b; one
        matmul gives K and V. Same values as key(norm_k(C)), value(norm_v(C)) up to float rounding."""
        attn, d = self.cross_attn, context.shape[-1]
        if isinstance(self.norm_k, RMSNorm):
            c = F.rms_norm(context, (d,), eps=self.norm_k.eps)
        else:
            c = F.layer_norm(context, (d,), eps=self.norm_k.eps)
        pairs = ((self.norm_k, attn.key), (self.norm_v, attn.value))
        weight = torch.cat([proj.weight * norm.weight[None, :] for norm, proj in pairs])
        bias = None  # RMSNorm and bias-free projections (the default): no bias term at all
        if any(proj.bias is not None or getattr(norm, "bias", None) is not None for norm, proj in pairs):
            bias = torch.cat([(proj.bias if proj.bias is not None else proj.weight.new_zeros(proj.weight.shape[0]))
                              + (proj.weight @ norm.bias if getattr(norm, "bias", None) is not None else 0)
                              for norm, proj in pairs])
        k, v = F.linear(c, weight, bias).chunk(2, dim=-1)
        return attn._heads(k), attn._heads(v)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, d)
        *,
        causal: bool = True,
        key_padding: torch.Tensor | None = None,  # (B, T_total) True = padding
        context: torch.Tensor | None = None,  # (B, S, d)
        context_padding: torch.Tensor | None = None,  # (B, S)
        cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
        cross_group: int = 1,  # rows per context row (beam search: the beam width)
        attn_mask: torch.Tensor | None = None,  # (B|1, 1, T, T) bool, True = may attend (e.g. session blocks)
    ) -> torch.Tensor:
        if self.cross_attn is not None and self.cross_first:
            x = x + self.dropout(self._cross(x, context, context_padding, cross_cache, cross_group))
        x = x + self.dropout(self.self_attn(self.norm_self(x), causal=causal, key_padding=key_padding,
                                            attn_mask=attn_mask, cache=cache))
        if self.cross_attn is not None and not self.cross_first:
            x = x + self.dropout(self._cross(x, context, context_padding, cross_cache, cross_group))
        return x + self.dropout(self.ffn(self.norm_ffn(x)))


def prefill_cross(blocks, cross_caches: list[KVCache], context: torch.Tensor | None,
                  context_padding: torch.Tensor | None) -> None:
    """Cross-attention keys, values and padding mask of every block over the context C, once per decode (what
    the first cached step would compute), so that every step after it has the same inputs and shapes."""
    for block, cache in zip(blocks, cross_caches):
        if block.cross_attn is None or context is None or cache.k is not None:
            continue
        cache.k, cache.v = block._context_kv(context)
        if context_padding is not None:
            cache.mask, cache.dead = MultiHeadAttention._mask(1, context.shape[1], False, context_padding, None,
                                                              context.device)


def decode_step(blocks, norm: nn.Module, x: torch.Tensor, caches, cross_caches: list[KVCache],
                context_padding: torch.Tensor | None, group: int = 1) -> torch.Tensor:
    """One new position through a decoder's blocks on their KV caches (cross caches prefilled): x (N, 1, d) ->
    norm(h) (N, d). The decoding step that GSBI's planner and item generator, TIGER and OneRec-style beam
    search all run; `hgrec.decoding.step.compile_decoders` swaps in a compiled copy of this function."""
    for block, cache, cross in zip(blocks, caches, cross_caches):
        x = block(x, causal=True, context_padding=context_padding, cache=cache, cross_cache=cross, cross_group=group)
    return norm(x[:, 0])
