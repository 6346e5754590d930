"""TIGER: generative retrieval over semantic IDs (Rajput et al., NeurIPS 2023, arXiv 2305.05065).

An encoder reads the user's history as items (here: the shared `ContextEncoder`, items = pooled
SID embeddings, plus user-feature tokens), a decoder generates the next item's D codes from a
BOS token with cross-attention to the encoder output, and inference is a trie-constrained beam
search. As a slate model (HiGR Table 2) the slate is the top-L beams of one search of width
max(B, L).

Our choices: TIGER's encoder reads the SID tokens of every history item (D tokens per item); we
feed one pooled token per item so that TIGER, HiGR and OneRec-style share the same context
encoder and differ only in the decoder — the comparison the HiGR paper makes. Training uses
every item of the training slate as a next-item target for the same context.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from hgrec.models.generative import ContextEncoder, SIDDecoder, SIDEmbedding, sid_loss
from hgrec.models.registry import register


@dataclasses.dataclass
class TIGERConfig:
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    context_layers: int = 2
    decoder_layers: int = 6  # = HiGR's l_slate + l_item for an equal-size comparison
    dropout: float = 0.1
    ffn: str = "swiglu"
    user_features: bool = True
    time_embedding: bool = True
    item_ids: bool = False  # hybrid context: + item-ID embedding of history items (our addition)
    head_dim: int | None = None  # None: d_model / n_heads; the TIGER paper: 6 heads of 64 on d_model 128


@register("tiger", TIGERConfig)
class TIGER(nn.Module):
    task = "slate"

    def __init__(self, config: TIGERConfig, num_items: int, max_len: int, slate_size: int, sid_vocab: list[int],
                 feature_vocab: list[int] | None = None, has_timestamps: bool = True):
        super().__init__()
        c = self.config = config
        self.num_items, self.max_len, self.slate_size = num_items, max_len, slate_size
        self.sid = SIDEmbedding(sid_vocab, num_items, c.d_model)
        self.context = ContextEncoder(c.d_model, c.n_heads, c.d_ff, c.context_layers, c.dropout, max_len,
                                      feature_vocab if c.user_features else None,
                                      c.time_embedding and has_timestamps, c.ffn,
                                      num_items if c.item_ids else None, c.head_dim)
        self.bos = nn.Parameter(torch.randn(c.d_model) * 0.02)
        self.decoder = SIDDecoder(self.sid, c.d_model, c.n_heads, c.d_ff, c.decoder_layers, c.dropout, True, c.ffn,
                                  c.head_dim)

    def encode_context(self, batch):
        return self.context(self.sid, batch["history"], batch.get("history_ts"), batch.get("user_features"))

    # the ItemCodeGenerator capability (hgrec.models.capabilities): top-L beams of one beam search
    def item_start(self, rows: int) -> torch.Tensor:
        return self.bos.expand(rows, -1)

    def item_decoder(self) -> SIDDecoder:
        return self.decoder

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = batch["target"]  # (B, M)
        C, C_pad = self.encode_context(batch)
        b, m = (target > 0).nonzero(as_tuple=True)
        codes = self.sid.codes[target[b, m]]  # (n, D)
        logits = self.decoder(self.sid, self.bos.expand(len(b), -1), codes, C[b], C_pad[b])
        return sid_loss(logits, codes), torch.tensor(len(b) * self.sid.levels, device=target.device)
