"""MTGR-style CTR ranker (after Meituan's MTGR, Han et al., 2025, arXiv 2505.18654): HSTU + cross features +
group layer norm.

- HSTU blocks over [history exposures..., candidate], causal, as hgrec/models/hstu_ctr.py.
- Cross features of (user, candidate), computed from the history in the batch (vectorised): how often the
  user was shown the candidate before, how often they gave it the positive label, the user's positive
  rate over the history, and the history length; each is bucketed, embedded, and added to the
  candidate token (MTGR puts its user-item cross features in the candidate's token).
- Group layer norm: the two LayerNorms of every HSTU block have one set of affine parameters per token
  group (history tokens, candidate token), since the two kinds of tokens carry different features.

- Profile, item side, context and real-time counter features (`data.features`, shared by every CTR
  model) plus MTGR's statistical user-item crosses (`cross`: the user's past exposures and positives of
  the candidate's author / genre, causal counters of hgrec/data/ctr_features.py; benchmarks/ctr.py gives
  them to this model) enter the candidate token and the click head.

Where we depart from MTGR: user features are embedded into the candidate token rather than given
tokens of their own; one token per exposure; its dynamic masking reduces here to the causal mask with
the candidate last.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.models.hstu_ctr import HSTUCTR, HSTUCTRConfig
from hgrec.models.registry import register
from hgrec.nn import HSTUBlock

HISTORY, CANDIDATE = 0, 1  # token groups
CROSS_BUCKETS = (8, 8, 11, 12)  # seen count, positive count, positive rate (10 bins + empty), log2 history length


@dataclasses.dataclass
class MTGRConfig(HSTUCTRConfig):
    cross_features: bool = True
    group_norm: bool = True


class GroupLayerNorm(nn.Module):
    """LayerNorm whose weight and bias are chosen per token by its group id."""

    def __init__(self, d: int, groups: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(groups, d))
        self.bias = nn.Parameter(torch.zeros(groups, d))

    def forward(self, x: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        """x (B, T, d), group (T,) or (B, T)."""
        return F.layer_norm(x, x.shape[-1:], eps=self.eps) * self.weight[group] + self.bias[group]


class GroupedHSTUBlock(HSTUBlock):
    """HSTUBlock (eq. 1-3 of HSTU) with group layer norms; the rest of its parameters are shared."""

    def __init__(self, *args, groups: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        d_model = self.uvqk.in_features
        self.norm_in = GroupLayerNorm(d_model, groups)
        self.norm_attn = GroupLayerNorm(self.n_heads * self.d_v, groups)

    def _norm(self, norm, x, group):
        return norm(x, group)  # the token's group chooses the norm's weight and bias


def cross_feature_buckets(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, 4) bucket ids of the (user, candidate) cross features (module docstring)."""
    items, cand = batch["items"], batch["cand_item"]
    valid = items > 0
    pos = batch["hist_labels"] > 0
    same = (items == cand[:, None]) & valid
    n = valid.sum(1)
    seen = same.sum(1).clamp(max=CROSS_BUCKETS[0] - 1)
    liked = (same & pos).sum(1).clamp(max=CROSS_BUCKETS[1] - 1)
    rate = (pos & valid).sum(1).float() / n.clamp(min=1)
    rate_b = torch.where(n > 0, (rate * 10).long().clamp(max=9), torch.full_like(n, 10))
    length = torch.log2(1 + n.float()).long().clamp(max=CROSS_BUCKETS[3] - 1)
    return torch.stack([seen, liked, rate_b, length], 1)


@register("mtgr", MTGRConfig)
class MTGR(HSTUCTR):
    def __init__(self, config: MTGRConfig, num_items: int, max_len: int, sid_vocab: list[int] | None = None,
                 feature_sizes: list[int] | None = None):
        super().__init__(config, num_items, max_len, sid_vocab, feature_sizes)
        if config.cross_features:
            self.cross_emb = nn.ModuleList(nn.Embedding(n, config.d_model) for n in CROSS_BUCKETS)
            for e in self.cross_emb:
                nn.init.normal_(e.weight, std=0.02)

    def _block(self) -> nn.Module:
        c = self.config
        if not c.group_norm:
            return super()._block()
        return GroupedHSTUBlock(c.d_model, c.n_heads, self.max_len + 1, c.d_qk, c.d_v, c.dropout,
                                c.num_time_buckets, c.time_bias, groups=2)

    def candidate_token(self, batch: dict[str, torch.Tensor], side: torch.Tensor | None) -> torch.Tensor:
        cand = self.tokens.candidate(batch, side)
        if self.config.cross_features:
            buckets = cross_feature_buckets(batch)
            cand = cand + sum(emb(buckets[:, i]) for i, emb in enumerate(self.cross_emb))
        return cand

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x, pad, ts, cand, side = self.sequence(batch)
        T = x.shape[1]
        group = torch.full((T,), HISTORY, dtype=torch.long, device=x.device)
        group[-1] = CANDIDATE
        for blk in self.blocks:
            if self.config.group_norm:
                x = blk(x, group=group, key_padding=pad, timestamps=ts, causal=True)
            else:
                x = blk(x, key_padding=pad, timestamps=ts, causal=True)
        return self.head(cand, self.norm(x[:, -1]), side)
