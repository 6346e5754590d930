"""DIN: Deep Interest Network (Zhou et al., KDD 2018, arXiv 1706.06978), the classic DLRM-type CTR baseline.

The candidate attends to the history through DIN's "activation unit": a weight per history item from an
MLP over [e_j, c, e_j - c, e_j * c], *not* softmax-normalised (the paper keeps the intensity of the
user's interest), sum pooling, then an MLP click head over [c, pooled, c * pooled].

Where we depart from the paper, and why:
- History tokens are item + action (+ time-gap) embeddings summed (the paper's history is clicked items
  only; our histories are exposures, so the feedback must be part of the token, as for every other CTR
  model here); user-profile, item side, context and counter features only when the run asks for them
  (`data.features`), like every other CTR model here.
- PReLU instead of Dice, and no mini-batch aware regularisation: AdamW weight decay instead.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from hgrec.models.ctr import ClickHead, CTRModel, ExposureTokens
from hgrec.models.registry import register


@dataclasses.dataclass
class DINConfig:
    d_model: int = 64
    attn_hidden: tuple[int, int] = (80, 40)  # the paper's activation-unit sizes
    d_ff: int = 256  # click-head hidden size
    dropout: float = 0.1


@register("din", DINConfig)
class DIN(CTRModel):
    def __init__(self, config: DINConfig, num_items: int, max_len: int, sid_vocab: list[int] | None = None,
                 feature_sizes: list[int] | None = None):
        super().__init__()
        c = self.config = config
        self.num_items, self.max_len = num_items, max_len
        self.tokens = ExposureTokens(num_items, c.d_model, sid_vocab=sid_vocab, dropout=c.dropout, sessions=False,
                                     feature_sizes=feature_sizes)
        h1, h2 = c.attn_hidden
        self.activation_unit = nn.Sequential(nn.Linear(4 * c.d_model, h1), nn.PReLU(), nn.Linear(h1, h2), nn.PReLU(),
                                             nn.Linear(h2, 1))
        self.head = ClickHead(c.d_model, c.d_ff, c.dropout, d_extra=self.tokens.side_dim)

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        valid = batch["items"] > 0
        h = self.tokens(batch["items"], batch["actions"], batch["pos"], batch["session"], batch["gap"])  # (B, L, d)
        side = self.tokens.side(batch)
        cand = self.tokens.candidate(batch, side)  # (B, d)
        c = cand[:, None].expand_as(h)
        w = self.activation_unit(torch.cat([h, c, h - c, h * c], -1)).squeeze(-1) * valid  # (B, L), no softmax
        pooled = (w[..., None] * h).sum(1)  # (B, d)
        return self.head(cand, pooled, side)
