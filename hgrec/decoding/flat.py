"""Flat slate decoding for OneRec-style models: beam search (or greedy) over L*D tokens.

Every hypothesis carries its own partial slate: the trie constrains each item's D codes (the
prefix resets at item boundaries), and codes leading only to items already in that hypothesis'
slate (or, when asked, in the history) are masked. Beams are batched over users; with
`use_cache` the decoder runs one token per step on its KV cache, without it the whole prefix is
re-run at every step (the baseline the efficiency benchmark compares against).
"""

from __future__ import annotations

import torch

from hgrec.decoding.beam import NEG_INF, dedupe, exhausted
from hgrec.models.capabilities import FlatSlateGenerator
from hgrec.tokenizers.trie import PrefixTrie


@torch.inference_mode()
def flat_slates(model: FlatSlateGenerator, batch, trie: PrefixTrie, slate_size: int, beam: int = 5, exclude_history: bool = False,
                use_cache: bool = True) -> torch.Tensor:
    """-> (R, slate_size) item ids of the best hypothesis (beam=1: greedy)."""
    return flat_beams(model, batch, trie, slate_size, beam, exclude_history, use_cache)[0][:, 0]


@torch.inference_mode()
def flat_beams(model: FlatSlateGenerator, batch, trie: PrefixTrie, slate_size: int, beam: int = 5,
               exclude_history: bool = False, use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """-> every hypothesis of the search, best first: (R, beam, slate_size) item ids and (R, beam) summed
    log-probabilities (-inf: no valid hypothesis). With slate_size 1 the beams are `beam` distinct items
    ranked by the model: OneRec-style decoding as a next-item retriever."""
    if model.training:  # eval() walks every submodule: not on every serving call
        model.eval()
    C, C_pad = model.encode_context(batch)
    R, W, D = C.shape[0], beam, trie.depth
    device = C.device
    scores = torch.zeros(R, W, device=device)
    scores[:, 1:] = NEG_INF
    base = (torch.arange(R, device=device) * W)[:, None]
    prefix = torch.zeros(R * W, dtype=torch.long, device=device)
    chosen = torch.zeros(R * W, slate_size, dtype=torch.long, device=device)
    tokens = torch.zeros(R * W, 1, dtype=torch.long, device=device)  # position 0 = BOS
    history = batch["history"].repeat_interleave(W, 0) if exclude_history else chosen[:, :0]
    caches, cross = model.new_caches(static=(R * W, 1 + slate_size * D)) if use_cache else (None, None)
    for m in range(slate_size):
        excluded = dedupe(torch.cat([history, chosen[:, :m]], 1)) if (m or exclude_history) else None
        for d in range(D):
            t = tokens.shape[1] - 1  # flat position of the newest input token
            if use_cache:
                h = model.decode(model.embed(tokens[:, -1:], t), C, C_pad, caches, cross, group=W)[:, -1]
                caches.advance()
            else:
                h = model.decode(model.embed(tokens, 0), C, C_pad, group=W)[:, -1]
            logp = torch.log_softmax(model.code_logits(h, d).float(), -1)  # (R*W, K)
            K = logp.shape[1]
            ok = trie.allowed[d][prefix]
            if excluded is not None and excluded.shape[1]:
                ok = ok & ~exhausted(trie, d, prefix, excluded)
            cand = (scores.reshape(-1, 1) + logp.masked_fill(~ok, NEG_INF)).view(R, W * K)
            top, idx = cand.topk(W, dim=1)
            parent = (base + idx // K).view(-1)
            tok = (idx % K).view(-1)
            if caches is not None:
                caches.reorder(parent)
            prefix = trie.child[d][prefix[parent], tok].clamp(min=0)
            chosen, tokens = chosen[parent], torch.cat([tokens[parent], tok[:, None]], 1)
            excluded = None if excluded is None else excluded[parent]
            scores = top
        alive = torch.isfinite(scores).view(-1)
        chosen[:, m] = torch.where(alive, trie.item[prefix], torch.zeros_like(prefix))
        prefix = torch.zeros_like(prefix)
    return chosen.view(R, W, slate_size), scores
