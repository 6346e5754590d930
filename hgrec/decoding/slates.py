"""One way to ask any model for slates: `slate_generator(model, trie, ...)(batch) -> (R, L) item ids`.

- HiGR: Greedy-Slate Beam-Item decoding (`gsbi`);
- TIGER and other single-item SID decoders: the top-L beams of one trie-constrained beam search
  (width max(B, L));
- OneRec-style flat decoders: their own `generate_slates` (M*D tokens);
- ListCVAE: its decoder's M embeddings from the prior, conditioned on the ideal response;
- next-item models (SASRec, HSTU, BERT4Rec): the top-L items of their full-catalogue scores.
`exclude_history` removes the items of the context history from every slate. With
`with_scores=True` the generator returns (items, scores): each item's log-probability under the
model (GSBI: its beam's log P over the D codes given the planner state; TIGER: the beam's; next-item
models: the log-softmax of the score; OneRec-style and ListCVAE: NaN, they score whole slates).
"""

from __future__ import annotations

import math

import torch

from hgrec.decoding.beam import item_beam_search
from hgrec.decoding.flat import flat_slates
from hgrec.decoding.gsbi import gsbi
from hgrec.utils.ranking import top_k
from hgrec.tokenizers.trie import PrefixTrie


def slate_generator(model, trie: PrefixTrie | None, slate_len: int, beam: int = 5, exclude_history: bool = False,
                    use_cache: bool = True, with_scores: bool = False):
    name = getattr(model, "registry_name", type(model).__name__.lower())
    if name == "higr":
        return lambda batch: gsbi(model, batch, trie, slate_len, beam, exclude_history, use_cache, with_scores)
    if name == "tiger":
        return lambda batch: tiger_slates(model, batch, trie, slate_len, beam, exclude_history, use_cache,
                                          with_scores)
    if name == "listcvae":
        def whole(batch):
            items = model.generate_slates(batch, slate_len, exclude_history)
            return (items, torch.full(items.shape, math.nan, device=items.device)) if with_scores else items
        return whole
    if name == "onerec":
        def flat(batch):
            items = flat_slates(model, batch, trie, slate_len, beam, exclude_history, use_cache)
            return (items, torch.full(items.shape, math.nan, device=items.device)) if with_scores else items
        return flat
    if hasattr(model, "score_all"):
        @torch.inference_mode()
        def top(batch):
            if model.training:
                model.eval()
            scores = model.score_all(batch["history"], batch.get("history_ts")).float()
            if exclude_history:
                scores.scatter_(1, batch["history"], -math.inf)
            scores[:, 0] = -math.inf
            items = top_k(scores, slate_len)
            if with_scores:
                return items, torch.log_softmax(scores, -1).gather(1, items)
            return items
        return top
    raise TypeError(f"{name} cannot generate slates")


@torch.inference_mode()
def tiger_slates(model, batch, trie: PrefixTrie, slate_len: int, beam: int = 5, exclude_history: bool = False,
                 use_cache: bool = True, return_scores: bool = False):
    """The top-L beams of one trie-constrained beam search of width max(B, L) from TIGER's BOS."""
    if model.training:  # eval() walks every submodule: not on every serving call
        model.eval()
    width = max(beam, slate_len)
    C, C_pad = model.encode_context(batch)
    R = C.shape[0]
    first = model.bos.expand(R * width, -1)
    dec = model.decoder
    caches, cross = dec.new_caches()
    state = {"prefix": torch.zeros(R * width, 0, dtype=torch.long, device=C.device)}

    def step(level, tokens):
        if use_cache:
            return dec.step(model.sid, level, first if level == 0 else tokens, C, C_pad, caches, cross, group=width)
        if level > 0:
            state["prefix"] = torch.cat([state["prefix"], tokens[:, None]], 1)
        return dec.logits_at(model.sid, first, state["prefix"], C, C_pad, group=width)

    def reorder(index):
        for c in caches:
            c.reorder(index)
        state["prefix"] = state["prefix"][index]

    excluded = batch["history"] if exclude_history else None
    beams = item_beam_search(step, trie, R, width, excluded, reorder)
    if return_scores:
        return beams.items[:, :slate_len], beams.scores[:, :slate_len]
    return beams.items[:, :slate_len]
