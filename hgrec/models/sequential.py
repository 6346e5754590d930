"""What every next-item model shares: the item table, the output head and the training losses.

A subclass implements `encode(items, timestamps) -> (B, L, d)` over left-padded histories; this
base turns it into `forward(batch) -> (loss_sum, n_targets)` and `score_all(...) -> (B, N+1)`.

Losses (`loss`):
- `ce`: full softmax cross-entropy over the whole catalogue (the strongest public SASRec figures use it);
- `sampled`: sampled softmax over the target and `num_negatives` negatives, drawn uniformly
  (`negatives: uniform`) or taken from the other targets in the batch (`negatives: in_batch`),
  with accidental hits masked;
- `bce`: binary cross-entropy with one uniform negative per position (the original SASRec).
Scores are dot products with the (tied) item embeddings, or cosine / temperature with
`l2_norm: true` (HSTU's reference setup).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.nn.losses import chunked_softmax_ce


@dataclasses.dataclass
class HeadConfig:
    loss: str = "ce"  # ce | sampled | bce
    negatives: str = "uniform"  # uniform | in_batch (for loss=sampled)
    num_negatives: int = 128
    l2_norm: bool = False
    temperature: float = 1.0

    def __post_init__(self):
        if self.loss not in ("ce", "sampled", "bce"):
            raise ValueError(f"loss must be ce, sampled or bce, got {self.loss!r}")
        if self.negatives not in ("uniform", "in_batch"):
            raise ValueError(f"negatives must be uniform or in_batch, got {self.negatives!r}")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")


class NextItemModel(nn.Module):
    task = "next_item"

    def __init__(self, head: HeadConfig, num_items: int, d_model: int):
        super().__init__()
        self.head, self.num_items = head, num_items
        self.item_emb = nn.Embedding(num_items + 1, d_model, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def encode(self, items: torch.Tensor, timestamps: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def _init_inputs(self, max_len: int, d_model: int, dropout: float) -> None:
        self.max_len, self.d_model = max_len, d_model
        self.pos_emb = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        self.drop = nn.Dropout(dropout)

    def embed_history(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) left-padded ids -> scaled item + right-aligned position embeddings (B, L, d), padding mask.

        Positions count back from the most recent item, so a batch trimmed of left padding gets
        the same embeddings for the same history.
        """
        B, L = items.shape
        if L > self.max_len:
            raise ValueError(f"history length {L} exceeds max_len {self.max_len}")
        pad = items == 0  # (B, L)
        pos = torch.arange(self.max_len - L, self.max_len, device=items.device)
        x = self.item_emb(items) * math.sqrt(self.d_model) + self.pos_emb(pos)[None]
        return self.drop(x) * ~pad[..., None], pad

    def _out(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(h, dim=-1) if self.head.l2_norm else h

    def _items(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        w = self.item_emb.weight if ids is None else self.item_emb(ids)
        return F.normalize(w, dim=-1) if self.head.l2_norm else w

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of per-target losses and the number of targets (the trainer normalises, DDP-aware)."""
        items = batch["items"]  # (B, L+1) left-padded windows
        inp, tgt = items[:, :-1], items[:, 1:]
        ts = batch.get("timestamps")
        h = self.encode(inp, None if ts is None else ts[:, :-1])  # (B, L, d)
        valid = (tgt > 0) & (inp > 0)
        return self.head_loss(h[valid], tgt[valid]), valid.sum()

    def head_loss(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(n, d) states and (n,) target items -> the summed loss of the configured head."""
        h = self._out(h)
        tau = self.head.temperature
        if self.head.loss == "ce":
            # full-catalogue softmax, chunk by chunk in a reused buffer: never the (n, N+1) logits (issue 24)
            loss = chunked_softmax_ce(h, self._items(), y, tau)
        elif self.head.loss == "sampled":
            pos = (h * self._items(y)).sum(-1, keepdim=True) / tau  # (n, 1)
            if self.head.negatives == "uniform":
                neg_ids = torch.randint(1, self.num_items + 1, (self.head.num_negatives,), device=h.device)
            else:
                neg_ids = y
            neg = h @ self._items(neg_ids).T / tau  # (n, K)
            neg = neg.masked_fill(neg_ids[None, :] == y[:, None], -math.inf)  # accidental hits
            logits = torch.cat([pos, neg], 1)
            loss = F.cross_entropy(logits, torch.zeros_like(y), reduction="sum")
        else:  # bce, one negative per position
            neg_ids = torch.randint(1, self.num_items + 1, y.shape, device=h.device)
            pos = (h * self._items(y)).sum(-1) / tau
            neg = (h * self._items(neg_ids)).sum(-1) / tau
            loss = F.softplus(-pos).sum() + F.softplus(neg).masked_fill(neg_ids == y, 0.0).sum()
        return loss

    @torch.no_grad()
    def score_all(self, items: torch.Tensor, timestamps: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) left-padded histories -> (B, N+1) scores of every item for the next position."""
        h = self._out(self.encode(items, timestamps)[:, -1])  # (B, d)
        scores = h @ self._items().T / self.head.temperature
        scores[:, 0] = -math.inf
        return scores
