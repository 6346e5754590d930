"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018, arXiv 1808.09781).

Item + learned absolute position embeddings -> `n_layers` causal transformer blocks -> the last
position's state scores every item through the tied item embeddings.

Where we depart from the paper, and why:
- Pre-norm blocks with a final norm (the paper normalises after attention only); more stable, and
  the form every later hgrec model uses.
- The default loss is full-softmax cross-entropy, not BCE with one negative: public reproductions
  show it is much stronger (ANCHORS.md); `head.loss: bce` gives the original.
- Training windows cover the whole training sequence (see hgrec/data/samples.py), not just the
  last `max_len` items.
"""

from __future__ import annotations

import dataclasses
import torch
from torch import nn

from hgrec.models.registry import register
from hgrec.models.sequential import HeadConfig, NextItemModel
from hgrec.nn import TransformerBlock
from hgrec.nn.blocks import make_norm


@dataclasses.dataclass
class SASRecConfig:
    d_model: int = 64  # the paper's d=50 for Amazon; 64 keeps heads even
    n_layers: int = 2
    n_heads: int = 1
    d_ff: int = 256
    dropout: float = 0.2  # paper: 0.5 on Amazon, 0.2 on MovieLens
    ffn: str = "gelu"
    norm: str = "layer"
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)


@register("sasrec", SASRecConfig)
class SASRec(NextItemModel):
    def __init__(self, config: SASRecConfig, num_items: int, max_len: int, has_timestamps: bool = False):
        super().__init__(config.head, num_items, config.d_model)
        self.config, self.max_len = config, max_len
        self._init_inputs(max_len, config.d_model, config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.d_model, config.n_heads, config.d_ff, config.dropout, config.ffn, config.norm)
            for _ in range(config.n_layers)
        )
        self.norm = make_norm(config.norm, config.d_model)

    def encode(self, items: torch.Tensor, timestamps: torch.Tensor | None = None) -> torch.Tensor:
        x, pad = self.embed_history(items)
        for block in self.blocks:
            x = block(x, causal=True, key_padding=pad)
        return self.norm(x)
