"""HSTU as a target-aware CTR ranker (Zhai et al., ICML 2024, arXiv 2402.17152, the ranking setting).

The history's exposure tokens (item + action embeddings: HSTU interleaves item and action tokens; we
sum them into one token per exposure, as MTGR does, which halves the sequence) are followed by the
candidate token; causal HSTU blocks (pointwise SiLU attention with relative position/time bias and U
gating, hgrec/nn/hstu.py) let the candidate read the whole history while no history token sees the
candidate; the candidate's final state and its embedding go through the click head.

Where we depart from the reference: one exposure = one token (see above); the candidate's
timestamp is its own exposure time (known at request time); the same click head as every other CTR
model here (hgrec/models/ctr.py), so the comparison is about the sequence encoder.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from hgrec.models.ctr import ClickHead, CTRModel, ExposureTokens
from hgrec.models.registry import register
from hgrec.nn import HSTUBlock


@dataclasses.dataclass
class HSTUCTRConfig:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    d_qk: int | None = None  # per head; default d_model / n_heads
    d_v: int | None = None
    dropout: float = 0.1
    num_time_buckets: int = 128
    time_bias: bool = True
    d_ff: int = 256  # click-head hidden size


@register("hstu_ctr", HSTUCTRConfig)
class HSTUCTR(CTRModel):
    def __init__(self, config: HSTUCTRConfig, num_items: int, max_len: int, sid_vocab: list[int] | None = None,
                 feature_sizes: list[int] | None = None):
        super().__init__()
        c = self.config = config
        self.num_items, self.max_len = num_items, max_len
        self.tokens = ExposureTokens(num_items, c.d_model, sid_vocab=sid_vocab, dropout=c.dropout, sessions=False,
                                     feature_sizes=feature_sizes)
        self.pos_emb = nn.Embedding(max_len + 1, c.d_model)  # right-aligned: the candidate is the last position
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        self.blocks = nn.ModuleList(self._block() for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.d_model, eps=1e-6)
        self.head = ClickHead(c.d_model, c.d_ff, c.dropout, d_extra=self.tokens.side_dim)

    def _block(self) -> nn.Module:
        c = self.config
        return HSTUBlock(c.d_model, c.n_heads, self.max_len + 1, c.d_qk, c.d_v, c.dropout, c.num_time_buckets,
                         c.time_bias)

    def candidate_token(self, batch: dict[str, torch.Tensor], side: torch.Tensor | None) -> torch.Tensor:
        return self.tokens.candidate(batch, side)

    def sequence(self, batch: dict[str, torch.Tensor]):
        """[history..., candidate] tokens (B, L+1, d), padding mask, timestamps, candidate embedding, side features."""
        items = batch["items"]
        B, L = items.shape
        hist = self.tokens(items, batch["actions"], batch["pos"], batch["session"], batch["gap"])
        side = self.tokens.side(batch)
        cand = self.candidate_token(batch, side)
        x = torch.cat([hist, cand[:, None]], 1)  # (B, L+1, d)
        pos = torch.arange(self.max_len - L, self.max_len + 1, device=items.device)
        x = x + self.pos_emb(pos)[None]
        pad = torch.cat([items == 0, torch.zeros(B, 1, dtype=torch.bool, device=items.device)], 1)
        ts = torch.cat([batch["ts"], batch["cand_ts"][:, None]], 1)
        return x, pad, ts, cand, side

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x, pad, ts, cand, side = self.sequence(batch)
        for blk in self.blocks:
            x = blk(x, key_padding=pad, timestamps=ts, causal=True)  # history never sees the candidate
        return self.head(cand, self.norm(x[:, -1]), side)
