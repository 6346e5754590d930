"""Multi-head attention on `F.scaled_dot_product_attention`: self or cross, causal and padding masks,
and a KV cache for incremental (autoregressive) decoding.

Masks follow SDPA's boolean convention: True = may attend. Padding is given as a key mask
`key_padding` of shape (B, S), True where the key is padding.

Two self-attention caches: `KVCache` grows by concatenation (any number of steps, shapes change every
step); `StaticKVCache` is preallocated for a known number of steps and written in place at a position
held in a tensor, so every decoding step has the same shapes and can be compiled (`torch.compile`) or
captured as a CUDA graph once (`hgrec.decoding.step`). Both give the same attention: the static one masks
the positions not written yet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys/values of the steps decoded so far, per layer: (B, H, T, hd) tensors grown by `append`.

    Beam search reorders the batch with `reorder(indices)`. Cross-attention caches its (fixed)
    context keys/values once with `static=True`.
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        # a static (context) cache also keeps its padding mask, built on first use: (B, 1, 1, S) and the
        # (B, 1, 1, 1) rows with no key at all
        self.mask: torch.Tensor | None = None
        self.dead: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is None:
            self.k, self.v = k, v
        else:
            self.k = torch.cat([self.k, k], dim=2)
            self.v = torch.cat([self.v, v], dim=2)
        return self.k, self.v

    def reorder(self, index: torch.Tensor) -> None:
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)
        if self.mask is not None:
            self.mask, self.dead = self.mask.index_select(0, index), self.dead.index_select(0, index)


class StaticKVCache:
    """Keys/values of one layer preallocated as (B, H, T_max, hd), written at `pos` (a (1,) long tensor that
    every layer of one decoder shares; `StaticCaches.advance` moves it). Keys at positions > pos are masked."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor) -> None:
        self.k, self.v, self.pos = k, v, pos

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if k.shape[2] != 1:
            raise ValueError(f"a static cache takes one new position per step, got {k.shape[2]}")
        self.k.index_copy_(2, self.pos, k)
        self.v.index_copy_(2, self.pos, v)
        return self.k, self.v

    def key_mask(self) -> torch.Tensor:
        """(1, 1, 1, T_max): True at the positions written so far."""
        return (torch.arange(self.k.shape[2], device=self.k.device) <= self.pos)[None, None, None, :]

    def reorder(self, index: torch.Tensor) -> None:
        self.k.copy_(self.k.index_select(0, index))
        self.v.copy_(self.v.index_select(0, index))


class StaticCaches(list):
    """The `StaticKVCache` of every layer of one decoder: (layers, rows, H, steps, hd) keys and values,
    one position for all of them."""

    def __init__(self, layers: int, rows: int, heads: int, steps: int, head_dim: int, *, device=None,
                 dtype=torch.float32) -> None:
        self.pos = torch.zeros(1, dtype=torch.long, device=device)
        self.k = torch.zeros(layers, rows, heads, steps, head_dim, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        super().__init__(StaticKVCache(self.k[i], self.v[i], self.pos) for i in range(layers))

    @classmethod
    def for_blocks(cls, blocks, rows: int, steps: int) -> "StaticCaches":
        """Caches for a stack of blocks (each with `self_attn`), on their weights' device and dtype."""
        attn = blocks[0].self_attn
        w = attn.query.weight
        return cls(len(blocks), rows, attn.n_heads, steps, attn.head_dim, device=w.device, dtype=w.dtype)

    def advance(self) -> None:
        self.pos.add_(1)

    def reorder(self, index: torch.Tensor) -> None:
        """Every layer at once (beam search keeps the survivors' caches)."""
        self.k.copy_(self.k.index_select(1, index))
        self.v.copy_(self.v.index_select(1, index))


def reorder_caches(caches, index: torch.Tensor) -> None:
    """Permute a decoder's self-attention caches by hypothesis index (either kind)."""
    if isinstance(caches, StaticCaches):
        caches.reorder(index)
    else:
        for c in caches:
            c.reorder(index)


def advance_caches(caches) -> None:
    """After a decoding step: a static cache moves its write position (a growing cache needs nothing)."""
    if isinstance(caches, StaticCaches):
        caches.advance()


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = False,
                 d_context: int | None = None, head_dim: int | None = None):
        """`head_dim` None: d_model / n_heads; else heads of that width (TIGER: 6 heads of 64 on d_model 128),
        the attention's inner width n_heads * head_dim projected back to d_model."""
        super().__init__()
        if head_dim is None and d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads, self.head_dim = n_heads, head_dim or d_model // n_heads
        inner = n_heads * self.head_dim
        self.query = nn.Linear(d_model, inner, bias=bias)
        self.key = nn.Linear(d_context or d_model, inner, bias=bias)
        self.value = nn.Linear(d_context or d_model, inner, bias=bias)
        self.out = nn.Linear(inner, d_model, bias=bias)
        self.dropout = dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, d) queries
        context: torch.Tensor | None = None,  # (B, S, d_ctx) for cross-attention; None = self
        context_v: torch.Tensor | None = None,  # value source if it differs from the key source
        *,
        causal: bool = False,
        key_padding: torch.Tensor | None = None,  # (B, S) True = padding (ignored key)
        attn_mask: torch.Tensor | None = None,  # (B|1, 1|H, T, S) bool, True = may attend
        cache: KVCache | None = None,
        static_kv: bool = False,  # cross-attention with cache: compute context K/V once
    ) -> torch.Tensor:
        B, T, _ = x.shape
        q = self._heads(self.query(x))
        if static_kv and cache is not None and cache.k is not None:
            k, v = cache.k, cache.v  # the context does not change between decoding steps
        else:
            src = x if context is None else context
            k = self._heads(self.key(src))
            v = self._heads(self.value(src if context_v is None else context_v))
            if cache is not None:
                k, v = cache.append(k, v)
        reuse = static_kv and cache is not None and not causal and attn_mask is None and key_padding is not None
        if isinstance(cache, StaticKVCache):  # one new query: it sees every position written so far
            mask, dead = cache.key_mask(), None
        elif reuse and cache.mask is not None:
            mask, dead = cache.mask, cache.dead  # the context's padding does not change between steps
        else:
            mask, dead = self._mask(T, k.shape[2], causal, key_padding, attn_mask, x.device)
            if reuse:
                cache.mask, cache.dead = mask, dead
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        if dead is not None:
            y = y.masked_fill(dead, 0.0)
        y = y.transpose(1, 2).reshape(B, T, -1)  # (B, T, d)
        return self.out(y)

    @staticmethod
    def _mask(T: int, S: int, causal: bool, key_padding: torch.Tensor | None, attn_mask: torch.Tensor | None,
              device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """-> SDPA's boolean mask (True = may attend; None = everything) and the queries with no key at all."""
        mask = attn_mask
        if causal and T > 1:  # one query (cached decoding) is the newest token: it sees every key
            # Query t (absolute position S-T+t) may see keys 0..S-T+t: correct with and without a cache.
            tri = torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)
            mask = tri if mask is None else (mask & tri)
        if key_padding is not None:
            keep = ~key_padding[:, None, None, :]  # (B, 1, 1, S)
            mask = keep if mask is None else (mask & keep)
        if mask is None or (attn_mask is None and key_padding is None):
            return mask, None  # a causal mask alone leaves every query at least its own key
        if mask.dim() == 2:
            mask = mask[None, None]
        # A query whose every key is masked (a left-padding position, an empty context) would give NaN
        # outputs, and NaN gradients on some GPU kernels: let it see key 0, then zero it. Branch-free (no
        # host sync): `dead & first_key` is all False for queries that have a key, so they are unchanged.
        dead = ~mask.any(dim=-1, keepdim=True)  # (B|1, H|1, T, 1)
        first_key = torch.zeros(S, dtype=torch.bool, device=device)
        first_key[0] = True
        return mask | (dead & first_key), dead
