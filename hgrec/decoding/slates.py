"""One way to ask any model for slates: `slate_generator(model, trie, ...)(batch) -> (R, L) item ids`.

The search follows the model's capability (`hgrec.models.capabilities`), not its name:
- `HierarchicalSlateGenerator` (HiGR): Greedy-Slate Beam-Item decoding (`gsbi`);
- `ItemCodeGenerator` (TIGER and other single-item SID decoders): the top-L beams of one
  trie-constrained beam search (width max(B, L));
- `FlatSlateGenerator` (OneRec-style): beam search over the M*D codes as one sequence (`flat_slates`);
- `WholeSlateGenerator` (ListCVAE): the model's own `generate_slates`;
- `NextItemScorer` (SASRec, HSTU, BERT4Rec): the top-L items of their full-catalogue scores.
`exclude_history` removes the items of the context history from every slate. With
`with_scores=True` the generator returns (items, scores): each item's log-probability under the
model (GSBI: its beam's log P over the D codes given the planner state; TIGER: the beam's; next-item
models: the log-softmax of the score; OneRec-style and ListCVAE: NaN, they score whole slates).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from hgrec.decoding.beam import item_beam_search
from hgrec.decoding.flat import flat_slates
from hgrec.decoding.gsbi import gsbi
from hgrec.decoding.step import compile_decoders, is_compiled
from hgrec.models.capabilities import (FlatSlateGenerator, HierarchicalSlateGenerator, ItemCodeGenerator,
                                       NextItemScorer, WholeSlateGenerator, slate_capability)
from hgrec.tokenizers.trie import PrefixTrie
from hgrec.utils.ranking import top_k

SlateFn = Callable[[dict[str, torch.Tensor]], "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]


def makes_slates(model) -> bool:
    return slate_capability(model) is not None


def slate_generator(model, trie: PrefixTrie | None, slate_size: int, beam: int = 5, exclude_history: bool = False,
                    use_cache: bool = True, with_scores: bool = False, compile: bool | str = False) -> SlateFn:
    """`compile` (True or a mode of `hgrec.decoding.step.MODES`): the semantic-ID decoders run their compiled
    step (cached decoding only)."""
    cap = slate_capability(model)
    if cap is None:
        raise TypeError(f"{type(model).__name__} cannot generate slates: it offers none of the slate capabilities "
                        "of hgrec.models.capabilities (e.g. score_all of a NextItemScorer)")
    if cap in (HierarchicalSlateGenerator, ItemCodeGenerator, FlatSlateGenerator) and trie is None:
        raise ValueError(f"{type(model).__name__} decodes semantic IDs: it needs the prefix trie of its codes")
    if compile:
        if cap not in (HierarchicalSlateGenerator, ItemCodeGenerator, FlatSlateGenerator) or not use_cache:
            raise ValueError("compile=True needs a semantic-ID decoder (HiGR, TIGER, OneRec-style) with use_cache")
        if not is_compiled(model):
            compile_decoders(model, None if compile is True else compile)
    if cap is HierarchicalSlateGenerator:
        return lambda batch: gsbi(model, batch, trie, slate_size, beam, exclude_history, use_cache, with_scores)
    if cap is ItemCodeGenerator:
        return lambda batch: item_code_slates(model, batch, trie, slate_size, beam, exclude_history, use_cache,
                                              with_scores)
    if cap is FlatSlateGenerator:
        return _no_item_scores(lambda batch: flat_slates(model, batch, trie, slate_size, beam, exclude_history,
                                                         use_cache), with_scores)
    if cap is WholeSlateGenerator:
        return _no_item_scores(lambda batch: model.generate_slates(batch, slate_size, exclude_history), with_scores)
    assert cap is NextItemScorer
    return lambda batch: top_k_slates(model, batch, slate_size, exclude_history, with_scores)


def _no_item_scores(fn: SlateFn, with_scores: bool) -> SlateFn:
    """Models that score whole slates: NaN per item when scores are asked for."""
    if not with_scores:
        return fn

    def scored(batch):
        items = fn(batch)
        return items, torch.full(items.shape, math.nan, device=items.device)
    return scored


@torch.inference_mode()
def top_k_slates(model: NextItemScorer, batch, slate_size: int, exclude_history: bool = False,
                 with_scores: bool = False):
    """The top-L items of a next-item model's full-catalogue scores."""
    if model.training:
        model.eval()
    scores = model.score_all(batch["history"], batch.get("history_ts")).float()
    if exclude_history:
        scores.scatter_(1, batch["history"], -math.inf)
    scores[:, 0] = -math.inf
    items = top_k(scores, slate_size)
    if with_scores:
        return items, torch.log_softmax(scores, -1).gather(1, items)
    return items


@torch.inference_mode()
def item_code_slates(model: ItemCodeGenerator, batch, trie: PrefixTrie, slate_size: int, beam: int = 5,
                     exclude_history: bool = False, use_cache: bool = True, with_scores: bool = False):
    """The top-L beams of one trie-constrained beam search of width max(B, L) from the model's BOS (TIGER)."""
    if model.training:  # eval() walks every submodule: not on every serving call
        model.eval()
    width = max(beam, slate_size)
    C, C_pad = model.encode_context(batch)
    R = C.shape[0]
    first = model.item_start(R * width)
    dec = model.item_decoder()
    caches, cross = dec.new_caches(static=(R * width, trie.depth))
    state = {"prefix": torch.zeros(R * width, 0, dtype=torch.long, device=C.device)}

    def step(level, tokens):
        if use_cache:
            out = dec.step(model.sid, level, first if level == 0 else tokens, C, C_pad, caches, cross, group=width)
            caches.advance()
            return out
        if level > 0:
            state["prefix"] = torch.cat([state["prefix"], tokens[:, None]], 1)
        return dec.logits_at(model.sid, first, state["prefix"], C, C_pad, group=width)

    def reorder(index):
        caches.reorder(index)
        state["prefix"] = state["prefix"][index]

    excluded = batch["history"] if exclude_history else None
    beams = item_beam_search(step, trie, R, width, excluded, reorder)
    if with_scores:
        return beams.items[:, :slate_size], beams.scores[:, :slate_size]
    return beams.items[:, :slate_size]
