"""Trie-constrained beam search over one item's semantic ID, batched over independent rows.

Every row (a user, or a user x slate slot) keeps `beam` hypotheses; each step scores all K codes
of the next level for all hypotheses at once, masks the codes the trie does not allow after the
hypothesis' prefix — and, when `excluded` items are given, the codes that lead only to excluded
items — and keeps the best `beam` of the row's beam*K candidates. Caches are reordered by the
parents of the survivors, so each step runs the decoder on one new token per hypothesis.

Used by GSBI (one item per planner step, `hgrec.decoding.gsbi`) and by TIGER (the top-M beams of
one search are the slate).
"""

from __future__ import annotations

import dataclasses

import torch

from hgrec.tokenizers.trie import PrefixTrie

NEG_INF = float("-inf")


@dataclasses.dataclass
class Beams:
    codes: torch.Tensor  # (R, beam, D) best first
    scores: torch.Tensor  # (R, beam) summed log-probabilities (-inf: no valid hypothesis)
    items: torch.Tensor  # (R, beam) item ids (0 where the hypothesis is invalid)


def dedupe(excluded: torch.Tensor) -> torch.Tensor:
    """(R, E) item ids -> the same sets with repeated ids replaced by 0 (padding)."""
    srt, _ = excluded.sort(dim=1)
    dup = torch.zeros_like(srt, dtype=torch.bool)
    dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
    return srt.masked_fill(dup, 0)


def exhausted(trie: PrefixTrie, level: int, prefix: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
    """prefix (R,) hypotheses' prefix ids at depth `level`, excluded (R, E) distinct item ids (0 = none) -> (R, K)
    True where code k of `level` leads only to excluded items. An excluded item lies under child k of the
    hypothesis iff its depth-`level` prefix is the hypothesis' and its code at `level` is k, so the excluded items
    under every child are counted with one scatter: O(R (E + K)), never an (R, K, E) comparison."""
    child = trie.child[level][prefix]  # (R, K), -1 = not a code here
    under = (trie.item_prefix[level][excluded] == prefix[:, None]) & (excluded > 0)  # (R, E)
    count = torch.zeros_like(child).scatter_add_(1, trie.item_code[excluded, level].clamp(min=0), under.long())
    return (child >= 0) & (count >= trie.size[level + 1][child.clamp(min=0)])


def item_beam_search(step, trie: PrefixTrie, rows: int, beam: int, excluded: torch.Tensor | None = None,
                     reorder=None) -> Beams:
    """step(level, tokens_or_None) -> (rows*beam, K_level) logits for the current hypotheses;
    `reorder(index)` permutes the caller's decoder state (caches) by hypothesis index.
    `excluded` (rows, E) item ids that may not be produced (0 = padding)."""
    D = trie.depth
    device = trie.item.device
    scores = torch.zeros(rows, beam, device=device)
    scores[:, 1:] = NEG_INF  # all hypotheses start equal: keep one alive so the first step has no duplicates
    prefix = torch.zeros(rows * beam, dtype=torch.long, device=device)
    codes = torch.zeros(rows, beam, 0, dtype=torch.long, device=device)
    ex = None if excluded is None or excluded.shape[1] == 0 else dedupe(excluded).repeat_interleave(beam, 0)
    tokens = None
    base = (torch.arange(rows, device=device) * beam)[:, None]
    for d in range(D):
        logp = torch.log_softmax(step(d, tokens).float(), dim=-1)  # (rows*beam, K)
        K = logp.shape[1]
        if K != trie.allowed[d].shape[1]:
            raise ValueError(f"level {d}: the model scores {K} codes but the trie has {trie.allowed[d].shape[1]}; "
                             "build the trie with the model's vocab_sizes")
        ok = trie.allowed[d][prefix]  # (rows*beam, K)
        if ex is not None:
            ok = ok & ~exhausted(trie, d, prefix, ex)
        cand = (scores.reshape(-1, 1) + logp.masked_fill(~ok, NEG_INF)).view(rows, beam * K)
        top, idx = cand.topk(beam, dim=1)  # (rows, beam)
        parent, tok = idx // K, idx % K
        flat_parent = (base + parent).view(-1)
        if reorder is not None:
            reorder(flat_parent)
        codes = torch.cat([codes.gather(1, parent[..., None].expand(-1, -1, codes.shape[2])), tok[..., None]], 2)
        prefix = trie.child[d][prefix[flat_parent], tok.view(-1)].clamp(min=0)
        scores = top
        tokens = tok.view(-1)
    items = torch.where(torch.isfinite(scores), trie.item[prefix].view(rows, beam), torch.zeros_like(scores, dtype=torch.long))
    return Beams(codes, scores, items)
