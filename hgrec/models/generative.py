"""Parts shared by the semantic-ID generative models (HiGR, TIGER, OneRec-style).

- `SIDEmbedding`: one embedding table per code level, the item -> code table as a buffer (so a
  checkpoint carries its own semantic IDs), and pooling of an item's D code embeddings into one
  vector (HiGR eq. 7: i_m = sum_d s_m^d; mean / max are Table 3's ablations).
- `ContextEncoder`: C = E(u, S^u) — one token per user feature plus one per history item (pooled
  SID embedding + right-aligned position + bucketed time-gap embedding), bidirectional
  transformer blocks. C is the key/value source of every cross-attention downstream. With
  `num_items` given (the `item_ids: true` switch of HiGR / TIGER / OneRec-style) a history item is
  the *hybrid* representation: its pooled SID embedding plus a free item-ID embedding, so the context
  sees items as the ID-based models do while the decoder still writes semantic IDs (our addition:
  the papers' context reads SIDs only).
- `SIDDecoder`: the short autoregressive decoder over one item's codes. HiGR's ItemGenerator is a
  SIDDecoder whose first token is the planner's preference embedding i_hat_m (eq. 9-11); TIGER's
  decoder is the same module started from a learned BOS. It decodes teacher-forced (training) or
  one level at a time with KV caches (inference).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.nn import KVCache, StaticCaches, TransformerBlock
from hgrec.nn.blocks import decode_step, make_norm, prefill_cross

POOLING = ("sum", "mean", "max")
TIME_BUCKETS = 32


class SIDEmbedding(nn.Module):
    def __init__(self, vocab_sizes: list[int], num_items: int, d_model: int, pooling: str = "sum"):
        super().__init__()
        if pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}, got {pooling!r}")
        self.vocab_sizes, self.levels, self.pooling = list(vocab_sizes), len(vocab_sizes), pooling
        self.register_buffer("offsets", torch.tensor([0, *vocab_sizes[:-1]]).cumsum(0), persistent=False)
        self.register_buffer("codes", torch.zeros(num_items + 1, self.levels, dtype=torch.long))  # row 0 = padding
        self.emb = nn.Embedding(sum(vocab_sizes), d_model)
        nn.init.normal_(self.emb.weight, std=0.02)

    def set_codes(self, codes) -> None:
        """(N, D) codes of items 1..N (dense ids), every code unique."""
        codes = torch.as_tensor(codes, dtype=torch.long)
        if codes.shape != (self.codes.shape[0] - 1, self.levels):
            raise ValueError(f"codes must be ({self.codes.shape[0] - 1}, {self.levels}), got {tuple(codes.shape)}")
        if (codes < 0).any() or (codes >= torch.tensor(self.vocab_sizes)).any():
            raise ValueError("a code is outside its level's vocabulary")
        self.codes[1:] = codes

    def tokens(self, codes: torch.Tensor, level0: int = 0) -> torch.Tensor:
        """(..., k) codes of levels level0..level0+k-1 -> (..., k, d) embeddings."""
        k = codes.shape[-1]
        return self.emb(codes + self.offsets[level0:level0 + k])

    def pool(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., D) full codes -> (..., d) item preference embeddings."""
        e = self.tokens(codes)
        if self.pooling == "sum":
            return e.sum(-2)
        if self.pooling == "mean":
            return e.mean(-2)
        return e.amax(-2)

    def item(self, items: torch.Tensor) -> torch.Tensor:
        """(...,) item ids -> (..., d), zero for padding (id 0)."""
        return self.pool(self.codes[items]) * (items > 0)[..., None]


def time_buckets(ts: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L) seconds -> bucket of log2(1 + minutes before the most recent history item)."""
    last = ts[:, -1:]
    gap = (last - ts).clamp(min=0).float() / 60.0
    b = torch.log2(1 + gap).floor().long().clamp(max=TIME_BUCKETS - 1)
    return b.masked_fill(~valid, 0)


class ContextEncoder(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, n_layers: int, dropout: float, max_len: int,
                 feature_vocab: list[int] | None = None, time_embedding: bool = True, ffn: str = "swiglu",
                 num_items: int | None = None, head_dim: int | None = None):
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        # hybrid item representation: + a free item-ID embedding (None: SIDs only, the papers' context)
        self.item_emb = nn.Embedding(num_items + 1, d_model, padding_idx=0) if num_items else None
        if self.item_emb is not None:
            nn.init.normal_(self.item_emb.weight, std=0.02)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()
        self.feature_vocab = list(feature_vocab or [])
        if self.feature_vocab:
            self.register_buffer("feat_offsets", torch.tensor([0, *self.feature_vocab[:-1]]).cumsum(0),
                                 persistent=False)
            self.feat_emb = nn.Embedding(sum(self.feature_vocab), d_model)
            nn.init.normal_(self.feat_emb.weight, std=0.02)
        self.pos_emb = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        self.time_emb = nn.Embedding(TIME_BUCKETS, d_model) if time_embedding else None
        if self.time_emb is not None:
            nn.init.normal_(self.time_emb.weight, std=0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads, d_ff, dropout, ffn, head_dim=head_dim)
                                    for _ in range(n_layers))
        self.norm = make_norm("rms", d_model)

    def forward(self, sid: SIDEmbedding, history: torch.Tensor, history_ts: torch.Tensor | None = None,
                user_features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) left-padded history (+ (B, L) seconds, (B, F) feature codes) -> C (B, F+L, d), padding (B, F+L)."""
        B, L = history.shape
        if L > self.max_len:
            raise ValueError(f"history length {L} exceeds max_len {self.max_len}")
        valid = history > 0
        x = sid.item(history)
        if self.item_emb is not None:
            x = x + self.item_emb(history)
        x = x * math.sqrt(self.d_model)
        x = x + self.pos_emb(torch.arange(self.max_len - L, self.max_len, device=history.device))[None]
        if self.time_emb is not None and history_ts is not None:
            x = x + self.time_emb(time_buckets(history_ts, valid))
        x = self.drop(x) * valid[..., None]
        pad = ~valid
        if self.feature_vocab and user_features is not None:
            f = self.feat_emb(user_features + self.feat_offsets)  # (B, F, d)
            x = torch.cat([f, x], 1)
            pad = torch.cat([torch.zeros(B, f.shape[1], dtype=torch.bool, device=pad.device), pad], 1)
        for block in self.blocks:
            x = block(x, causal=False, key_padding=pad)
        return self.norm(x), pad


class SIDDecoder(nn.Module):
    """Decodes one item's D codes: input [first, s^1..s^{D-1}] -> logits of s^1..s^D (HiGR eq. 9-11)."""

    def __init__(self, sid: SIDEmbedding, d_model: int, n_heads: int, d_ff: int, n_layers: int, dropout: float,
                 cross: bool = True, ffn: str = "swiglu", head_dim: int | None = None):
        super().__init__()
        self.levels, self.cross = sid.levels, cross
        self.level_emb = nn.Embedding(sid.levels, d_model)
        nn.init.normal_(self.level_emb.weight, std=0.02)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, dropout, ffn, cross=cross, cross_first=True, head_dim=head_dim)
            for _ in range(n_layers))
        self.norm = make_norm("rms", d_model)
        self.heads = nn.ModuleList(nn.Linear(d_model, k, bias=False) for k in sid.vocab_sizes)  # eq. (11)
        self.stepper = decode_step  # hgrec.decoding.step.compile_decoders swaps in a compiled copy

    def forward(self, sid: SIDEmbedding, first: torch.Tensor, codes: torch.Tensor, context: torch.Tensor,
                context_pad: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced: first (R, d), codes (R, D) targets, context (R, S, d) -> D logits (R, K_d)."""
        x = torch.cat([first[:, None], sid.tokens(codes[:, :-1])], 1)  # (R, D, d), eq. (9)
        x = x + self.level_emb.weight[None]
        for block in self.blocks:
            x = block(x, causal=True, context=context if self.cross else None, context_padding=context_pad)
        h = self.norm(x)
        return [head(h[:, d]) for d, head in enumerate(self.heads)]

    def new_caches(self, static: tuple[int, int] | None = None) -> tuple[list, list[KVCache]]:
        """(self-attention, cross-attention) caches; `static` = (rows, steps) preallocates the former."""
        own = StaticCaches.for_blocks(self.blocks, *static) if static else [KVCache() for _ in self.blocks]
        return own, [KVCache() for _ in self.blocks]

    def logits_at(self, sid: SIDEmbedding, first: torch.Tensor, prefix: torch.Tensor, context: torch.Tensor | None,
                  context_pad: torch.Tensor | None, group: int = 1) -> torch.Tensor:
        """No cache: re-run [first, prefix] (R, 1 + k) and return the logits of level k (R, K_k)."""
        k = prefix.shape[1]
        x = first[:, None] if k == 0 else torch.cat([first[:, None], sid.tokens(prefix)], 1)
        x = x + self.level_emb.weight[: k + 1][None]
        for block in self.blocks:
            x = block(x, causal=True, context=context if self.cross else None, context_padding=context_pad,
                      cross_group=group)
        return self.heads[k](self.norm(x[:, -1]))

    def step(self, sid: SIDEmbedding, level: int, x_in: torch.Tensor, context: torch.Tensor | None,
             context_pad: torch.Tensor | None, caches: list[KVCache], cross_caches: list[KVCache],
             group: int = 1) -> torch.Tensor:
        """One decoding step. level 0: x_in = first (R, d); level d > 0: x_in = codes of level d-1 (R,).
        `group` consecutive rows share one context row (context has R / group rows).
        Returns the logits of level `level` (R, K_level)."""
        if level == 0:
            x = x_in[:, None]
        else:
            x = sid.tokens(x_in[:, None], level0=level - 1)  # (R, 1, d)
        x = x + self.level_emb.weight[level]
        if self.cross:
            prefill_cross(self.blocks, cross_caches, context, context_pad)
        h = self.stepper(self.blocks, self.norm, x, caches, cross_caches, context_pad if self.cross else None, group)
        return self.heads[level](h)


def sid_loss(logits: list[torch.Tensor], codes: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of every level: the inner sum of HiGR eq. (12) / TIGER's loss."""
    return sum(F.cross_entropy(lg.float(), codes[:, d], reduction="sum") for d, lg in enumerate(logits))
