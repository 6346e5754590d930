"""Semantic-ID models as next-item retrievers: `next_item_beams(model, batch, trie, n) -> ranked items`.

Generative retrieval (TIGER §3.2) ranks the catalogue by one trie-constrained beam search of width
n: the n beams, best first, are the top-n items, and every other item ranks below them (for
Recall@K / NDCG@K with K <= n this is exact for the beams' order and a lower bound otherwise).
The search follows the model's capability, with the same modules as slate decoding:
- `ItemCodeGenerator` (TIGER): the beams of its decoder from BOS (`item_code_slates` of width n);
- `HierarchicalSlateGenerator` (HiGR): one planner step gives i_hat_1, the shared item generator's
  beam search from it (the first slot of GSBI, `gsbi.item_beams`) gives the n items: HiGR with a
  slate of one, the next-item model of docs/generative_retrieval.md;
- `FlatSlateGenerator` (OneRec-style): the beams of a flat search over one item's D codes.
`exclude_history` removes the items of the history from the search (5-core Amazon never repeats one).
"""

from __future__ import annotations

import torch

from hgrec.decoding.flat import flat_beams
from hgrec.decoding.gsbi import item_beams
from hgrec.decoding.slates import item_code_slates
from hgrec.models.capabilities import (FlatSlateGenerator, HierarchicalSlateGenerator, ItemCodeGenerator,
                                       slate_capability)
from hgrec.tokenizers.trie import PrefixTrie


@torch.inference_mode()
def next_item_beams(model, batch: dict[str, torch.Tensor], trie: PrefixTrie, n: int = 20,
                    exclude_history: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (R, n) item ids best first (0 where fewer than n items are reachable) and their (R, n)
    log-probabilities log P(item | context) under the model (-inf for the 0s)."""
    if n < 1:
        raise ValueError(f"the beam must be >= 1, got {n}")
    cap = slate_capability(model)
    if model.training:
        model.eval()
    excluded = batch["history"] if exclude_history else None
    if cap is ItemCodeGenerator:
        return item_code_slates(model, batch, trie, n, n, exclude_history, with_scores=True)
    if cap is HierarchicalSlateGenerator:
        C, C_pad = model.encode_context(batch)
        R = C.shape[0]
        i_hat = model.plan_step(model.plan_start(R), C, C_pad, model.plan_caches(static=(R, 1)))
        gen = model.generator(0)
        beams = item_beams(model, gen, i_hat, C, C_pad, trie, n, excluded, gen.new_caches(static=(R * n, trie.depth)))
        return beams.items, beams.scores
    if cap is FlatSlateGenerator:
        items, scores = flat_beams(model, batch, trie, 1, n, exclude_history)
        return items[:, :, 0], scores
    raise TypeError(f"{type(model).__name__} does not decode semantic IDs: rank with its scores instead "
                    "(data.protocol=next_item of a next-item model)")
