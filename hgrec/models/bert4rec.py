"""BERT4Rec: sequential recommendation with a bidirectional transformer (Sun et al., CIKM 2019,
arXiv 1904.06690).

Training is the cloze task: every item of a history window is replaced by a learned [MASK] embedding
with probability `mask_prob` (the paper's rho), the bidirectional encoder reads the corrupted window,
and the states at the masked positions predict the original items over the whole catalogue. At
inference a [MASK] is appended after the history and its state scores every item — the paper's
"final-position mask" that matches the task (predict what comes next) to the pre-training.

    x_t   = ([MASK] if m_t else E[item_t]) * sqrt(d) + P[t]             m_t ~ Bernoulli(rho)
    h     = BidirectionalEncoder(x)                                      n_layers blocks, no causal mask
    L     = - sum_{t: m_t} log softmax(h_t E^T)[item_t]                  tied output embeddings

Where we depart from the paper, and why:
- Pre-norm blocks with a final norm (as every hgrec transformer); full-catalogue softmax CE through
  the shared head (`head.loss`: ce | sampled | bce), so BERT4Rec differs from SASRec only in the
  attention mask and the objective.
- [MASK] is a separate parameter, not a row of the item table, so the tied output layer can never
  predict it and the catalogue indexing stays `1..N` everywhere.
- A window in which no item was drawn gets its most recent item masked, so every window teaches
  something and a share of the examples has the inference-time shape (mask at the end); the paper
  adds such last-item-masked copies of the sequences for the same reason.
- A window of `max_len + 1` items (what the next-item tasks hand every model) is cut to its last
  `max_len`; at inference the oldest item makes room for the [MASK] when the history is full.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from hgrec.models.registry import register
from hgrec.models.sequential import HeadConfig, NextItemModel
from hgrec.nn import TransformerBlock
from hgrec.nn.blocks import make_norm


@dataclasses.dataclass
class BERT4RecConfig:
    d_model: int = 64
    n_layers: int = 2  # paper: 2
    n_heads: int = 2  # paper: 2
    d_ff: int = 256  # paper: 4 * d
    dropout: float = 0.2  # paper: 0.1
    mask_prob: float = 0.2  # paper's rho: 0.2 on MovieLens, 0.6 on Beauty
    ffn: str = "gelu"
    norm: str = "layer"
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)

    def __post_init__(self):
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"model.mask_prob must be in (0, 1), got {self.mask_prob}")


@register("bert4rec", BERT4RecConfig)
class BERT4Rec(NextItemModel):
    def __init__(self, config: BERT4RecConfig, num_items: int, max_len: int, has_timestamps: bool = False):
        super().__init__(config.head, num_items, config.d_model)
        self.config, self.max_len = config, max_len
        self._init_inputs(max_len, config.d_model, config.dropout)
        self.mask_emb = nn.Parameter(torch.randn(config.d_model) * 0.02)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.d_model, config.n_heads, config.d_ff, config.dropout, config.ffn, config.norm)
            for _ in range(config.n_layers))
        self.norm = make_norm(config.norm, config.d_model)

    def encode_masked(self, items: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """(B, L) left-padded ids and (B, L) bool cloze mask -> (B, L, d) bidirectional states.
        A masked position's input holds no trace of its item: only [MASK] + its position."""
        B, L = items.shape
        if L > self.max_len:
            raise ValueError(f"history length {L} exceeds max_len {self.max_len}")
        pad = (items == 0) & ~masked  # an appended [MASK] slot is not padding
        ids = items.masked_fill(masked, 0)  # the item id never reaches the input at a masked slot
        pos = torch.arange(self.max_len - L, self.max_len, device=items.device)
        x = torch.where(masked[..., None], self.mask_emb.expand(B, L, -1), self.item_emb(ids))
        x = self.drop(x * math.sqrt(self.d_model) + self.pos_emb(pos)[None]) * ~pad[..., None]
        for block in self.blocks:
            x = block(x, causal=False, key_padding=pad)
        return self.norm(x)

    def cloze_mask(self, items: torch.Tensor) -> torch.Tensor:
        """Bernoulli(mask_prob) over the real items; rows with none get their last item masked."""
        real = items > 0
        masked = (torch.rand(items.shape, device=items.device) < self.config.mask_prob) & real
        none = ~masked.any(1) & real.any(1)
        masked[none, -1] = True  # windows are left-padded: the last column is the most recent item
        return masked

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        items = batch["items"][:, -self.max_len:]  # (B, L) the window, cut to max_len
        masked = self.cloze_mask(items)
        h = self.encode_masked(items, masked)  # (B, L, d)
        return self.head_loss(h[masked], items[masked]), masked.sum()

    def encode(self, items: torch.Tensor, timestamps: torch.Tensor | None = None) -> torch.Tensor:
        """History -> states with a [MASK] appended: the last state predicts the next item."""
        x = torch.cat([items, items.new_zeros(items.shape[0], 1)], 1)[:, -self.max_len:]  # (B, <= max_len)
        masked = torch.zeros_like(x, dtype=torch.bool)
        masked[:, -1] = True
        return self.encode_masked(x, masked)
