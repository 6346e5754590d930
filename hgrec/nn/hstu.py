"""The HSTU block (Zhai et al., "Actions Speak Louder than Words", ICML 2024, arXiv 2402.17152).

    U, V, Q, K = Split(SiLU(f1(LayerNorm(X))))                        (eq. 1)
    A V        = SiLU(Q K^T + rab^{p,t}) V / n                        (eq. 2, pointwise: no softmax)
    Y          = X + f2(Dropout(U * LayerNorm(A V)))                  (eq. 3, gating by U)

rab^{p,t} is a learned relative attention bias: one scalar per relative position (j - i) plus one per
bucket of the time gap, bucket = floor(log(max(|t_i - t_j|, 1)) / 0.301) clamped to `num_buckets`
(the bucketing of the reference implementation, meta-recsys/generative-recommenders). We use the
query's own timestamp t_i; the reference uses the next item's timestamp, which a causal next-item
model does not know at serving time for the item it predicts. `n` is `max_len`, the padded length
(the reference divides by the padded length of the batch; a fixed n makes the block invariant to
how much left padding a batch carries, so batches can be trimmed to their longest sequence). Sources without timestamps use the positional bias alone (`time_bias=False`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RelativeBucketedBias(nn.Module):
    """rab^{p,t}: (B, T, T) bias from relative positions and log-bucketed time gaps."""

    def __init__(self, max_len: int, num_buckets: int = 128, time_bias: bool = True):
        super().__init__()
        self.max_len, self.num_buckets = max_len, num_buckets
        self.pos_weight = nn.Parameter(torch.empty(2 * max_len - 1).normal_(0, 0.02))
        self.time_weight = nn.Parameter(torch.empty(num_buckets + 1).normal_(0, 0.02)) if time_bias else None

    def forward(self, T: int, timestamps: torch.Tensor | None = None) -> torch.Tensor:
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.max_len}")
        idx = torch.arange(T, device=self.pos_weight.device)
        rel = idx[None, :] - idx[:, None] + self.max_len - 1  # (T, T): key j - query i, shifted >= 0
        bias = self.pos_weight[rel][None]  # (1, T, T)
        if self.time_weight is not None and timestamps is not None:
            dt = (timestamps[:, :, None] - timestamps[:, None, :]).abs().clamp(min=1).float()  # (B, T, T) seconds
            bucket = (torch.log(dt) / 0.301).long().clamp(0, self.num_buckets)
            bias = bias + self.time_weight[bucket]
        return bias


class HSTUBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_len: int, d_qk: int | None = None, d_v: int | None = None,
                 dropout: float = 0.0, num_time_buckets: int = 128, time_bias: bool = True,
                 attn_dropout: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.d_qk = d_qk or d_model // n_heads
        self.d_v = d_v or d_model // n_heads
        self.norm_in = nn.LayerNorm(d_model, eps=1e-6)
        self.uvqk = nn.Linear(d_model, n_heads * (2 * self.d_v + 2 * self.d_qk))  # f1
        self.norm_attn = nn.LayerNorm(n_heads * self.d_v, eps=1e-6)
        self.out = nn.Linear(n_heads * self.d_v, d_model)  # f2
        self.rab = RelativeBucketedBias(max_len, num_time_buckets, time_bias)
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        # dropout on the pointwise attention weights (an option: the reference implementation stores an
        # attn_dropout_ratio but never applies it)
        self.attn_dropout = nn.Dropout(attn_dropout)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, d)
        *,
        key_padding: torch.Tensor | None = None,  # (B, T) True = padding
        timestamps: torch.Tensor | None = None,  # (B, T) seconds
        causal: bool = True,
        group: torch.Tensor | None = None,  # (T,) or (B, T) token groups, for blocks with per-group norms
    ) -> torch.Tensor:
        B, T, _ = x.shape
        H = self.n_heads
        uvqk = F.silu(self.uvqk(self._norm(self.norm_in, x, group)))  # eq. (1)
        u, v, q, k = uvqk.split([H * self.d_v, H * self.d_v, H * self.d_qk, H * self.d_qk], dim=-1)
        q = q.view(B, T, H, self.d_qk).transpose(1, 2)  # (B, H, T, dqk)
        k = k.view(B, T, H, self.d_qk).transpose(1, 2)
        v = v.view(B, T, H, self.d_v).transpose(1, 2)  # (B, H, T, dv)
        scores = q @ k.transpose(-1, -2) + self.rab(T, timestamps)[:, None]  # (B, H, T, T)
        attn = F.silu(scores) / self.max_len  # eq. (2): pointwise, normalised by the padded length n
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device)
        if causal:
            mask = mask.tril()
        mask = mask[None, None]
        if key_padding is not None:
            mask = mask & ~key_padding[:, None, None, :]
        attn = self.attn_dropout(attn * mask)
        av = (attn @ v).transpose(1, 2).reshape(B, T, H * self.d_v)  # (B, T, H*dv)
        return x + self.out(self.dropout(u * self._norm(self.norm_attn, av, group)))  # eq. (3)

    def _norm(self, norm: nn.Module, x: torch.Tensor, group: torch.Tensor | None) -> torch.Tensor:
        """The block's norms; MTGR's grouped block replaces them with norms that read the token groups."""
        return norm(x)
