"""Greedy-Slate Beam-Item inference (HiGR §3.3.3), batched over users.

    C = encode_context(user)                                            once per slate
    x = BOS
    for m in 1..L:
        i_hat_m = planner.step(x)                                       KV-cached, one token
        beams   = trie-constrained beam search of width B over the D levels,
                  started from i_hat_m, excluding the slate so far (and optionally the history)
        item_m  = top-1 beam;   x = sum_d s^d(item_m)                   greedy over the slate

The item generator's cross-attention keys/values over C are computed once per slate and reused
by every item and every beam: the B beams of a user attend to one copy of C as one group of
queries (the context does not change, and beams never move between users). `use_cache=False` re-runs the
planner and the generator over their whole prefixes at every step (for the equivalence test and
the efficiency benchmark). Any L works: the generator is shared across slots.
"""

from __future__ import annotations

import torch

from hgrec.decoding.beam import item_beam_search
from hgrec.models.capabilities import HierarchicalSlateGenerator
from hgrec.nn import advance_caches, reorder_caches
from hgrec.tokenizers.trie import PrefixTrie


@torch.inference_mode()
def gsbi(model: HierarchicalSlateGenerator, batch: dict[str, torch.Tensor], trie: PrefixTrie, slate_size: int = 5,
         beam: int = 5, exclude_history: bool = False, use_cache: bool = True, with_scores: bool = False):
    """-> (R, slate_size) item ids, distinct within each row (0 only if the catalogue runs out);
    with `with_scores`, also (R, slate_size) log P(item_m | i_hat_m) of each chosen item (its beam's score)."""
    if slate_size < 1 or beam < 1:
        raise ValueError(f"slate_size and beam must be >= 1, got {slate_size}, {beam}")
    if model.training:  # eval() walks every submodule: not on every serving call
        model.eval()
    C, C_pad = model.encode_context(batch)
    R = C.shape[0]
    D = trie.depth
    planner_caches = model.plan_caches(static=(R, slate_size)) if use_cache else None
    gen_caches = {}  # generator -> its (static self-attention, cross-attention over C) caches, made on first use
    chosen = torch.zeros(R, slate_size, dtype=torch.long, device=C.device)
    chosen_scores = torch.full((R, slate_size), float("-inf"), device=C.device)
    history = batch["history"] if exclude_history else chosen[:, :0]
    x = model.plan_start(R)
    prev = []  # chosen item embeddings so far (uncached planner)
    for m in range(slate_size):
        if use_cache:
            i_hat = model.plan_step(x, C, C_pad, planner_caches)
            advance_caches(planner_caches[0])
        else:
            items = torch.stack(prev, 1) if prev else x.new_zeros(R, 0, x.shape[-1])
            i_hat = model.plan(items, C, C_pad)[:, -1]
        gen = model.generator(m)
        if use_cache and gen not in gen_caches:
            gen_caches[gen] = gen.new_caches(static=(R * beam, D))
        excluded = torch.cat([history, chosen[:, :m]], 1)
        beams = item_beams(model, gen, i_hat, C, C_pad, trie, beam, excluded, gen_caches.get(gen))
        chosen[:, m] = beams.items[:, 0]
        chosen_scores[:, m] = beams.scores[:, 0]
        x = model.sid.item(chosen[:, m])  # top-1 beam's summed SID embedding -> next planner input
        prev.append(x)
    return (chosen, chosen_scores) if with_scores else chosen


def item_beams(model: HierarchicalSlateGenerator, gen, i_hat: torch.Tensor, C: torch.Tensor, C_pad: torch.Tensor,
               trie: PrefixTrie, beam: int, excluded: torch.Tensor | None, caches=None):
    """The item generator's trie-constrained beam search of width `beam` started from the planner's
    preference embeddings i_hat (R, d) (eq. 9-11): `Beams` best first. `caches` = the generator's
    (static self-attention, cross-attention) caches for R * beam rows (None: re-run the prefix each step)."""
    first = i_hat.repeat_interleave(beam, 0)  # (R*beam, d)
    if caches is not None:
        own, cross = caches
        own.pos.zero_()  # a new item: its D positions are written again (the rest is masked)

        def step(level, tokens):
            out = gen.step(model.sid, level, first if level == 0 else tokens, C, C_pad, own, cross, group=beam)
            own.advance()
            return out

        def reorder(index):
            reorder_caches(own, index)
    else:
        state = {"prefix": first.new_zeros(first.shape[0], 0, dtype=torch.long), "first": first}

        def step(level, tokens):
            if level > 0:
                state["prefix"] = torch.cat([state["prefix"], tokens[:, None]], 1)
            return gen.logits_at(model.sid, state["first"], state["prefix"], C, C_pad, group=beam)

        def reorder(index):
            state["prefix"] = state["prefix"][index]
            state["first"] = state["first"][index]

    return item_beam_search(step, trie, C.shape[0], beam, excluded, reorder)
