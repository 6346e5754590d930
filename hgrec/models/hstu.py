"""HSTU as a next-item retrieval model (Zhai et al., ICML 2024, arXiv 2402.17152).

Item + learned absolute position embeddings -> `n_layers` HSTU blocks (pointwise SiLU attention with
relative position/time bias and U-gating, hgrec/nn/hstu.py) -> final LayerNorm -> the last position
scores every item through the tied item embeddings.

Where we depart from the reference implementation (meta-recsys/generative-recommenders):
- Same output head and losses as our SASRec (hgrec/models/sequential.py) so the comparison is the
  architecture alone; the reference's setup (sampled softmax, l2-normalised embeddings,
  temperature 0.05) is `head: {loss: sampled, l2_norm: true, temperature: 0.05}`.
- The time bias uses the query's own timestamp (see hgrec/nn/hstu.py); it is switched off for
  order-only sources (Amazon), where only the positional bias remains.
- f1 (U, V, Q, K) is an nn.Linear with a bias and f2 keeps nn.Linear's init unless `init: reference`
  (f1 ~ N(0, 0.02), f2 Xavier-uniform, as the reference initialises them).
"""

from __future__ import annotations

import dataclasses
import torch
from torch import nn

from hgrec.models.registry import register
from hgrec.models.sequential import HeadConfig, NextItemModel
from hgrec.nn import HSTUBlock


@dataclasses.dataclass
class HSTUConfig:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    d_qk: int | None = None  # per head; default d_model / n_heads
    d_v: int | None = None
    dropout: float = 0.2
    attn_dropout: float = 0.0  # dropout on the pointwise attention weights; 0 = off
    # "torch": nn.Linear's default init for f1 / f2; "reference": the reference implementation's, f1 ~ N(0, 0.02)
    # (bias 0) and f2 Xavier-uniform
    init: str = "torch"
    num_time_buckets: int = 128
    time_bias: bool = True  # ignored (off) when the dataset has no timestamps
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)


@register("hstu", HSTUConfig)
class HSTU(NextItemModel):
    def __init__(self, config: HSTUConfig, num_items: int, max_len: int, has_timestamps: bool = False):
        super().__init__(config.head, num_items, config.d_model)
        self.config, self.max_len = config, max_len
        self.use_time = config.time_bias and has_timestamps
        self._init_inputs(max_len, config.d_model, config.dropout)
        self.blocks = nn.ModuleList(
            HSTUBlock(config.d_model, config.n_heads, max_len, config.d_qk, config.d_v, config.dropout,
                      config.num_time_buckets, self.use_time, config.attn_dropout)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.d_model, eps=1e-6)
        if config.init == "reference":
            for block in self.blocks:
                nn.init.normal_(block.uvqk.weight, std=0.02)
                nn.init.zeros_(block.uvqk.bias)
                nn.init.xavier_uniform_(block.out.weight)
        elif config.init != "torch":
            raise ValueError(f"model.init must be 'torch' or 'reference', got {config.init!r}")

    def encode(self, items: torch.Tensor, timestamps: torch.Tensor | None = None) -> torch.Tensor:
        x, pad = self.embed_history(items)
        ts = timestamps if self.use_time else None
        for block in self.blocks:
            x = block(x, key_padding=pad, timestamps=ts)
        return self.norm(x)
